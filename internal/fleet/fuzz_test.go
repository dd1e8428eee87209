package fleet

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// FuzzApply: any record value is decoded or counted as undecodable,
// never a panic, and the report still builds.
func FuzzApply(f *testing.F) {
	s := Source{Key: "i-1", KeyKind: "instance", OuterSrc: "10.0.0.1", ENI: "eni-1", Instance: "i-1"}
	for _, v := range []any{
		&FlowRecord{Header: Header{SchemaVersion: SchemaVersion, Type: TypeFlow, Target: "a", Source: &s}, Flow: &result.Flow{Proto: "tcp", Diagnosis: map[string]any{"verdict": "policer", "rate_bps": 1e6}}},
		&SeriesRecord{Header: Header{SchemaVersion: SchemaVersion, Type: TypeSeries, Target: "a", Source: &s}, UnixMS: 1000, Bytes: 10},
		&FindingRecord{Header: Header{SchemaVersion: SchemaVersion, Type: TypeFinding, Target: "a"}, Finding: &result.Finding{Kind: "x"}},
		&SummaryRecord{Header: Header{SchemaVersion: SchemaVersion, Type: TypeSummary, Target: "a"}},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte(`{"schema_version":2,"type":"flow","diagnosis":"x","source":null}`))
	f.Add([]byte(`{"schema_version":2,"type":"series","unix_ms":-9223372036854775808}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v := NewView(DefaultViewConfig())
		v.Apply("t", 0, 0, b)
		v.Apply("t", 0, 1, b)
		var sb strings.Builder
		if err := v.Report().WriteText(&sb); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseSources: a sources file parses or is an error, never a panic.
func FuzzParseSources(f *testing.F) {
	f.Add("10.0.0.1 eni-1 i-1\n# c\n::1 eni-2\n")
	f.Add("bad\n")
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParseSources(strings.NewReader(s))
		if err == nil {
			_ = src.Source("10.0.0.1", 1)
		}
	})
}
