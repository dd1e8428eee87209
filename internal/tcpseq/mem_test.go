package tcpseq

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// TestMemBytesCoversHeap checks MemBytes against what the heap really
// grows by for many Conns that carried data in both directions with
// timestamps: the estimate must not undercount by more than the
// allocator's rounding.
func TestMemBytesCoversHeap(t *testing.T) {
	const n = 2000
	conns := make([]*Conn, n)
	var est int
	var r Result
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i := range conns {
		c := NewConn(Config{})
		p := decode.Packet{L4: true, Proto: 6, IPVersion: 4}
		send := func(src netip.Addr, sp uint16, seq, ack uint32, fl uint8, pl uint32, ts int64) {
			p.Src, p.SrcPort = src, sp
			p.TCP = decode.TCP{Seq: seq, Ack: ack, Flags: fl, Window: 1000, HasTS: true, TSVal: uint32(ts), TSEcr: uint32(ts - 1)}
			p.PayloadLen = pl
			c.Analyze(&p, ts, &r)
		}
		send(a, 1000, 1, 0, decode.TCPSyn, 0, 1e6)
		send(b, 80, 100, 2, decode.TCPSyn|decode.TCPAck, 0, 2e6)
		for k := uint32(0); k < 20; k++ {
			send(a, 1000, 2+k*100, 101, decode.TCPAck, 100, int64(3e6+k*1e6))
		}
		send(b, 80, 101, 2002, decode.TCPAck, 0, 30e6)
		conns[i] = c
		est += c.MemBytes()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int(after.HeapAlloc - before.HeapAlloc)
	t.Logf("MemBytes %d B, heap grew %d B", est, grew)
	if est*5/4 < grew {
		t.Errorf("MemBytes sums to %d B for %d Conns, the heap grew by %d B", est, n, grew)
	}
	runtime.KeepAlive(conns)
}
