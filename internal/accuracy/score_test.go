package accuracy

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const reportJSON = `{"flows":[
 {"id":1,"proto":"tcp","client":"198.18.0.1:40000","server":"198.18.0.2:5201",
  "client_to_server":{"payload_bytes":1000000},"server_to_client":{"payload_bytes":0},
  "diagnosis":{"verdict":"policer","direction":"client_to_server","rate_bps":10400000,"confidence":0.9,
   "summary":"policed at 10.4 Mbit/s","visibility":"both",
   "shared_limiter":{"id":1,"verdict":"policer","rate_bps":10400000,"flows":[1,3]}}},
 {"id":2,"proto":"tcp","client":"198.18.0.1:39999","server":"198.18.0.2:5201",
  "client_to_server":{"payload_bytes":300},"server_to_client":{"payload_bytes":4000},
  "diagnosis":{"verdict":"insufficient_data","confidence":1,"summary":"too little data:\tcontrol"}},
 {"id":3,"proto":"tcp","client":"198.18.0.1:40002","server":"198.18.0.2:5201",
  "client_to_server":{"payload_bytes":900000},"server_to_client":{"payload_bytes":0},
  "diagnosis":{"verdict":"policer","rate_bps":12000000,"confidence":0.7,"summary":"policed"}},
 {"id":4,"proto":"udp","client":"198.18.0.1:5353","server":"198.18.0.2:53"}
]}`

func TestParseReportAndRoundTrip(t *testing.T) {
	frs, err := ParseReport(strings.NewReader(reportJSON), "r", "srv", ViewBoth)
	if err != nil {
		t.Fatal(err)
	}
	if len(frs) != 3 {
		t.Fatalf("%d TCP flows, want 3", len(frs))
	}
	if f := frs[0]; f.SharedFlows != "1,3" || f.SharedID != "1" || f.Visibility != "both" || f.RateBps != 10.4e6 {
		t.Errorf("flow 1: %+v", f)
	}
	var b bytes.Buffer
	if err := WriteResults(&b, frs); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(&b)
	if err != nil {
		t.Fatal(err)
	}
	frs[1].Summary = clean(frs[1].Summary) // tabs do not survive TSV
	if diff := cmp.Diff(back, frs); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}
	if _, err := ReadResults(strings.NewReader("run\tx\n")); err == nil {
		t.Error("bad header accepted")
	}
	if _, err := ParseReport(strings.NewReader("{"), "r", "srv", ViewBoth); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestScore(t *testing.T) {
	rt := &RunTruth{Spec: Spec{Name: "r", Kind: KindPolicer, Streams: 3, Direction: "up"}, Want: VPolicer, RateBps: 10e6, Shared: true,
		Conns: []Conn{{"198.18.0.1:40000", "198.18.0.2:5201", "cli"}, {"198.18.0.1:40002", "198.18.0.2:5201", "cli"}, {"198.18.0.1:40004", "198.18.0.2:5201", "cli"}}}
	excl := &RunTruth{Spec: Spec{Name: "x"}, Excluded: "never dropped"}
	both, _ := ParseReport(strings.NewReader(reportJSON), "r", "srv", ViewBoth)
	ing, _ := ParseReport(strings.NewReader(reportJSON), "r", "mon", ViewIngress)
	ing[0].Verdict = VInsufficientData
	res := append(append(both, ing...), FlowResult{Run: "x", Point: "srv", View: ViewBoth, Verdict: VShaper})
	evs := Score("tune", []*RunTruth{rt, excl}, res)
	type row struct {
		Capture, Client, Want, Got, Vis string
		Data, Right, Missing            bool
		Err                             float64
	}
	var got []row
	for _, e := range evs {
		got = append(got, row{e.Capture(), e.R.Client, e.Want, e.R.Verdict, e.Vis, e.Data, e.Right, e.Missing, math.Round(e.RateErr*1000) / 1000})
	}
	nan := math.NaN()
	want := []row{
		{"r.mon[ingress]", "198.18.0.1:39999", VInsufficientData, VInsufficientData, "", false, true, false, nan},
		{"r.mon[ingress]", "198.18.0.1:40000", VPolicer, VInsufficientData, VisDataOnly, true, false, false, nan},
		{"r.mon[ingress]", "198.18.0.1:40002", VPolicer, VPolicer, VisDataOnly, true, false, false, 0.2},
		{"r.mon[ingress]", "198.18.0.1:40004", VPolicer, "(missing)", VisDataOnly, true, false, true, nan},
		{"r.srv", "198.18.0.1:39999", VInsufficientData, VInsufficientData, "", false, true, false, nan},
		{"r.srv", "198.18.0.1:40000", VPolicer, VPolicer, VisBoth, true, true, false, 0.04},
		{"r.srv", "198.18.0.1:40002", VPolicer, VPolicer, VisBoth, true, false, false, 0.2},
		{"r.srv", "198.18.0.1:40004", VPolicer, "(missing)", VisBoth, true, false, true, nan},
	}
	if diff := cmp.Diff(got, want, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("Score (-got +want):\n%s", diff)
	}
	var tl Tally
	for i := range evs {
		if evs[i].Data {
			tl.Add(&evs[i])
		}
	}
	if tl != (Tally{N: 6, Right: 1, Insufficient: 1, Wrong: 4}) {
		t.Errorf("tally %+v", tl)
	}
	var md strings.Builder
	sd := &SetData{Name: "tune", Title: "Tune", Truths: []*RunTruth{rt, excl}, Evals: evs, Evaluated: true,
		Manifest: &Manifest{Set: "tune", Seed: 1, Count: 2}}
	if err := WriteReport(&md, ReportMeta{Command: "test"}, []*SetData{sd, {Name: "heldout", Title: "Held-out"}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| tune | both | 3 | 1 | 33.3% |", "| heldout | (not evaluated yet)", "r.srv | 198.18.0.1:40002 c2s | policer",
		"excluded | never dropped |", "| 0.5-0.8 | 1 | 0 | 0.0% |"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if t.Failed() {
		t.Log(md.String())
	}
}

// TestLoadSet reads a sweep folder as the report command does: manifest,
// truth, results; a set without a manifest is "not made yet".
func TestLoadSet(t *testing.T) {
	dir := t.TempDir()
	m := Manifest{Set: "tune", Seed: 1, Count: 2, Runs: []Spec{{Name: "r"}, {Name: "notmade"}}}
	if err := WriteJSON(dir+"/manifest-tune.json", m); err != nil {
		t.Fatal(err)
	}
	rt := &RunTruth{Spec: Spec{Name: "r", Kind: KindPolicer, Streams: 3, Direction: "up"}, Want: VPolicer, RateBps: 10e6, Shared: true,
		Conns: []Conn{{"198.18.0.1:40000", "198.18.0.2:5201", "cli"}, {"198.18.0.1:40002", "198.18.0.2:5201", "cli"}, {"198.18.0.1:40004", "198.18.0.2:5201", "cli"}}}
	if err := WriteJSON(dir+"/truth/r.json", rt); err != nil {
		t.Fatal(err)
	}
	frs, _ := ParseReport(strings.NewReader(reportJSON), "r", "srv", ViewBoth)
	if err := WriteResultsFile(dir+"/results/r.tsv", frs); err != nil {
		t.Fatal(err)
	}
	sd, err := LoadSet(dir, "tune", true)
	if err != nil {
		t.Fatal(err)
	}
	if !sd.Evaluated || len(sd.Truths) != 1 || len(sd.Evals) != 4 {
		t.Errorf("evaluated %v, %d truths, %d evals; want true, 1, 4", sd.Evaluated, len(sd.Truths), len(sd.Evals))
	}
	if sd, err := LoadSet(dir, "tune", false); err != nil || sd.Evaluated {
		t.Errorf("not asked to evaluate: evaluated %v, %v", sd.Evaluated, err)
	}
	if sd, err := LoadSet(dir, "heldout", true); err != nil || sd.Manifest != nil || sd.Evaluated {
		t.Errorf("no held-out manifest: %+v, %v", sd, err)
	}
	if err := os.WriteFile(dir+"/results/r.tsv", []byte("bad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSet(dir, "tune", true); err == nil {
		t.Error("corrupt results accepted")
	}
}
