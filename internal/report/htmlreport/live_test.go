package htmlreport

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/engine"
)

// TestLiveCollectorConcurrent runs two shard engines on their own
// goroutines while Series is called, as the listener does (run with
// -race), and checks the global flow ids.
func TestLiveCollectorConcurrent(t *testing.T) {
	lc := NewLiveCollector(CollectorConfig{}, 2)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	files := []string{testdata("policer", "policer.cli.pcap"), testdata("shaper", "shaper.cli.pcap")}
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := engine.DefaultConfig()
			cfg.OnPacket = lc.OnPacket(i)
			runEngine(t, cfg, f)
		}()
	}
	var pw sync.WaitGroup
	pw.Add(1)
	go func() {
		defer pw.Done()
		for {
			select {
			case <-stop:
				return
			default:
				lc.Series(2) // shard 0, local flow 1
			}
		}
	}()
	wg.Wait()
	close(stop)
	pw.Wait()
	// global id = local*2 + shard: the iperf3 streams are local flow 1
	for shard, want := range []uint64{2, 3} {
		b, err := lc.Series(want)
		if err != nil {
			t.Fatalf("shard %d: %v", shard, err)
		}
		var v struct {
			FlagNames []string   `json:"flag_names"`
			Flow      FlowSeries `json:"flow"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if v.Flow.ID != want || len(v.Flow.Seg.T) < 500 || len(v.FlagNames) != numFK {
			t.Errorf("flow %d: id %d, %d segments, %d flag names", want, v.Flow.ID, len(v.Flow.Seg.T), len(v.FlagNames))
		}
	}
	if _, err := lc.Series(99); err != ErrNoSeries {
		t.Errorf("unknown flow: %v", err)
	}
}

func TestLiveHandlers(t *testing.T) {
	lc := NewLiveCollector(CollectorConfig{}, 1)
	cfg := engine.DefaultConfig()
	cfg.OnPacket = lc.OnPacket(0)
	runEngine(t, cfg, testdata("policer", "policer.cli.pcap"))
	mux := http.NewServeMux()
	mux.Handle("GET /api/flows/{id}/series", SeriesHandler(lc))
	mux.Handle("/", LiveHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		code         int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `data-mode="live"`},
		{"POST", "/", 405, "", ""},
		{"GET", "/api/flows/1/series", 200, "application/json", `"rtt_echo"`},
		{"GET", "/api/flows/7/series", 404, "", "no chart series"},
		{"GET", "/api/flows/x/series", 400, "", "bad flow id"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %q, body %.100q", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	// the live page is self-contained too
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := extURLRe.Find(b); m != nil {
		t.Errorf("live page refers to %q", m)
	}
	if !strings.Contains(string(b), "Copyright (c) 2022 Leon Sorokin") || !strings.Contains(string(b), "uPlot (v1.6.32)") {
		t.Error("live page lacks uPlot or its licence")
	}
}
