package report_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

const root = "../.."

// walk calls fn for every file under the module root whose name matches
// one of the suffixes, skipping .git and fuzz corpora.
func walk(t *testing.T, fn func(path string), suffixes ...string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "fuzz" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		for _, s := range suffixes {
			if strings.HasSuffix(p, s) {
				fn(p)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAnalyzeOutputFollowsSchema runs the analysis over every capture in
// the repository (lab captures, parity corpus, encapsulations, broken
// files) and validates the JSON report, as analyze --format json writes
// it, against docs/schema/report.schema.json.
func TestAnalyzeOutputFollowsSchema(t *testing.T) {
	var paths []string
	walk(t, func(p string) { paths = append(paths, p) }, ".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz")
	if len(paths) < 50 {
		t.Fatalf("found only %d captures under %s", len(paths), root)
	}
	var tcpFlows int
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		t.Run(rel, func(t *testing.T) {
			rep, err := engine.AnalyzeFiles(engine.DefaultConfig(), p)
			if rep == nil {
				t.Skipf("not analysed: %v", err)
			}
			var buf bytes.Buffer
			if err := report.WriteJSON(&buf, rep); err != nil {
				t.Fatal(err)
			}
			schematest.Validate(t, "report", rel, buf.Bytes())
			for _, f := range rep.Flows {
				if f.TCP != nil {
					tcpFlows++
				}
			}
		})
	}
	if tcpFlows == 0 {
		t.Error("no TCP flow in any capture: the tcp object was never validated")
	}
}

// TestJSONGoldensFollowSchema validates every JSON golden file in the
// repository that is one of mirrorscope's documents (it has a
// schema_version) against its schema.
func TestJSONGoldensFollowSchema(t *testing.T) {
	n := 0
	walk(t, func(p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(b, &top) != nil || top["schema_version"] == nil {
			return // not one of ours (lab oracles, truth files, inputs)
		}
		name := "report"
		if top["flows"] == nil {
			name = "fleet-report"
		}
		n++
		schematest.Validate(t, name, p, b)
	}, ".json", ".golden")
	if n == 0 {
		t.Error("no JSON golden found")
	}
}

// TestTCPAnalysisKey: the per-flow Wireshark expert counts are under
// tcp.analysis (and a/b.analysis), not tcp.flags, which is Wireshark's
// name of the header flags (schema 2).
func TestTCPAnalysisKey(t *testing.T) {
	rep, err := engine.AnalyzeFiles(engine.DefaultConfig(), root+"/testdata/policer/policer.mon.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if rep.SchemaVersion != 2 {
		t.Errorf("schema_version %d, want 2", rep.SchemaVersion)
	}
	b, _ := json.Marshal(rep)
	var got struct {
		Flows []struct {
			TCP map[string]json.RawMessage `json:"tcp"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var an struct {
		Analysis map[string]uint64 `json:"analysis"`
		A        struct {
			Analysis map[string]uint64 `json:"analysis"`
		} `json:"a"`
	}
	tcp := got.Flows[0].TCP
	if _, ok := tcp["flags"]; ok {
		t.Error(`flows[0].tcp has "flags"`)
	}
	b, _ = json.Marshal(tcp)
	if err := json.Unmarshal(b, &an); err != nil {
		t.Fatal(err)
	}
	if an.Analysis["retransmission"] == 0 || an.A.Analysis["retransmission"] == 0 {
		t.Errorf("policed flow without retransmissions under tcp.analysis / tcp.a.analysis: %s", b)
	}
}

// TestCaptureBytesInnerFrames: capture.bytes counts the inner frames as
// the mirrored interface saw them, as the listener does, so that a mirror
// capture gives the sum of its sessions' bytes and of its flows' bytes.
func TestCaptureBytesInnerFrames(t *testing.T) {
	rep, err := engine.AnalyzeFiles(engine.DefaultConfig(), root+"/testdata/policer/policer.mon.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var sess, flows uint64
	for _, s := range rep.Capture.Sessions {
		sess += s.Bytes
	}
	for _, f := range rep.Flows {
		flows += f.Bytes
	}
	if rep.Capture.DecodeErrors != 0 || rep.Capture.FlowCounts.Unlisted != 0 {
		t.Fatalf("capture not clean: %+v", rep.Capture)
	}
	if rep.Capture.Bytes != sess || rep.Capture.Bytes != flows {
		t.Errorf("capture.bytes %d, sessions %d, flows %d: want all equal", rep.Capture.Bytes, sess, flows)
	}
}

// TestSchemaIsStrict: the schema rejects what it must (a renamed, an
// unknown or a missing field, a wrong type, a bad enum value), so the
// validation above means something.
func TestSchemaIsStrict(t *testing.T) {
	rep, err := engine.AnalyzeFiles(engine.DefaultConfig(), root+"/testdata/policer/policer.mon.pcap")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	if err := schematest.Check("report", b); err != nil {
		t.Fatalf("the real report fails: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"tcp.flags (schema 1)", func(m map[string]any) {
			tcp := flow0(m)["tcp"].(map[string]any)
			tcp["flags"] = tcp["analysis"]
			delete(tcp, "analysis")
		}},
		{"unknown top-level field", func(m map[string]any) { m["extra"] = 1 }},
		{"unknown capture field", func(m map[string]any) { m["capture"].(map[string]any)["outer_bytes"] = 1 }},
		{"missing inputs", func(m map[string]any) { delete(m, "inputs") }},
		{"schema_version 1", func(m map[string]any) { m["schema_version"] = 1 }},
		{"negative packets", func(m map[string]any) { m["capture"].(map[string]any)["packets"] = -1 }},
		{"string bytes", func(m map[string]any) { flow0(m)["bytes"] = "12" }},
		{"unknown verdict", func(m map[string]any) {
			flow0(m)["diagnosis"].(map[string]any)["verdict"] = "gremlins"
		}},
		{"unknown analysis flag", func(m map[string]any) {
			flow0(m)["tcp"].(map[string]any)["analysis"].(map[string]any)["syn"] = 1
		}},
		{"tcpseq_flags (removed)", func(m map[string]any) {
			dm := flow0(m)["diagnosis"].(map[string]any)["measurements"].(map[string]any)
			dm["client_to_server"].(map[string]any)["tcpseq_flags"] = map[string]any{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			bad, _ := json.Marshal(m)
			if err := schematest.Check("report", bad); err == nil {
				t.Error("the schema accepts it")
			}
		})
	}
}

func flow0(m map[string]any) map[string]any {
	return m["flows"].([]any)[0].(map[string]any)
}
