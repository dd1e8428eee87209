package engine

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// floodFrame writes into buf an Ethernet/IPv4/TCP frame of flow i (client
// 10.x.y.z:1024+(i>>24), server 192.0.2.1:80), from the server when
// fromServer, and returns it.
func floodFrame(buf []byte, i int, fromServer bool, flags uint8, seq, ack uint32, payload int) []byte {
	f := append(buf[:0], 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00)
	cli := []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	srv := []byte{192, 0, 2, 1}
	cp, sp := uint16(1024+(i>>24)), uint16(80)
	if fromServer {
		cli, srv, cp, sp = srv, cli, sp, cp
	}
	f = append(f, 0x45, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(40+payload))
	f = append(f, 0, 0, 0x40, 0, 64, 6, 0, 0)
	f = append(f, cli...)
	f = append(f, srv...)
	f = binary.BigEndian.AppendUint16(f, cp)
	f = binary.BigEndian.AppendUint16(f, sp)
	f = binary.BigEndian.AppendUint32(f, seq)
	f = binary.BigEndian.AppendUint32(f, ack)
	f = append(f, 5<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
	return append(f, make([]byte, payload)...)
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpPSH = 0x08
	tcpACK = 0x10
)

// feedSYNs gives e one SYN each of flows [from, to).
func feedSYNs(e *Engine, buf []byte, from, to int, ts *int64) {
	for i := from; i < to; i++ {
		*ts += 1000
		fr := floodFrame(buf, i, false, tcpSYN, 1000, 0, 0)
		e.Packet(fr, *ts, uint32(len(fr)), decode.LinkEthernet)
	}
}

// feedData gives e flows [from, to) with a handshake and segs data
// segments each, acknowledged, left open, interleaved packet by packet.
func feedData(e *Engine, buf []byte, from, to, segs int, ts *int64) {
	for s := 0; s < 3+2*segs; s++ {
		for i := from; i < to; i++ {
			*ts += 1000
			var fr []byte
			switch {
			case s == 0:
				fr = floodFrame(buf, i, false, tcpSYN, 1000, 0, 0)
			case s == 1:
				fr = floodFrame(buf, i, true, tcpSYN|tcpACK, 5000, 1001, 0)
			case s == 2:
				fr = floodFrame(buf, i, false, tcpACK, 1001, 5001, 0)
			case (s-3)%2 == 0:
				k := uint32(s-3) / 2
				fr = floodFrame(buf, i, false, tcpACK|tcpPSH, 1001+k*100, 5001, 100)
			default:
				k := uint32(s-3)/2 + 1
				fr = floodFrame(buf, i, true, tcpACK, 5001, 1001+k*100, 0)
			}
			e.Packet(fr, *ts, uint32(len(fr)), decode.LinkEthernet)
		}
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFlowBytes measures what a live flow costs on the heap, and checks
// that the engine's estimate (which the memory budget enforces) does not
// undercount it. A SYN-only flow (a SYN scan, a flood) must cost well
// under 1 KB: it holds no Conn and no diagnosis until a second packet.
func TestFlowBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MB")
	}
	buf := make([]byte, 0, 2048)
	for _, tc := range []struct {
		name     string
		n        int
		feed     func(e *Engine, n int, ts *int64)
		maxBytes float64
	}{
		{"syn-only", 100_000, func(e *Engine, n int, ts *int64) { feedSYNs(e, buf, 0, n, ts) }, 900},
		{"data", 20_000, func(e *Engine, n int, ts *int64) { feedData(e, buf, 0, n, 2, ts) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MaxDiagnosedFlows = 100
			e := New(cfg)
			var ts int64 = 1e18
			before := heapInUse()
			tc.feed(e, tc.n, &ts)
			grew := float64(heapInUse() - before)
			perFlow := grew / float64(tc.n)
			est := float64(e.MemBytes())
			t.Logf("%d flows: heap %.0f B/flow, estimate %.0f B/flow", tc.n, perFlow, est/float64(tc.n))
			if tc.maxBytes > 0 && perFlow > tc.maxBytes {
				t.Errorf("a %s flow costs %.0f B, want at most %.0f", tc.name, perFlow, tc.maxBytes)
			}
			if est < grew*0.8 {
				t.Errorf("estimate %.0f B undercounts the heap's growth %.0f B", est, grew)
			}
			if got := e.LiveFlows(); got != tc.n {
				t.Errorf("%d live flows, want %d", got, tc.n)
			}
			runtime.KeepAlive(e)
		})
	}
}

// TestMemoryLimitBoundsFlood: under a flood of distinct flows the heap
// stays within the engine's flow budget, flows beyond it are evicted and
// counted, and flows that fit keep their whole analysis.
func TestMemoryLimitBoundsFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MB")
	}
	cfg := DefaultConfig()
	cfg.MemoryLimit = 256 << 20
	budget := FlowBudget(cfg.MemoryLimit)
	e := New(cfg)
	buf := make([]byte, 0, 2048)
	var ts int64 = 1e18
	before := heapInUse()
	const syns, data = 400_000, 10_000
	feedSYNs(e, buf, 0, syns, &ts)
	feedData(e, buf, syns, syns+data, 3, &ts)
	grew := int64(heapInUse() - before)
	t.Logf("estimate %d MB, heap grew %d MB, %d reports kept", e.MemBytes()>>20, grew>>20, len(e.kept))
	// The live flows fit the flow budget, the kept report entries the
	// reserve: the live heap stays under half the limit, which leaves the
	// garbage collector its headroom.
	if grew > cfg.MemoryLimit/2 {
		t.Errorf("heap grew %d B for %d live flows, limit %d B (flow budget %d B)", grew, e.LiveFlows(), cfg.MemoryLimit, budget)
	}
	if e.MemBytes() > int(budget) {
		t.Errorf("estimate %d B over the budget %d B", e.MemBytes(), budget)
	}
	r := e.Finish()
	fc := r.Capture.FlowCounts
	t.Logf("budget %d MB: heap grew %d MB; %d flows, %d evicted, %d undiagnosed", budget>>20, grew>>20, fc.Total, fc.Evicted, fc.Undiagnosed)
	if fc.Evicted == 0 || fc.Evicted >= fc.Total || fc.Total < syns+data {
		t.Errorf("flow counts %+v: want %d flows or more, some evicted", fc, syns+data)
	}
	// The largest flows (the data flows, which came last) keep their TCP
	// analysis; the one-packet flows have TCP statistics too.
	for _, f := range r.Flows[:10] {
		if f.TCP == nil || f.Packets != 3+2*3 || f.Diagnosis == nil && fc.Undiagnosed == 0 {
			t.Fatalf("flow %+v lost its analysis", f)
		}
	}
}

// BenchmarkSYNFlood measures a flood of one-SYN flows under the default
// memory budget: ns and heap bytes per flow (docs/benchmarks.md).
func BenchmarkSYNFlood(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MemoryLimit = 1 << 30
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	var ts int64 = 1e18
	for b.Loop() {
		e := New(cfg)
		feedSYNs(e, buf, 0, 200_000, &ts)
		b.ReportMetric(float64(e.MemBytes())/float64(e.LiveFlows()), "est-B/flow")
		e.Finish()
	}
}
