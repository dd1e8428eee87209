package engine

import (
	"context"
	"os"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/capture"
)

// BenchmarkEngineFile measures the analysis of a capture file read from
// disk: full (decode, flows, TCP analysis, diagnosis), without diagnosis,
// and flows only (decode + flow tracking) (page cache warm after the first pass). Set
// MIRRORSCOPE_BENCH_PCAP to a large capture (docs/benchmarks.md); the
// default is a small lab capture so CI can run one pass.
func BenchmarkEngineFile(b *testing.B) {
	for _, m := range []struct {
		name string
		set  func(*Config)
	}{
		{"full", func(*Config) {}},
		{"no-diagnose", func(c *Config) { c.NoDiagnose = true }},
		{"flows-only", func(c *Config) { c.FlowsOnly = true }},
	} {
		b.Run(m.name, func(b *testing.B) {
			cfg := DefaultConfig()
			m.set(&cfg)
			benchFile(b, cfg)
		})
	}
}

func benchFile(b *testing.B, cfg Config) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	if path == "" {
		path = testdata + "/reorder/reorder.srv.pcap"
	}
	var frames uint64
	b.ReportAllocs()
	for b.Loop() {
		src, err := capture.OpenFiles([]string{path}, capture.Options{})
		if err != nil {
			b.Fatal(err)
		}
		e := New(cfg)
		if _, err := e.Run(context.Background(), src, 1); err != nil {
			b.Fatal(err)
		}
		e.Finish()
		src.Close()
		frames += e.Frames()
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
}
