package engine

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// parallelCaptures are the captures the parallel analysis must report
// byte for byte as one engine does: mirror captures (VXLAN, GENEVE, two
// sessions), multi-flow captures with cross-flow findings (classes:
// shared policers), the CI sweep, IP fragments, tunnels and reused ports.
var parallelCaptures = []string{
	"policer/policer.mon.pcap",
	"policer/policer.srv.pcap",
	"twosessions/twosessions.mon.pcap",
	"mixed/mixed.mon.pcapng",
	"mixed/mixed.a-any.pcap",
	"geneve/geneve.app.pcap",
	"classes/c2_policer_shared.srv.pcap.gz",
	"classes/c5_bidir_shaper.srv.pcap.gz",
	"classes/c6_oneway_shaper.mon.pcap.gz",
	"sweep-ci/t028_policer/t028_policer.mon.pcap.gz",
	"sweep-ci/t013_loss/*.pcap.gz",
	"parity/ip-fragments.pcap",
	"parity/syn-after-rst.pcap",
	"encap/shims-tunnels.pcapng",
	"encap/gre-erspan.pcapng",
}

func serialReport(t *testing.T, cfg Config, path string) *result.Report {
	t.Helper()
	src, err := capture.OpenFiles([]string{path}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e := New(cfg)
	if _, err := e.Run(context.Background(), src, 1); err != nil {
		t.Fatal(err)
	}
	e.AddInput(result.Input{File: path, Packets: e.Frames()})
	return e.Finish()
}

// Ways parallelReport reads the capture: frames copied into the blocks
// (a source reading ahead), read by the source into the blocks' buffers
// (capture.FileSource.Retain, as analyze runs it), and so with small
// buffers that the source moves on every few dozen frames.
const (
	readCopy = iota
	readRetain
	readRetainSmall
)

func parallelReport(t *testing.T, cfg Config, path string, n int, read ...int) (*result.Report, int, uint64) {
	t.Helper()
	opt := capture.Options{}
	mode := readCopy
	if len(read) > 0 {
		mode = read[0]
	}
	switch mode {
	case readRetain:
		opt = capture.Options{NoReadahead: true, BufferSize: ParallelBufferSize}
	case readRetainSmall:
		opt = capture.Options{NoReadahead: true, MaxRecord: 1 << 16, BufferSize: 1}
	}
	src, err := capture.OpenFiles([]string{path}, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pe := NewParallel(cfg, n)
	if mode == readRetainSmall {
		pe.setBlockBytes(1<<16 + 64<<10 + 64)
	}
	gen0 := src.BufferGen()
	if _, err := pe.Run(context.Background(), src, 1); err != nil {
		t.Fatal(err)
	}
	if retained := src.BufferGen() > gen0; retained != (mode != readCopy) {
		t.Fatalf("read mode %d: source buffers %d -> %d", mode, gen0, src.BufferGen())
	}
	pe.AddInput(result.Input{File: path, Packets: pe.Frames()})
	busy := 0
	for _, w := range pe.ws {
		if w.e.table.Stats().Created > 0 {
			busy++
		}
	}
	return pe.Finish(), busy, pe.peeked
}

func renderBoth(t *testing.T, r *result.Report) (js, text []byte) {
	t.Helper()
	var j, x bytes.Buffer
	if err := report.WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteText(&x, r, report.TextOptions{}, report.DefaultSections()...); err != nil {
		t.Fatal(err)
	}
	return j.Bytes(), x.Bytes()
}

// TestParallelEqualsSerial: the report of a parallel analysis over 2 and
// 4 workers (3 with short timeouts) is byte-identical, as JSON and as text, to one engine's,
// on captures with many flows, mirror sessions, cross-flow findings,
// fragments and tunnels; also with short idle timeouts and lingering,
// where flows end in the middle of the capture (the idle ticks).
func TestParallelEqualsSerial(t *testing.T) {
	short := DefaultConfig()
	short.Flow.IdleTimeout = 50 * time.Millisecond
	short.Flow.Linger = 10 * time.Millisecond
	configs := []struct {
		name    string
		cfg     Config
		workers []int
	}{
		{"default", DefaultConfig(), []int{2, 4}},
		{"idle50ms", short, []int{3}},
	}
	// With --vni or --filter every frame is decoded by every worker (not
	// dealt by decode.Peek).
	sel := DefaultConfig()
	sel.Select = func(p *decode.Packet) bool { return p.Encap == decode.EncapNone || p.Session.VNI%2 == 0 }
	filt := DefaultConfig()
	filt.Accept = func(p *decode.Packet) bool { return p.Proto != 17 }
	configs = append(configs, struct {
		name    string
		cfg     Config
		workers []int
	}{"select", sel, []int{2}}, struct {
		name    string
		cfg     Config
		workers []int
	}{"filter", filt, []int{3}})
	n, spread := 0, 0
	var peeked, frames uint64
	for _, pat := range parallelCaptures {
		m, _ := filepath.Glob(filepath.Join(testdata, pat))
		if len(m) == 0 {
			t.Errorf("no capture matches testdata/%s", pat)
			continue
		}
		path := m[0]
		for _, c := range configs {
			t.Run(filepath.Base(path)+"/"+c.name, func(t *testing.T) {
				want := serialReport(t, c.cfg, path)
				wantJS, wantText := renderBoth(t, want)
				for i, workers := range c.workers {
					mode := (i + n) % 3 // each read mode on every capture
					got, busy, pk := parallelReport(t, c.cfg, path, workers, mode)
					if busy > 1 {
						spread++
					}
					if c.cfg.Select == nil && c.cfg.Accept == nil {
						peeked += pk
						frames += got.Capture.Packets
					} else if pk != 0 {
						t.Errorf("%d workers: %d frames dealt by Peek with a filter", workers, pk)
					}
					js, text := renderBoth(t, got)
					if !bytes.Equal(js, wantJS) {
						t.Errorf("%d workers: JSON differs (-parallel +serial):\n%s", workers, cmp.Diff(string(js), string(wantJS)))
					}
					if !bytes.Equal(text, wantText) {
						t.Errorf("%d workers: text differs (-parallel +serial):\n%s", workers, cmp.Diff(string(text), string(wantText)))
					}
				}
			})
			n++
		}
	}
	if n < 10 || spread < 10 {
		t.Fatalf("%d capture runs, %d of them with flows on more than one worker", n, spread)
	}
	// Most frames take the fast way; the others (fragments, tunnels,
	// options, ...) are decoded by every worker.
	if peeked < frames/2 || peeked == frames {
		t.Errorf("%d of %d frames dealt by Peek", peeked, frames)
	}
}

// frameSlice is a FrameSource over frames held in memory, at the
// capture times ts (1 µs apart when ts is nil).
type frameSlice struct {
	frames [][]byte
	ts     []int64
	i      int
}

func (s *frameSlice) Next(f *capture.Frame) error {
	if s.i == len(s.frames) {
		return io.EOF
	}
	d := s.frames[s.i]
	ts := int64(s.i+1) * 1000
	if s.ts != nil {
		ts = s.ts[s.i]
	}
	*f = capture.Frame{Data: d, TS: ts, OrigLen: uint32(len(d)), Link: decode.LinkEthernet}
	s.i++
	return nil
}

// TestParallelDealsFlowsInTurn: a few concurrent flows are dealt out to
// the workers in turn as they start (8 flows: 4 and 4 on 2 workers, 2
// each on 4), not left to a hash modulo n, which can put 6 of 8 on one
// worker; the report stays one engine's.
func TestParallelDealsFlowsInTurn(t *testing.T) {
	var frames [][]byte
	for round := range 200 {
		for i := range 8 {
			flags := uint8(tcpACK)
			if round == 0 {
				flags = tcpSYN
			}
			frames = append(frames, floodFrame(nil, i+1, false, flags, uint32(1000+round*100), 1, 100))
		}
	}
	want := New(DefaultConfig())
	if _, err := want.Run(context.Background(), &frameSlice{frames: frames}, 1); err != nil {
		t.Fatal(err)
	}
	wantJS, _ := renderBoth(t, want.Finish())
	for _, n := range []int{2, 4} {
		pe := NewParallel(DefaultConfig(), n)
		if _, err := pe.Run(context.Background(), &frameSlice{frames: frames}, 1); err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, w := range pe.ws {
			got = append(got, w.e.table.Stats().Created)
		}
		even := make([]uint64, n)
		for i := range even {
			even[i] = uint64(8 / n)
		}
		if d := cmp.Diff(got, even); d != "" {
			t.Errorf("%d workers: flows per worker (-got +want):\n%s", n, d)
		}
		js, _ := renderBoth(t, pe.Finish())
		if !bytes.Equal(js, wantJS) {
			t.Errorf("%d workers: JSON differs (-parallel +serial):\n%s", n, cmp.Diff(string(js), string(wantJS)))
		}
	}
}

// TestParallelWorkerZeroAlloc: in the steady state of a flow, a worker
// running a block (decode, capture counters, its own flows' analysis, or
// only the decode for another worker's packet) allocates nothing, as
// Engine.Packet does not.
func TestParallelWorkerZeroAlloc(t *testing.T) {
	for _, peek := range []bool{true, false} {
		testParallelWorkerZeroAlloc(t, peek)
	}
}

func testParallelWorkerZeroAlloc(t *testing.T, peek bool) {
	frames := loadFrames(t, findCapture(t, "shaper/shaper.srv.pcap"), 1_000_000)
	pe := NewParallel(DefaultConfig(), 2)
	pe.peek = peek
	b := &block{data: make([]byte, 0, blockBytes), frames: make([]blockFrame, 0, blockFrames)}
	fill := func(fs []memFrame) {
		b.data, b.frames = b.data[:0], b.frames[:0]
		for _, f := range fs {
			off := len(b.data)
			b.data = append(b.data, f.data...)
			b.frames = append(b.frames, blockFrame{ts: f.ts, off: uint32(off), n: uint32(len(f.data)), orig: f.origLen, link: f.link})
			pe.mark(&b.frames[len(b.frames)-1], f.data, f.link, f.origLen)
		}
	}
	half := len(frames) / 2
	for i := 0; i < half; i += 64 {
		fill(frames[i:min(i+64, half)])
		for _, w := range pe.ws {
			w.process(b)
		}
	}
	i := half
	allocs := testing.AllocsPerRun(500, func() {
		fill(frames[i : i+1])
		for _, w := range pe.ws {
			w.process(b)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("peek %v: a block of one frame through both workers allocates %.2f times in steady state", peek, allocs)
	}
	if peek && pe.peeked == 0 {
		t.Error("no frame dealt by Peek")
	}
	owned := 0
	for _, w := range pe.ws {
		if w.e.table.Stats().Created > 0 {
			owned++
		}
	}
	if owned == 0 {
		t.Fatal("no worker analysed a flow")
	}
}

// TestParallelTicksEndIdleFlowsInEveryWorker: the once-per-capture-second
// ticks end idle flows in every worker as one engine does (helper speed3).
func TestParallelTicksEndIdleFlowsInEveryWorker(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flow.IdleTimeout = 50 * time.Millisecond
	src := func() *frameSlice {
		s := &frameSlice{}
		for i := range 40 {
			at := int64(i) * int64(300*time.Millisecond)
			for k, flags := range []uint8{tcpSYN, tcpACK, tcpACK | tcpPSH} {
				s.frames = append(s.frames, floodFrame(nil, i+1, false, flags, uint32(1000+k), 1, 10*k))
				s.ts = append(s.ts, 1e18+at+int64(k)*int64(time.Millisecond))
			}
		}
		return s
	}
	want := New(cfg)
	if _, err := want.Run(context.Background(), src(), 1); err != nil {
		t.Fatal(err)
	}
	wantRep := want.Finish()
	if wantRep.Capture.FlowCounts.IdleEnd < 30 {
		t.Fatalf("one engine ended %d of 40 flows idle: the test needs most", wantRep.Capture.FlowCounts.IdleEnd)
	}
	wantJS, _ := renderBoth(t, wantRep)
	for _, n := range []int{2, 3} {
		pe := NewParallel(cfg, n)
		if _, err := pe.Run(context.Background(), src(), 1); err != nil {
			t.Fatal(err)
		}
		for i, w := range pe.ws {
			if w.e.table.Stats().Created == 0 {
				t.Errorf("%d workers: worker %d analysed no flow", n, i)
			}
		}
		js, _ := renderBoth(t, pe.Finish())
		if !bytes.Equal(js, wantJS) {
			t.Errorf("%d workers: JSON differs (-parallel +serial):\n%s", n, cmp.Diff(string(js), string(wantJS)))
		}
	}
}

// TestParallelRetainFilesWithoutFrames: a run of capture files without a
// frame (header only) between others makes a retaining source move to a
// new buffer several times between two frames; the blocks it took and
// left unused go back, so the reader never waits for a block that no
// worker will free, and the report equals one engine's over the same
// files.
func TestParallelRetainFilesWithoutFrames(t *testing.T) {
	a := findCapture(t, "shaper/shaper.srv.pcap")
	b := findCapture(t, "policer/policer.mon.pcap")
	raw, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pcap")
	if err := os.WriteFile(empty, raw[:24], 0o644); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for range 2 * blocksOut {
		paths = append(paths, empty)
	}
	paths = append(paths, a)
	for range 2 * blocksOut {
		paths = append(paths, empty)
	}
	paths = append(paths, b, empty)
	run := func(parallel bool, opt capture.Options, blockSize int) []byte {
		src, err := capture.OpenFiles(paths, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var r *result.Report
		if parallel {
			pe := NewParallel(DefaultConfig(), 2)
			if blockSize > 0 {
				pe.setBlockBytes(blockSize)
			}
			done := make(chan error, 1)
			go func() { _, err := pe.Run(context.Background(), src, len(paths)); done <- err }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Parallel.Run did not end: the reader waits for a block")
			}
			if src.BufferGen() < uint64(len(paths)) {
				t.Fatalf("%d source buffers for %d files: not retained", src.BufferGen(), len(paths))
			}
			r = pe.Finish()
		} else {
			e := New(DefaultConfig())
			if _, err := e.Run(context.Background(), src, len(paths)); err != nil {
				t.Fatal(err)
			}
			r = e.Finish()
		}
		js, _ := renderBoth(t, r)
		return js
	}
	want := run(false, capture.Options{}, 0)
	for _, c := range []struct {
		opt  capture.Options
		size int
	}{
		{capture.Options{NoReadahead: true, BufferSize: ParallelBufferSize}, 0},
		{capture.Options{NoReadahead: true, MaxRecord: 1 << 16, BufferSize: 1}, 1<<16 + 64<<10 + 64},
	} {
		if got := run(true, c.opt, c.size); !bytes.Equal(got, want) {
			t.Errorf("%+v: report differs (-parallel +serial):\n%s", c.opt, cmp.Diff(string(got), string(want)))
		}
	}
}
