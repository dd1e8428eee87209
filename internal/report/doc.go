// Package report turns an analysis Report into what people and programs
// read: a terminal text report and JSON (schema in docs/json.md). The
// result.Report model is built by internal/engine; writers here never change it.
package report
