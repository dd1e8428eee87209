package diagnose

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// observeBoth feeds one packet to a through Observe (observeFast, else
// observe) and to b through observe alone, and reports whether a took the
// fast path.
func observeBoth(a, b *Flow, ts int64, dir int, p *decode.Packet, r *tcpseq.Result) bool {
	fast := a.observeFast(ts, dir, p, r) // (observe when false)
	b.observe(ts, dir, p, r)
	return fast
}

func flowsEqual(t *testing.T, what string, a, b *Flow) {
	t.Helper()
	for i := range a.d {
		if !reflect.DeepEqual(a.d[i], b.d[i]) {
			t.Fatalf("%s: direction %d differs after observeFast", what, i)
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: flow differs after observeFast", what)
	}
}

// TestObserveFastMatchesObserve: observeFast followed by observe when it
// declines leaves every field of the flow as observe alone does, on the
// flows of the test captures (both directions, and each direction alone)
// and on random packet streams made to hit each of its tests.
func TestObserveFastMatchesObserve(t *testing.T) {
	var paths []string
	for _, g := range []string{"../../testdata/*/*.pcap", "../../testdata/*/*.pcap.gz", "../../testdata/*/*/*.pcap", "../../testdata/*/*/*.pcap.gz"} {
		m, _ := filepath.Glob(g)
		for _, p := range m {
			if !strings.Contains(p, "/broken/") {
				paths = append(paths, p)
			}
		}
	}
	runs := 300
	if (testing.Short() || raceEnabled) && len(paths) > 12 {
		// (the race detector makes the whole set take minutes)
		paths, runs = paths[:12], 60
	}
	if len(paths) == 0 {
		t.Skip("no captures")
	}
	cfg := DefaultConfig()
	var pkts, fast int
	for _, path := range paths {
		for _, fl := range readFlows(t, path) {
			for view := range 3 { // both directions, client's only, server's only
				for _, maxRec := range []int{cfg.MaxRecords, 100} {
					c := cfg
					c.MaxRecords = maxRec
					a, b := NewFlow(c), NewFlow(c)
					conn := tcpseq.NewConn(tcpseq.Config{})
					var res tcpseq.Result
					for i := range fl.pkts {
						cp := &fl.pkts[i]
						dir := 1
						if netip.AddrPortFrom(cp.p.Src, cp.p.SrcPort) == fl.client {
							dir = 0
						}
						if view == 1 && dir != 0 || view == 2 && dir != 1 {
							continue
						}
						conn.Analyze(&cp.p, cp.ts, &res)
						pkts++
						if observeBoth(a, b, cp.ts, dir, &cp.p, &res) {
							fast++
						}
					}
					flowsEqual(t, path, a, b)
					if !reflect.DeepEqual(a.Finish(), b.Finish()) {
						t.Fatalf("%s: diagnoses differ", path)
					}
				}
			}
		}
	}
	t.Logf("captures: %d packets, %d on the fast path", pkts, fast)
	if fast < pkts/4 {
		t.Errorf("only %d of %d packets took the fast path", fast, pkts)
	}

	// random streams: a bulk transfer with every kind of disturbance
	rnd := rand.New(rand.NewPCG(7, 11))
	pkts, fast = 0, 0
	for run := range runs {
		c := cfg
		c.MaxRecords = []int{cfg.MaxRecords, 50, 64, 65, 1100, 3000}[run%6]
		a, b := NewFlow(c), NewFlow(c)
		s := newSynth(int64(1+rnd.IntN(400))*1e3, int64(1+rnd.IntN(50))*1e6)
		s.ts = int64(rnd.Uint64() >> 4)
		switch run % 10 {
		case 4: // a clock from 0 (a gap from lastDataT 0; recOwd's bins)
			s.ts = 0
		case 8: // a negative one, across 0
			s.ts = -int64(rnd.IntN(3e9))
		}
		var res tcpseq.Result
		hs := run%3 != 0 // with a handshake
		if hs {
			syn := s.data
			syn.PayloadLen, syn.FrameLen = 0, 74
			syn.TCP.Flags, syn.TCP.Seq, syn.TCP.HasMSS, syn.TCP.MSS, syn.TCP.HasWScale, syn.TCP.WScale = decode.TCPSyn, s.seq-1, true, 1448, true, 7
			observeBoth(a, b, s.ts, 0, &syn, nil)
			sa := s.ack
			sa.TCP.Flags, sa.TCP.Seq, sa.TCP.Ack, sa.TCP.HasWScale, sa.TCP.WScale = decode.TCPSyn|decode.TCPAck, 5000, s.seq, true, 7
			observeBoth(a, b, s.ts+1e5, 1, &sa, nil)
			ack := s.ack
			ack.Src, ack.Dst = s.data.Src, s.data.Dst
			ack.TCP.Seq, ack.TCP.Ack = s.seq, 5001
			observeBoth(a, b, s.ts+2e5, 0, &ack, nil)
			s.ts += 3e5
		}
		s.ack.TCP.Seq = 5001
		s.data.TCP.Ack = 5001
		n := 200 + rnd.IntN(6000)
		perturb := []int{25, 100, 400}[run%3]
		ackEvery := 1 + rnd.IntN(16)
		type ackAt struct {
			t   int64
			end uint32
		}
		var q []ackAt
		for range n {
			p := s.data
			p.TCP.Seq = s.seq
			p.TCP.TSVal = uint32(s.ts / 1e6)
			p.TCP.TSEcr = s.ack.TCP.TSVal
			seq := s.seq
			switch x := rnd.IntN(perturb); {
			case x < 3: // a hole
				seq += 1448 * uint32(1+rnd.IntN(3))
				p.TCP.Seq = seq
			case x < 6: // a retransmission
				p.TCP.Seq = s.seq - 1448*uint32(1+rnd.IntN(4))
				seq = s.seq - 1448
			case x < 8:
				p.TCP.Flags |= decode.TCPCwr
			case x < 9:
				p.TCP.Flags |= decode.TCPEce
			case x < 10:
				p.TOS = 3
			case x < 11:
				p.TCP.HasTS = false
			case x < 12:
				p.TCP.Window = uint16(rnd.IntN(3) * 250)
			case x < 13:
				p.TCP.NSACK = 1
				p.TCP.SACK[0] = decode.SACKBlock{Left: 5001, Right: 5002}
			case x < 14:
				s.data.TCP.Ack += uint32(rnd.IntN(3)) // new data from the other side
				p.TCP.Ack = s.data.TCP.Ack
			case x < 15:
				p.TCP.TSEcr = 0
			case x < 16:
				p.PayloadLen = uint32(rnd.IntN(1448))
			case x < 17:
				s.ts += int64(rnd.IntN(50)) * 1e6 // a gap
			case x < 18:
				p.TCP.Flags |= decode.TCPFin
			case x < 19:
				p.TCP.Flags = 0
			case x < 20 && rnd.IntN(4) == 0: // a SYN mid-stream (a new handshake to settle)
				p.TCP.Flags, p.PayloadLen, p.TCP.Seq = decode.TCPSyn, 0, s.seq-1
				seq = s.seq - p.PayloadLen
			}
			dir := 0
			ts := s.ts
			if rnd.IntN(200) == 0 {
				ts -= 1e6 // a step back
			}
			var r *tcpseq.Result
			if rnd.IntN(3) == 0 {
				res.Window = uint32(rnd.IntN(2)) * 64000
				r = &res
			}
			pkts++
			if observeBoth(a, b, ts, dir, &p, r) {
				fast++
			}
			if seq == s.seq || seqLT(s.seq, seq) {
				s.seq = seq + p.PayloadLen
			}
			if pkts%ackEvery == 0 {
				q = append(q, ackAt{s.ts + s.rttNS, s.seq})
			}
			s.ts += s.gapNS / int64(1+rnd.IntN(3))
			for len(q) > 0 && q[0].t <= s.ts {
				ak := s.ack
				ak.TCP.Ack = q[0].end
				if rnd.IntN(4) == 0 {
					ak.TCP.Ack -= 1448 // a duplicate
				}
				ak.TCP.TSVal = uint32(q[0].t / 1e6)
				if rnd.IntN(20) == 0 {
					ak.TCP.NSACK = 1
					ak.TCP.SACK[0] = decode.SACKBlock{Left: q[0].end + 1448, Right: q[0].end + 2896}
				}
				s.ack.TCP.TSVal = ak.TCP.TSVal
				pkts++
				if observeBoth(a, b, q[0].t, 1, &ak, nil) {
					fast++
				}
				q = q[1:]
			}
			if pkts%509 == 0 {
				flowsEqual(t, "random", a, b)
			}
		}
		flowsEqual(t, "random", a, b)
		if !reflect.DeepEqual(a.Finish(), b.Finish()) {
			t.Fatalf("random run %d: diagnoses differ", run)
		}
	}
	t.Logf("random: %d packets, %d on the fast path", pkts, fast)
	if fast < pkts/4 {
		t.Errorf("only %d of %d packets took the fast path", fast, pkts)
	}
}

// TestRecOwdMatchesDivision: every record's owd equals the former
// per-record formula, the segment's capture ms (ts/1e6, ts clamped to
// the flow's last) less its TSval, less the same of the direction's
// first segment with the option, clamped to int16: recOwd counts the ms
// from the 1 ms bins instead. Streams start on clocks below zero,
// across zero and far above it (the bins then sit off whole ms), with
// time steps back, idle gaps, TSvals that jump (the clamp) and segments
// without the option; both directions send, so that observeFast and
// observe both write records.
func TestRecOwdMatchesDivision(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 5))
	starts := []int64{-5e9 - 123457, -1e6 + 17, -999_999, -1, 0, 999_999, 1e18 + 424_242, 1_700_000_000_123_456_789}
	var checked, fast int
	for run := range 240 {
		c := DefaultConfig()
		c.MaxRecords = []int{c.MaxRecords, 300}[run%2]
		f := NewFlow(c)
		s := newSynth(int64(1+rnd.IntN(300))*1e3, 10e6)
		ts := starts[run%len(starts)] + int64(rnd.IntN(3e6))
		last := int64(math.MinInt64) // (the flow's: its first packet's time, then clamped)
		var base [2]int64
		var hasBase [2]bool
		seq := [2]uint32{1000, 9000}
		tsv := [2]uint32{uint32(rnd.Uint32()), uint32(rnd.Uint32())}
		for range 400 + rnd.IntN(3000) {
			dir := 0
			if rnd.IntN(8) == 0 {
				dir = 1
			}
			p := s.data
			if dir == 1 {
				p.Src, p.Dst, p.SrcPort, p.DstPort = s.data.Dst, s.data.Src, s.data.DstPort, s.data.SrcPort
			}
			p.TCP.Seq, p.TCP.Ack = seq[dir], seq[1-dir]
			switch x := rnd.IntN(60); {
			case x < 2:
				tsv[dir] += uint32(rnd.IntN(80000)) // past the int16 clamp
			case x < 4:
				tsv[dir] -= uint32(rnd.IntN(80000))
			case x < 30:
				tsv[dir] += uint32(rnd.IntN(2))
			}
			p.TCP.TSVal, p.TCP.TSEcr = tsv[dir], tsv[1-dir] // (echoing the peer's: observeFast takes it)
			if rnd.IntN(40) == 0 {
				p.TCP.HasTS = false
			}
			at := ts
			if rnd.IntN(50) == 0 {
				at -= int64(rnd.IntN(3e6)) // a step back: clamped
			}
			last = max(last, at)
			d := &f.d[dir]
			n := d.rb.n
			if f.observeFast(at, dir, &p, nil) {
				fast++
			}
			seq[dir] += p.PayloadLen
			// (the segment's record is the last: the base is the first
			// recorded segment's, as it was)
			if p.TCP.HasTS && d.rb.n > n {
				v := last/1e6 - int64(p.TCP.TSVal)
				if !hasBase[dir] {
					base[dir], hasBase[dir] = v, true
				}
				want := int16(max(-32768, min(32767, v-base[dir])))
				if got := d.rb.at(d.rb.n - 1).owd; got != want {
					t.Fatalf("run %d (start %d): record %d of direction %d: owd %d, want %d (at %d, last %d, tsval %d, base %d, bin start %d cur %d)", run, starts[run%len(starts)], d.rb.n-1, dir, got, want, at, last, p.TCP.TSVal, base[dir], d.bins[0].start, d.bins[0].cur)
				}
				checked++
			}
			ts += s.gapNS
			if rnd.IntN(100) == 0 {
				ts += int64(rnd.IntN(2000)) * 1e6 // an idle gap
			}
		}
	}
	t.Logf("%d records checked, %d packets on the fast path", checked, fast)
	if checked < 100000 || fast < checked/8 {
		t.Errorf("too few records checked (%d) or fast-path packets (%d)", checked, fast)
	}
}
