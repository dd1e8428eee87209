// Package result is the analysis result model: what internal/engine (and
// the live listener) write, and what every renderer reads: the text and
// JSON writers in internal/report, the HTML page in report/htmlreport, the
// annotated pcapng, the fleet publisher. It has no behaviour; it imports
// only the decoder, flow and TCP-analysis types that its per-packet event
// (PacketEvent) carries, so renderers and producers depend on it and not on
// each other.
//
// The JSON tags are a contract with users' scripts (docs/json.md, schema in
// docs/schema): add fields, never rename them without bumping SchemaVersion.
package result
