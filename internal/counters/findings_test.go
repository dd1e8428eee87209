package counters

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	reportsMu sync.Mutex
	reports   = map[string]*result.Report{}
)

// analyze runs the engine over a real lab capture (cached per test run).
func analyze(t *testing.T, rel string) *result.Report {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("capture %s not present: %v", rel, err)
	}
	reportsMu.Lock()
	defer reportsMu.Unlock()
	if r, ok := reports[rel]; ok {
		return r
	}
	r, err := engine.AnalyzeFiles(engine.DefaultConfig(), path)
	if err != nil {
		t.Fatal(err)
	}
	reports[rel] = r
	return r
}

func load(t *testing.T, files ...string) []*Set {
	t.Helper()
	var out []*Set
	for _, f := range files {
		s, err := Load(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// synthetic builds a report whose window matches the ENA test files
// (08:38:22.572 to 08:38:25.665, as policer.cli.pcap) with the given
// flows.
func synthetic(flows ...result.Flow) *result.Report {
	return &result.Report{
		Capture: result.Capture{
			First: "2026-11-27T08:38:22.572394682Z", Last: "2026-11-27T08:38:25.664893312Z",
			Bytes:    2111236,
			Sessions: []result.Session{{OuterSrc: "198.19.0.2", VNI: 4242, Bytes: 1926528}},
		},
		Flows: flows,
	}
}

func gapFlow(id uint64, gaps uint64) result.Flow {
	d := &diagnose.Diagnosis{Verdict: diagnose.VerdictRandomLoss}
	d.Measurements.ServerToClient.CaptureGaps = gaps
	return result.Flow{ID: id, Proto: "tcp", Client: "198.18.0.1:40000", Server: "198.18.0.2:5201",
		Session: &result.SessionRef{OuterSrc: "198.19.0.2", VNI: 4242}, Diagnosis: d}
}

func slowFlow(id uint64, setupMS float64) result.Flow {
	d := &diagnose.Diagnosis{Verdict: diagnose.VerdictInsufficientData}
	d.Measurements.SetupMS = setupMS
	return result.Flow{ID: id, Proto: "tcp", Client: "198.18.0.1:40002", Server: "198.18.0.2:443", Diagnosis: d}
}

// brief is what the tests assert of a finding.
type brief struct {
	Kind, Severity string
	Flows          []uint64
}

func briefs(fs []result.Finding) []brief {
	var out []brief
	for _, f := range fs {
		out = append(out, brief{f.Kind, f.Severity, f.Flows})
	}
	return out
}

func TestFindings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		capture string        // real capture, or "" for the synthetic report
		flows   []result.Flow // synthetic flows
		files   []string
		want    []brief
		// text that must appear in the finding of each kind (summary or evidence)
		says map[string][]string
	}{
		{
			name: "policer+bw_out", capture: "policer/policer.cli.pcap", files: []string{"ena-bw-out.txt"},
			want: []brief{{KindENABandwidth, "warning", []uint64{1}}},
			says: map[string][]string{KindENABandwidth: {"flow #1 policed at ", "while bw_out_allowance_exceeded rose by 1,234", "the instance allowance is the likely limiter"}},
		},
		{
			name: "policer+flat", capture: "policer/policer.cli.pcap", files: []string{"ena-flat.txt"},
			want: []brief{{KindENABandwidth, "info", []uint64{1}}},
			says: map[string][]string{KindENABandwidth: {"stayed flat", "the limiter is elsewhere on the path"}},
		},
		{
			name: "driver reset", capture: "policer/policer.cli.pcap", files: []string{"ena-reset.txt"},
			want: []brief{{KindENABandwidth, "warning", []uint64{1}}},
			says: map[string][]string{KindENABandwidth: {"rose by 180", "a driver reset", "lower bound"}},
		},
		{
			name: "outside window", capture: "policer/policer.cli.pcap", files: []string{"ena-outside.txt"},
			want: []brief{{KindNote, "info", nil}},
			says: map[string][]string{KindNote: {"ena-outside.txt covers 2026-11-27T07:38:20.000Z to 07:38:22.000Z", "no counters overlap it"}},
		},
		{
			name: "single snapshot", capture: "policer/policer.cli.pcap", files: []string{"veth-single.txt"},
			want: []brief{{KindNote, "info", nil}},
			says: map[string][]string{KindNote: {"holds a single snapshot", "modification time"}},
		},
		{
			name: "statistics, 300 s periods", capture: "policer/policer.cli.pcap", files: []string{"cw-stats.json"},
			want: []brief{{KindCoverage, "info", nil}},
			says: map[string][]string{KindCoverage: {"2.11 MB of traffic, more than NetworkIn+NetworkOut", "spans only 1.0% of the 300 s CloudWatch periods"}},
		},
		{
			name: "cloudwatch agent", capture: "policer/policer.cli.pcap", files: []string{"cw-agent-data.json"},
			want: []brief{{KindENABandwidth, "warning", []uint64{1}}, {KindNote, "info", nil}},
			says: map[string][]string{KindENABandwidth: {"rose by 1,234", "CloudWatch (CWAgent ethtool_)"}, KindNote: {"PartialData"}},
		},
		{
			name: "mirror skip, coverage", capture: "policer/policer.mon.pcap", files: []string{"cw-ec2-data.json"},
			want: []brief{{KindMirrorSkip, "warning", nil}, {KindCoverage, "info", nil}, {KindCoverage, "info", nil}},
			says: map[string][]string{
				KindMirrorSkip: {"AWS skipped mirroring 1.84 MB", "production traffic had priority", "the periods are coarse"},
				KindCoverage:   {"NetworkMirrorIn+NetworkMirrorOut of the same window is about 1.93 MB: about 100%", "a rough estimate"},
			},
		},
		{
			name: "skip ties gaps", flows: []result.Flow{gapFlow(3, 12)}, files: []string{"cw-ec2-data.json"},
			want: []brief{{KindMirrorSkip, "warning", []uint64{3}}, {KindCoverage, "info", nil}, {KindCoverage, "info", nil}},
			says: map[string][]string{KindMirrorSkip: {"the 12 capture gaps of flow #3 are mirror loss, not network loss"}},
		},
		{
			name: "no skip but gaps: target side", flows: []result.Flow{gapFlow(3, 12)}, files: []string{"cw-skip-zero.json", "ena-pps-conntrack-linklocal.txt"},
			want: []brief{{KindENAPPS, "warning", nil}, {KindENAConntrack, "warning", nil}, {KindENALinklocal, "warning", nil}, {KindMirrorSkip, "warning", []uint64{3}}, {KindCoverage, "info", nil}, {KindCoverage, "info", nil}},
			says: map[string][]string{
				KindMirrorSkip:   {"yet flow #3 has 12 capture gaps", "look at the target side", "pps_allowance_exceeded rose by 32: if this is the target"},
				KindENAPPS:       {"pps_allowance_exceeded rose by 32"},
				KindENALinklocal: {"rose by 8", "never mirrored"},
			},
		},
		{
			name: "no skip, no gaps", flows: []result.Flow{gapFlow(3, 0)}, files: []string{"cw-skip-zero.json"},
			want: []brief{{KindMirrorSkip, "info", nil}, {KindCoverage, "info", nil}, {KindCoverage, "info", nil}},
			says: map[string][]string{KindMirrorSkip: {"skipped no mirrored traffic"}},
		},
		{
			name: "conntrack ties slow setup", flows: []result.Flow{slowFlow(5, 1012), slowFlow(6, 2)}, files: []string{"ena-pps-conntrack-linklocal.txt"},
			want: []brief{{KindENAPPS, "warning", nil}, {KindENAConntrack, "warning", []uint64{5}}, {KindENALinklocal, "warning", nil}},
			says: map[string][]string{KindENAConntrack: {"flow #5 took 900 ms or more to set up", "rose by 12", "between 0 and 5 connections"}},
		},
		{
			name: "conntrack flat, slow setup", flows: []result.Flow{slowFlow(5, 3050)}, files: []string{"ena-flat.txt"},
			want: []brief{{KindENAConntrack, "info", []uint64{5}}},
			says: map[string][]string{KindENAConntrack: {"stayed flat"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep *result.Report
			if tc.capture != "" {
				rep = analyze(t, tc.capture)
			} else {
				rep = synthetic(tc.flows...)
			}
			got := Findings(rep, load(t, tc.files...))
			if d := cmp.Diff(briefs(got), tc.want); d != "" {
				t.Fatalf("(-got +want)\n%s\n%s", d, dump(got))
			}
			for kind, texts := range tc.says {
				var all string
				for _, f := range got {
					if f.Kind == kind {
						all += f.Summary + "\n" + strings.Join(f.Evidence, "\n") + "\n"
					}
				}
				for _, w := range texts {
					if !strings.Contains(all, w) {
						t.Errorf("%s lacks %q:\n%s", kind, w, all)
					}
				}
			}
		})
	}
}

func dump(fs []result.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Severity + " " + f.Kind + ": " + f.Summary + "\n")
		for _, e := range f.Evidence {
			b.WriteString("    " + e + "\n")
		}
	}
	return b.String()
}

func TestFindingsNoWindow(t *testing.T) {
	got := Findings(&result.Report{}, load(t, "ena-bw-out.txt"))
	if d := cmp.Diff(briefs(got), []brief{{KindNote, "info", nil}}); d != "" {
		t.Errorf("(-got +want)\n%s", d)
	}
	if Findings(synthetic(), nil) != nil {
		t.Error("findings without counter sets")
	}
}

// TestFindingsGolden keeps the full wording of the main scenarios reviewable.
func TestFindingsGolden(t *testing.T) {
	rep := analyze(t, "policer/policer.mon.pcap")
	got := dump(Findings(rep, load(t, "ena-bw-out.txt", "cw-ec2-data.json", "cw-agent-data.json", "ena-outside.txt")))
	golden := filepath.Join("testdata", "policer.mon.findings.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if d := cmp.Diff(got, string(want)); d != "" {
		t.Errorf("(-got +want)\n%s", d)
	}
}
