package diagnose

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// TestAckChain replays a loss episode as the ACKs alone show it and
// checks the segments ackChain rebuilds: arrivals as passed, the
// segments below a new SACK block as lost, their retransmissions (a
// block or the cumulative ACK covering a hole) as passed.
func TestAckChain(t *testing.T) {
	const isn, mss, hdr = 1000, 100, 10
	type ack struct {
		t    int64
		ack  uint32
		sack [][2]uint32
	}
	steps := []ack{
		{0, 0, nil},                                         // first: the origin
		{10, 200, nil},                                      // 2 arrived
		{20, 200, [][2]uint32{{300, 400}}},                  // 1 lost (200-300), 1 arrived
		{30, 200, [][2]uint32{{300, 600}}},                  // 2 arrived
		{40, 200, [][2]uint32{{700, 800}, {300, 600}}},      // 1 lost (600-700), 1 arrived
		{50, 200, [][2]uint32{{300, 600}, {700, 800}}},      // repeated: nothing
		{60, 200, [][2]uint32{{250, 300}, {300, 600}}},      // D-SACK-free retransmission of half a hole
		{70, 650, [][2]uint32{{700, 800}}},                  // the rest of the first hole and half the second
		{80, 900, nil},                                      // the second hole's rest, and 800-900 new
		{90, 900, [][2]uint32{{100, 200}}},                  // D-SACK below the ACK: nothing
		{100, 900, [][2]uint32{{1000, 1000 + sackMaxSpan}}}, // stray: nothing
	}
	c := ackChain{limit: chainMaxEvents}
	for _, s := range steps {
		var tcp decode.TCP
		for _, b := range s.sack {
			tcp.SACK[tcp.NSACK] = decode.SACKBlock{Left: b[0] + isn, Right: b[1] + isn}
			tcp.NSACK++
		}
		c.add(s.t, s.ack, &tcp, isn, mss, hdr)
	}
	want := []drop{
		{t: 10, flen: 110}, {t: 10, flen: 110},
		{t: 20, flen: 110, lost: true}, {t: 20, flen: 110},
		{t: 30, flen: 110}, {t: 30, flen: 110},
		{t: 40, flen: 110, lost: true}, {t: 40, flen: 110},
		{t: 60, flen: 60},
		{t: 70, flen: 110},
		{t: 80, flen: 110}, {t: 80, flen: 60}, // (new and refilled bytes in one run)
	}
	if diff := cmp.Diff(expandDrops(c.base, c.ev), want, cmp.AllowUnexported(drop{})); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
	if len(c.holes) != 0 {
		t.Errorf("holes left %v, want none", c.holes)
	}
}

// TestAckChainBounds: the events stop at the limit and past 2^32 µs
// from the first ACK, the holes at ackChainHoles.
func TestAckChainBounds(t *testing.T) {
	c := ackChain{limit: 5}
	var tcp decode.TCP
	c.add(0, 0, &tcp, 0, 100, 0)
	c.add(1, 1000, &tcp, 0, 100, 0) // 10 segments
	if len(c.ev) != 5 {
		t.Errorf("%d events, want the limit, 5", len(c.ev))
	}
	c = ackChain{limit: 100}
	c.add(0, 0, &tcp, 0, 100, 0)
	c.add(1<<32, 100, &tcp, 0, 100, 0)
	if len(c.ev) != 0 {
		t.Errorf("%d events past 2^32 µs, want 0", len(c.ev))
	}
	c = ackChain{limit: 1 << 16}
	c.add(0, 0, &tcp, 0, 100, 0)
	tcp.NSACK = 1
	for i := uint32(0); i < 2*ackChainHoles; i++ { // a hole under every block
		tcp.SACK[0] = decode.SACKBlock{Left: 200*i + 100, Right: 200*i + 200}
		c.add(int64(i+1), 0, &tcp, 0, 100, 0)
	}
	if len(c.holes) != ackChainHoles {
		t.Errorf("%d holes, want ackChainHoles (%d)", len(c.holes), ackChainHoles)
	}
}

// TestAckOnlyFlowEvents: a flow whose data direction is not captured
// rebuilds its segments from the ACKs, at most MaxRecords of them,
// counted by MemBytes and let go by Finish; with both directions none is
// kept.
func TestAckOnlyFlowEvents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecords = 3000
	for _, acksOnly := range []bool{true, false} {
		f := NewFlow(cfg)
		s := newSynth(100e3, 1e6)
		s.data.PayloadLen = 1448
		base := f.MemBytes()
		for i := 0; i < 10_000; i++ {
			if acksOnly {
				// the ACK direction only: the synth's segments are
				// acknowledged one by one
				s.seq += 1448
				s.ts += s.gapNS
				s.ack.TCP.Ack = s.seq
				s.ack.TCP.TSVal = uint32(s.ts / 1e6)
				f.Observe(s.ts, 1, &s.ack, nil)
			} else {
				s.next(f)
			}
		}
		c := f.d[0].ackEv
		switch {
		case !acksOnly && c != nil:
			t.Errorf("both directions: %d ACK-rebuilt segments kept, want none", len(c.ev))
		case acksOnly && (c == nil || len(c.ev) != cfg.MaxRecords):
			t.Errorf("ACKs only: ackEv %v, want MaxRecords (%d) segments", c != nil, cfg.MaxRecords)
		case acksOnly && f.MemBytes()-base < cfg.MaxRecords*8:
			t.Errorf("ACKs only: MemBytes grew %d B, want >= %d", f.MemBytes()-base, cfg.MaxRecords*8)
		}
		dg := f.Finish()
		if acksOnly && dg.Visibility != VisAcksOnly {
			t.Errorf("visibility %q, want %q", dg.Visibility, VisAcksOnly)
		}
		if f.d[0].ackEv != nil {
			t.Errorf("acksOnly=%v: ackEv kept after Finish", acksOnly)
		}
	}
}

// FuzzAckChain feeds ackChain hostile ACKs (any cumulative ACK, up to 4
// SACK blocks anywhere): no panic, the events within the limit, the
// holes within their bound, disjoint and ascending.
func FuzzAckChain(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 20, 1, 0, 0, 0, 30, 0, 0, 0, 40})
	f.Add([]byte{0, 0, 0, 1, 0, 255, 255, 255, 255, 0, 0, 0, 0, 4, 127, 255, 255, 255, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := ackChain{limit: 1000}
		u32 := func() uint32 {
			if len(b) < 4 {
				b = nil
				return 0
			}
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			b = b[4:]
			return v
		}
		for ts := int64(0); len(b) > 0; ts += 100 {
			var tcp decode.TCP
			mss := uint32(b[0])
			b = b[1:]
			ack := u32()
			if len(b) > 0 {
				tcp.NSACK = b[0] % 5
				b = b[1:]
			}
			for i := 0; i < int(tcp.NSACK); i++ {
				tcp.SACK[i] = decode.SACKBlock{Left: u32(), Right: u32()}
			}
			c.add(ts, ack, &tcp, 0, mss+1, 66)
			if len(c.ev) > c.limit || len(c.holes) > ackChainHoles {
				t.Fatalf("%d events, %d holes: over their bounds", len(c.ev), len(c.holes))
			}
			for i := 1; i < len(c.holes); i++ {
				if !seqLE(c.holes[i-1].r, c.holes[i].l) {
					t.Fatalf("holes %v not disjoint and ascending", c.holes)
				}
			}
		}
	})
}
