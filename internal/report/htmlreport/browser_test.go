package htmlreport

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

var screenshotOut = flag.String("screenshot", "", "also copy the policer report screenshot to this file (docs/screenshot-policer.png)")

func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium in PATH (Debian: apt-get install chromium)")
	return ""
}

// headless runs chromium on url once to dump the DOM after the page
// settled, and once to take a screenshot. It returns the DOM and
// chromium's stderr (console messages).
func headless(t *testing.T, bin, url, png string, height, budgetMS int) (dom, console string) {
	t.Helper()
	run := func(extra ...string) ([]byte, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
			"--window-size=1280," + strconv.Itoa(height), "--virtual-time-budget=" + strconv.Itoa(budgetMS)}
		args = append(args, extra...)
		args = append(args, url)
		cmd := exec.CommandContext(ctx, bin, args...)
		// no D-Bus here: without this chromium waits seconds for it
		cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=disabled:")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
		}
		return out.Bytes(), errb.String()
	}
	// (two chromium instances at once stall each other: run in turn)
	d, c1 := run("--dump-dom")
	_, c2 := run("--screenshot=" + png)
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", png)
	return string(d), c1 + c2
}

var statusRe = regexp.MustCompile(`<div id="ms-status" data-errors="(\d+)" data-canvases="(\d+)" data-drawn="(\d+)">([^<]*)<`)

// consoleErrRe matches page errors in chromium's log: its
// CONSOLE lines and uncaught exceptions.
var consoleErrRe = regexp.MustCompile(`(?i)(Uncaught|CONSOLE\(\d+\).*(error|failed))`)

func checkPage(t *testing.T, dom, console string, minCharts int) {
	t.Helper()
	m := statusRe.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("status element not updated by the page script: %.400s", dom[strings.Index(dom, `id="ms-status"`)-10:])
	}
	errs, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	drawn, _ := strconv.Atoi(m[3])
	t.Logf("status: %s", m[4])
	if errs != 0 {
		t.Errorf("page errors: %s", m[4])
	}
	if total < minCharts || drawn != total {
		t.Errorf("%d of %d canvases drawn, want all and at least %d", drawn, total, minCharts)
	}
	if l := consoleErrRe.FindString(console); l != "" {
		t.Errorf("console error: %s", l)
	}
}

func TestBrowserReport(t *testing.T) {
	bin := chromium(t)
	page := writeReport(t, testdata("policer", "policer.cli.pcap"))
	dir := t.ArtifactDir()
	html := filepath.Join(dir, "policer.cli.html")
	if err := os.WriteFile(html, page, 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "policer.cli.png")
	dom, console := headless(t, bin, "file://"+html, png, 2600, 1500)
	// the policer flow: throughput, RTT, flight, Stevens, flags; the tiny
	// control flow: four charts (no flags)
	checkPage(t, dom, console, 9)
	if *screenshotOut != "" {
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshotOut, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserLive serves the live page with endpoints answering from a
// real analysis of the mirror capture (the schema the listener serves)
// and the series of a LiveCollector fed by the same engine run.
func TestBrowserLive(t *testing.T) {
	bin := chromium(t)
	lc := NewLiveCollector(CollectorConfig{}, 1)
	cfg := engine.DefaultConfig()
	cfg.OnPacket = lc.OnPacket(0)
	rep := runEngine(t, cfg, testdata("policer", "policer.mon.pcap"))
	var tcpID uint64
	for _, f := range rep.Flows {
		if f.Proto == "tcp" {
			tcpID = f.ID
			break
		}
	}
	mux := http.NewServeMux()
	serveJSON := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		}
	}
	mux.Handle("GET /api/sessions", serveJSON(rep.Capture.Sessions))
	mux.Handle("GET /api/flows", serveJSON(rep.Flows))
	mux.Handle("GET /api/findings", serveJSON(rep.Findings))
	mux.Handle("GET /api/flows/{id}/series", SeriesHandler(lc))
	mux.Handle("/", LiveHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	png := filepath.Join(t.ArtifactDir(), "live.png")
	dom, console := headless(t, bin, srv.URL+"/?flow="+strconv.FormatUint(tcpID, 10), png, 1800, 3000)
	checkPage(t, dom, console, 5)
	for _, want := range []string{"198.19.0.2", "4242", "policer"} {
		if !strings.Contains(dom, want) {
			t.Errorf("live page lacks %q", want)
		}
	}
	// One unit system: the live page prints bytes and rates as the text
	// report does (SI, same digits); it printed MiB and KiB before.
	for _, f := range rep.Flows {
		for _, want := range []string{report.Bytes(f.Bytes), report.Rate(f.ThroughputBPS)} {
			if !strings.Contains(dom, ">"+want+"<") {
				t.Errorf("flow %d: the live page does not show %q as the text report does", f.ID, want)
			}
		}
	}
	for _, s := range rep.Capture.Sessions {
		if want := report.Bytes(s.Bytes); !strings.Contains(dom, ">"+want+"<") {
			t.Errorf("session %s/%d: the live page does not show %q", s.OuterSrc, s.VNI, want)
		}
	}
	if m := regexp.MustCompile(`\d (KiB|MiB|GiB)\b`).FindString(dom); m != "" {
		t.Errorf("binary units on the live page: %q", m)
	}
}

func runEngine(t testing.TB, cfg engine.Config, paths ...string) *result.Report {
	t.Helper()
	eng := engine.New(cfg)
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var fr capture.Frame
	for src.Next(&fr) == nil {
		eng.Packet(fr.Data, fr.TS, fr.OrigLen, fr.Link)
	}
	return eng.Finish()
}
