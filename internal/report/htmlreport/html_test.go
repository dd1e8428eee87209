package htmlreport

import (
	"bytes"
	"encoding/json"
	"flag"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func writeReport(t testing.TB, paths ...string) []byte {
	t.Helper()
	rep, cd := analyze(t, CollectorConfig{}, paths...)
	var b bytes.Buffer
	if err := Write(&b, rep, cd, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var dataBlock = regexp.MustCompile(`(?s)<script type="application/json" id="ms-data">(.*?)</script>`)

// pageData parses the JSON block of a report page back.
func pageData(t testing.TB, page []byte) (cd ChartData, info map[string]chartInfo) {
	t.Helper()
	m := dataBlock.FindSubmatch(page)
	if m == nil {
		t.Fatal("no ms-data block in the page")
	}
	var v struct {
		Charts ChartData            `json:"charts"`
		Info   map[string]chartInfo `json:"info"`
	}
	if err := json.Unmarshal(m[1], &v); err != nil {
		t.Fatalf("ms-data block: %v", err)
	}
	return v.Charts, v.Info
}

// skeleton reduces a page to its structure: element ids and classes in
// order, and text of headings, so golden files do not churn with data.
var (
	idRe     = regexp.MustCompile(`<(h[1-3]|section|div|table|ul|pre|script)\b([^>]*)>`)
	attrRe   = regexp.MustCompile(`\b(id|class|type)="([^"]*)"`)
	extURLRe = regexp.MustCompile(`(?i)\b(src|href)\s*=\s*["']?\s*(https?:|//|ftp:|data:)`)
	importRe = regexp.MustCompile(`(?i)@import|url\(\s*["']?(https?:|//)`)
)

func skeleton(page []byte) string {
	// The findings come from the engine (not this package): they are
	// checked against the report in TestReportPolicer, not pinned here.
	if i, j := bytes.Index(page, []byte(`<h2 id="findings">`)), bytes.Index(page, []byte(`<h2 id="capture">`)); i >= 0 && j > i {
		page = append(append([]byte(nil), page[:i+len(`<h2 id="findings">`)]...), page[j:]...)
	}
	var b strings.Builder
	for _, m := range idRe.FindAllSubmatch(page, -1) {
		b.WriteString(string(m[1]))
		for _, a := range attrRe.FindAllSubmatch(m[2], -1) {
			b.WriteString(" " + string(a[1]) + "=" + string(a[2]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(got, string(want)); d != "" {
		t.Errorf("%s mismatch (-got +want):\n%s", name, d)
	}
}

func TestReportPolicer(t *testing.T) {
	rep, cd0 := analyze(t, CollectorConfig{}, testdata("policer", "policer.cli.pcap"))
	var pb bytes.Buffer
	if err := Write(&pb, rep, cd0, Options{}); err != nil {
		t.Fatal(err)
	}
	page := pb.Bytes()
	golden(t, "policer.cli.skeleton", skeleton(page))

	// findings first, each with its summary, in the report's order
	if n := bytes.Count(page, []byte(`<div class="finding sev-`)); n != len(rep.Findings) || n == 0 {
		t.Errorf("%d findings in the page, %d in the report", n, len(rep.Findings))
	}
	last := bytes.Index(page, []byte(`<h2 id="findings">`))
	for _, f := range rep.Findings {
		i := bytes.Index(page, []byte(template.HTMLEscapeString(f.Summary)))
		if i < last {
			t.Errorf("finding %q missing or out of order", f.Summary)
		}
		last = i
	}
	if last > bytes.Index(page, []byte(`<h2 id="capture">`)) {
		t.Error("findings are not first")
	}

	// self-contained: no external URL in src/href, no CSS imports
	if m := extURLRe.Find(page); m != nil {
		t.Errorf("page refers to an external resource: %q", m)
	}
	if m := importRe.Find(page); m != nil {
		t.Errorf("page imports external CSS: %q", m)
	}
	for _, want := range []string{
		"/*! https://github.com/leeoniya/uPlot (v1.6.32) */", // the embedded library
		"Copyright (c) 2022 Leon Sorokin",                    // its licence notice
		"Permission is hereby granted, free of charge",
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}

	cd, info := pageData(t, page)
	if cd.Version != ChartDataVersion || len(cd.Flows) != 2 || cd.TCPFlows != 2 {
		t.Fatalf("chart data: version %d, %d flows of %d", cd.Version, len(cd.Flows), cd.TCPFlows)
	}
	f := cd.Flows[0]
	// the iperf3 data stream: largest, client to server, ~3 s in 10 ms bins
	if f.DataDir != "client_to_server" || f.BinS != 0.01 || len(f.C2S) < 290 || len(f.C2S) > 320 {
		t.Errorf("flow %d: dir %s, bin %v s, %d bins", f.ID, f.DataDir, f.BinS, len(f.C2S))
	}
	// tshark flags 60 retransmissions in this capture, all of the data stream
	if n := len(f.Retx.T); n != 60 {
		t.Errorf("retransmissions charted: %d, want 60 (tshark -Y tcp.analysis.retransmission)", n)
	}
	var retx uint32
	for _, v := range f.Flags[0] {
		retx += v
	}
	if retx != 60 {
		t.Errorf("retransmissions in flag bins: %d, want 60", retx)
	}
	if len(f.Ack.T) == 0 || len(f.Flight.T) == 0 || len(f.RTTAck.T) == 0 {
		t.Errorf("empty series: ack %d flight %d rtt %d", len(f.Ack.T), len(f.Flight.T), len(f.RTTAck.T))
	}
	// sender-side capture: data->ACK is the path RTT (10 ms netem + a bit)
	for i, v := range f.RTTAck.Y {
		if v < 9 || v > 200 {
			t.Errorf("rtt_ack[%d] = %v ms, want 10..200 at the sender side", i, v)
			break
		}
	}
	// the ceiling: policed at 5 Mbit/s
	ci := info[jsonID(f.ID)]
	if ci.Verdict != "policer" || ci.RateBps < 4.5e6 || ci.RateBps > 5.5e6 || ci.RTTMinMS < 9 {
		t.Errorf("chart info of flow %d: %+v", f.ID, ci)
	}
	// what the sender pushes, averaged past the initial burst, is the
	// policed rate plus what gets dropped: 5 Mbit/s and ~10% more
	var sum float64
	var n int
	for _, v := range f.C2S[50 : len(f.C2S)-10] {
		sum += v
		n++
	}
	if m := sum / float64(n); m < 4.5e6 || m > 6.5e6 {
		t.Errorf("c2s mean after 0.5 s: %.2f Mbit/s, want 4.5..6.5", m/1e6)
	}
	if !bytes.Contains(page, []byte(`class="verdict v-policer"`)) {
		t.Error("the policer verdict is not in the page")
	}
}

func jsonID(id uint64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

func TestWriteEscapes(t *testing.T) {
	rep, cd := analyze(t, CollectorConfig{}, testdata("policer", "policer.cli.pcap"))
	evil := `</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	rep.Findings = append(rep.Findings, result.Finding{Severity: "warning", Kind: "x", Summary: evil, Evidence: []string{evil}})
	rep.Inputs[0].File = evil
	rep.Flows[0].Client = evil
	var b bytes.Buffer
	if err := Write(&b, rep, cd, Options{Title: evil}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("<script>alert")) || bytes.Contains(b.Bytes(), []byte("<img src=x")) {
		t.Error("a report string reached the page unescaped")
	}
	if n := bytes.Count(b.Bytes(), []byte("&lt;/script&gt;&lt;script&gt;alert(1)")); n < 4 {
		t.Errorf("escaped string found %d times, want >= 4", n)
	}
}

// TestReportSharedAndOneWay: the page names a shared limiter with links
// to its member flows, and a one-direction view with what it could not
// measure (issue 11).
func TestReportSharedAndOneWay(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []string
	}{
		{testdata("classes", "c2_policer_shared.srv.pcap.gz"), []string{
			`<p class="shared">shared limiter 1: policer at`, `<a href="#flow-1">#1</a>`, `<a href="#flow-4">#4</a>`, "Visibility: both."}},
	} {
		rep, cd := analyze(t, CollectorConfig{}, tc.path)
		var pb bytes.Buffer
		if err := Write(&pb, rep, cd, Options{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !bytes.Contains(pb.Bytes(), []byte(w)) {
				t.Errorf("%s: page lacks %q", tc.path, w)
			}
		}
	}
}
