// Command schemagen writes the JSON Schemas (draft 2020-12) of every JSON
// document mirrorscope emits to docs/schema, from the Go types that
// produce them, so that the published contract and the code cannot drift:
// TestSchemasUpToDate fails when a type changed and the schema was not
// regenerated (go run ./internal/result/schemagen, or go test
// ./internal/result/schemagen -update), and the schema then shows the
// change for review. Objects are strict: additionalProperties false,
// every field without omitempty required, and the fields with a fixed set
// of values carry an enum.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	awsx "github.com/mirrorscope/mirrorscope/internal/aws"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/fleet"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/mirror"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

const (
	draft  = "https://json-schema.org/draft/2020-12/schema"
	idBase = "https://github.com/mirrorscope/mirrorscope/blob/main/docs/schema/"
)

// doc is one published schema file.
type doc struct {
	file, title, desc string
	// root is the document's Go type; oneOf, when set, lists the
	// alternatives of a line-oriented document instead (one per "type").
	root  reflect.Type
	oneOf []reflect.Type
}

// The JSON lines of listen and the records of listen --kafka are the
// result types with a "type" field (and a header) in front; these local
// types have the same fields as the unexported ones in internal/listen
// (flowLine, findingLine, apiFlow); the summary line is listen.Summary. The validation tests run the real
// output against the schema, so a drift fails there.
type (
	listenFlowLine struct {
		Type    string `json:"type" schema:"const=flow"`
		Interim bool   `json:"interim,omitempty"`
		*result.Flow
	}
	listenFindingLine struct {
		Type string `json:"type" schema:"const=finding"`
		*result.Finding
	}
	apiFlow struct {
		Active bool `json:"active"`
		result.Flow
	}
	// awsDoctor is what aws doctor --format json writes (cmd/mirrorscope).
	awsDoctor struct {
		Checks []awsx.Check `json:"checks"`
		Failed int          `json:"failed"`
	}
)

func docs() []doc {
	return []doc{
		{file: "report.schema.json", title: "mirrorscope analyze --format json",
			desc: "The report of mirrorscope analyze (docs/json.md).", root: reflect.TypeFor[result.Report]()},
		{file: "listen-line.schema.json", title: "mirrorscope listen JSON lines",
			desc:  "One line of mirrorscope listen's output (--out): a flow, a finding or the final summary (docs/listen.md).",
			oneOf: []reflect.Type{reflect.TypeFor[listenFlowLine](), reflect.TypeFor[listenFindingLine](), reflect.TypeFor[listen.Summary]()}},
		{file: "listen-api-flows.schema.json", title: "mirrorscope listen GET /api/flows",
			desc: "The open and recently ended flows of the live target (docs/listen.md).", root: reflect.TypeFor[[]apiFlow]()},
		{file: "listen-api-findings.schema.json", title: "mirrorscope listen GET /api/findings",
			desc: "The recent findings of the live target (docs/listen.md).", root: reflect.TypeFor[[]result.Finding]()},
		{file: "listen-api-sessions.schema.json", title: "mirrorscope listen GET /api/sessions",
			desc: "The mirror sessions of the live target with their counters (docs/listen.md).", root: reflect.TypeFor[[]listen.SessionInfo]()},
		{file: "listen-api-summary.schema.json", title: "mirrorscope listen GET /api/summary",
			desc: "The receiving-side counters of the live target (docs/listen.md).", root: reflect.TypeFor[listen.ListenerStats]()},
		{file: "fleet-record.schema.json", title: "mirrorscope listen --kafka record",
			desc: "One Kafka record published by listen --kafka and read by mirrorscope fleet (docs/fleet.md).",
			oneOf: []reflect.Type{reflect.TypeFor[fleet.FlowRecord](), reflect.TypeFor[fleet.FindingRecord](),
				reflect.TypeFor[fleet.SeriesRecord](), reflect.TypeFor[fleet.SummaryRecord]()}},
		{file: "filter-test.schema.json", title: "mirrorscope filter test --format json",
			desc: "What AWS mirror-filter rules would mirror from a capture (docs/mirroring.md).", root: reflect.TypeFor[mirror.TestReport]()},
		{file: "aws-doctor.schema.json", title: "mirrorscope aws doctor --format json",
			desc: "The checks of a mirror setup (docs/aws.md).", root: reflect.TypeFor[awsDoctor]()},
		{file: "fleet-report.schema.json", title: "mirrorscope fleet report",
			desc: "The fleet view's report (mirrorscope fleet --format json and its HTTP API, docs/fleet.md).", root: reflect.TypeFor[fleet.Report]()},
	}
}

type fieldKey struct {
	t     reflect.Type
	field string
}

// concrete gives the type behind the fields declared any.
var concrete = map[fieldKey]reflect.Type{
	{reflect.TypeFor[result.Flow](), "TCP"}:       reflect.TypeFor[tcpseq.Stats](),
	{reflect.TypeFor[result.Flow](), "Diagnosis"}: reflect.TypeFor[diagnose.Diagnosis](),
}

func enum(v ...string) map[string]any { return map[string]any{"enum": v} }

// constraints narrow string fields to the values the code produces
// (docs/json.md lists them).
var constraints = map[fieldKey]map[string]any{
	{reflect.TypeFor[result.Finding](), "Severity"}:         enum("info", "warning", "critical"),
	{reflect.TypeFor[result.Flow](), "EndReason"}:           enum("closed", "idle", "evicted", "end_of_capture", ""), // "": still open (listen)
	{reflect.TypeFor[result.Flow](), "RolesFrom"}:           enum("handshake", "ports", "first_packet"),
	{reflect.TypeFor[result.Flow](), "Proto"}:               {"pattern": "^(tcp|udp|icmp|icmpv6|sctp|ip-[0-9]+)$"},
	{reflect.TypeFor[result.Report](), "SchemaVersion"}:     {"const": result.SchemaVersion},
	{reflect.TypeFor[fleet.Header](), "SchemaVersion"}:      {"const": fleet.SchemaVersion},
	{reflect.TypeFor[fleet.Header](), "Type"}:               enum(fleet.TypeFlow, fleet.TypeFinding, fleet.TypeSeries, fleet.TypeSummary),
	{reflect.TypeFor[listen.Summary](), "Type"}:             {"const": "summary"},
	{reflect.TypeFor[fleet.Report](), "SchemaVersion"}:      {"const": fleet.SchemaVersion},
	{reflect.TypeFor[diagnose.Diagnosis](), "Verdict"}:      enum(verdicts...),
	{reflect.TypeFor[diagnose.Diagnosis](), "Direction"}:    enum("client_to_server", "server_to_client"),
	{reflect.TypeFor[diagnose.Diagnosis](), "Visibility"}:   enum(diagnose.VisBoth, diagnose.VisDataOnly, diagnose.VisAcksOnly),
	{reflect.TypeFor[diagnose.Diagnosis](), "CapturePoint"}: enum("sender", "receiver", "unknown"),
	{reflect.TypeFor[awsx.Check](), "Status"}:               enum(awsx.StatusOK, awsx.StatusWarn, awsx.StatusFail),
	{reflect.TypeFor[diagnose.SharedLimiter](), "Verdict"}:  enum(diagnose.VerdictPolicer, diagnose.VerdictShaper, diagnose.VerdictCongestion),
}

var verdicts = []string{diagnose.VerdictPolicer, diagnose.VerdictShaper, diagnose.VerdictReceiverWindow,
	diagnose.VerdictApplication, diagnose.VerdictRandomLoss, diagnose.VerdictReordering, diagnose.VerdictCongestion,
	diagnose.VerdictUnconstrained, diagnose.VerdictInsufficientData}

// keyNames restricts the keys of map types.
func keyNames(t reflect.Type) []string {
	if t == reflect.TypeFor[tcpseq.FlagCounts]() {
		var names []string
		for i := 0; i < tcpseq.NumFlags; i++ {
			names = append(names, tcpseq.FlagByIndex(i).Name())
		}
		return names
	}
	return nil
}

type gen struct {
	defs  map[string]any
	names map[reflect.Type]string
}

// defName names a struct type in $defs: package.Type.
func defName(t reflect.Type) string {
	return filepath.Base(t.PkgPath()) + "." + t.Name()
}

func (g *gen) schema(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		s := map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
		if k := keyNames(t); k != nil {
			s["propertyNames"] = enum(k...)
		}
		return s
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" || t.PkgPath() == "main" {
			return g.object(t)
		}
		name := defName(t)
		if _, ok := g.names[t]; !ok {
			g.names[t] = name
			g.defs[name] = nil // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic(fmt.Sprintf("schemagen: no schema for %v", t))
}

// object is a struct's schema, with encoding/json's field rules:
// embedded structs without a tag are flattened, "-" is skipped,
// omitempty fields are optional.
func (g *gen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *gen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				g.fields(et, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		key := fieldKey{t, f.Name}
		var s map[string]any
		if c, ok := concrete[key]; ok {
			s = g.schema(c)
		} else {
			s = g.schema(ft)
		}
		if c, ok := constraints[key]; ok {
			s = merge(s, c)
		}
		if v, ok := strings.CutPrefix(f.Tag.Get("schema"), "const="); ok {
			s = merge(s, map[string]any{"const": v})
		}
		omit := strings.Contains(","+opts+",", ",omitempty,")
		if !omit {
			*required = append(*required, name)
			switch ft.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
				// encoding/json writes a nil one as null.
				s = map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
			}
		}
		props[name] = s
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// render returns the schema file of d.
func render(d doc) ([]byte, error) {
	g := &gen{defs: map[string]any{}, names: map[reflect.Type]string{}}
	s := map[string]any{
		"$schema":     draft,
		"$id":         idBase + d.file,
		"title":       d.title,
		"description": d.desc + " Generated from the Go types by internal/result/schemagen; do not edit.",
	}
	if d.root != nil {
		for k, v := range g.schema(d.root) {
			s[k] = v
		}
	} else {
		var alts []any
		for _, t := range d.oneOf {
			alts = append(alts, g.schema(t))
		}
		s["oneOf"] = alts
	}
	if len(g.defs) > 0 {
		s["$defs"] = g.defs
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Files returns every schema file by name.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, d := range docs() {
		b, err := render(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.file, err)
		}
		out[d.file] = b
	}
	return out, nil
}

func main() {
	dir := "docs/schema"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	files, err := Files()
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "schemagen:", err)
			os.Exit(1)
		}
	}
}
