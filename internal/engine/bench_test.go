package engine

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
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

// BenchmarkEngineMemory analyses frames held in memory on one goroutine:
// the engine's own cost per packet without the reading, its syscalls and
// the read-ahead goroutine, which make BenchmarkEngineFile vary on a
// shared 2-core machine. With MIRRORSCOPE_BENCH_PCAP it takes the first
// million frames of that capture (the steady state of a bulk transfer),
// else a small lab capture.
func BenchmarkEngineMemory(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	if path == "" {
		path = testdata + "/reorder/reorder.srv.pcap"
	}
	type frame struct {
		off, n  int
		ts      int64
		origLen uint32
		link    decode.LinkType
	}
	src, err := capture.OpenFiles([]string{path}, capture.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	var frames []frame
	var f capture.Frame
	for len(frames) < 1_000_000 && src.Next(&f) == nil {
		frames = append(frames, frame{off: len(buf), n: len(f.Data), ts: f.TS, origLen: f.OrigLen, link: f.Link})
		buf = append(buf, f.Data...)
	}
	src.Close()
	for _, m := range []struct {
		name string
		set  func(*Config)
	}{
		{"full", func(*Config) {}},
		{"no-diagnose", func(c *Config) { c.NoDiagnose = true }},
	} {
		b.Run(m.name, func(b *testing.B) {
			cfg := DefaultConfig()
			m.set(&cfg)
			b.ReportAllocs()
			for b.Loop() {
				e := New(cfg)
				for _, fr := range frames {
					e.Packet(buf[fr.off:fr.off+fr.n], fr.ts, fr.origLen, fr.link)
				}
				e.Finish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(frames)), "ns/pkt")
		})
	}
}

// BenchmarkParallelFile is BenchmarkEngineFile's full analysis on 1 (one
// Engine), 2 and 4 workers (Parallel).
func BenchmarkParallelFile(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
			if path == "" {
				path = testdata + "/classes/c2_policer_shared.srv.pcap.gz"
			}
			var frames uint64
			b.ReportAllocs()
			// Opened as analyze opens them: read ahead for one engine;
			// for workers read by the reader into the blocks.
			opt := capture.Options{}
			if n > 1 {
				opt = capture.Options{NoReadahead: true, BufferSize: ParallelBufferSize}
			}
			for b.Loop() {
				src, err := capture.OpenFiles([]string{path}, opt)
				if err != nil {
					b.Fatal(err)
				}
				if n == 1 {
					e := New(DefaultConfig())
					if _, err := e.Run(context.Background(), src, 1); err != nil {
						b.Fatal(err)
					}
					e.Finish()
					frames += e.Frames()
				} else {
					pe := NewParallel(DefaultConfig(), n)
					if _, err := pe.Run(context.Background(), src, 1); err != nil {
						b.Fatal(err)
					}
					pe.Finish()
					frames += pe.Frames()
				}
				src.Close()
			}
			b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
