package diagnose

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// mixedRecs is a trace with every record kind and flag, in the shapes
// Observe makes: originals with increasing seq, hole records at the
// edge, fills and retransmissions below it, some voided, lost, with and
// without ACK delays.
func mixedRecs(n int, rnd *rand.Rand) []rec {
	recs := make([]rec, 0, n)
	seq, t := uint32(1), uint32(0)
	for len(recs) < n {
		t += uint32(rnd.IntN(300))
		r := rec{t: t, plen: 1448, flen: uint16(1400 + rnd.IntN(130))}
		switch x := rnd.IntN(20); {
		case x < 14:
			r.kind, r.seq = recOrig, seq
			seq += 1448
		case x < 16:
			r.kind, r.seq, r.flags = recHole, seq, recLost
			if rnd.IntN(3) == 0 {
				r.flags = recVoid
			}
			seq += 1448
		case x < 18 && seq > 3000:
			r.kind, r.seq = recRetx, seq-uint32(1448*(1+rnd.IntN(int(min(seq/1448, 40)))))
		default:
			r.kind, r.seq = recFill, seq-1448
			if rnd.IntN(2) == 0 {
				r.flags = recReord
			}
		}
		if rnd.IntN(4) == 0 {
			r.flags |= recLost
		}
		if rnd.IntN(3) > 0 {
			r.rttA = uint32(1 + rnd.IntN(20000))
		}
		if rnd.IntN(3) > 0 {
			r.rttB = uint32(1 + rnd.IntN(20000))
		}
		recs = append(recs, r)
	}
	return recs
}

// refScan is what the passes scanRecs replaced computed, one pass each.
func refScan(b *recBuf, receiver bool) (s recScan) {
	for i := range b.n {
		r := b.at(i)
		if r.kind == recOrig || r.kind == recHole && r.flags&recVoid == 0 {
			s.originals++
		}
		if r.kind == recHole && r.flags&recLost != 0 {
			s.lostHoles++
		}
	}
	prevLost := false
	for i := range b.n {
		r := b.at(i)
		if !receiver && r.kind != recOrig {
			continue
		}
		isLost := r.flags&recLost != 0 && (!receiver || r.kind == recHole)
		if isLost && prevLost {
			s.lostRuns++
		}
		prevLost = isLost
	}
	h := &s.dispersionHist
	if receiver {
		prev := -1
		for i := range b.n {
			r := b.at(i)
			if r.kind == recHole {
				continue
			}
			if prev >= 0 {
				if g := r.t - b.at(prev).t; g > 0 && r.flen > 0 {
					h.add(dispScale * 1000 * float64(g) / float64(r.flen))
				}
			}
			prev = i
		}
	} else {
		var cur, prev uint32
		var bytes float64
		have, havePrev := false, false
		flush := func() {
			if have && havePrev && cur > prev && bytes > 0 {
				h.add(dispScale * 1000 * float64(cur-prev) / bytes)
			}
		}
		for i := range b.n {
			r := b.at(i)
			if r.kind != recOrig || r.rttA == 0 {
				continue
			}
			at := r.t + r.rttA - 1
			if have && at == cur {
				bytes += float64(r.flen)
				continue
			}
			flush()
			if have {
				prev, havePrev = cur, true
			}
			cur, bytes, have = at, float64(r.flen), true
		}
		flush()
	}
	return s
}

// refLossAt is flach's former search for its first and last loss and
// the goodput between them.
func refLossAt(b *recBuf, cutoff int) (first, last int, bytes float64, ok bool) {
	live := func(i int) bool { return b.at(i).flags&recVoid == 0 }
	lost := func(i int) bool { return b.at(i).flags&recLost != 0 }
	first, last = -1, -1
	skipped := 0
	for i := range b.n {
		if !live(i) || !lost(i) {
			continue
		}
		if cutoff == skipped {
			first = i
			break
		}
		skipped++
	}
	if first < 0 {
		return -1, -1, 0, false
	}
	skipped = 0
	for i := b.n - 1; i > first; i-- {
		if !live(i) || !lost(i) {
			continue
		}
		if cutoff == skipped {
			last = i
			break
		}
		skipped++
	}
	if last < 0 {
		return first, -1, 0, false
	}
	for i := first; i < last; i++ {
		if live(i) && !lost(i) {
			bytes += float64(b.at(i).flen)
		}
	}
	return first, last, bytes, true
}

// TestScanRecsMatchesPasses checks the one pass against the passes it
// replaced, on traces of every size around the chunk boundaries.
func TestScanRecsMatchesPasses(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	type testCase struct {
		name string
		recs []rec
	}
	var cases []testCase
	for _, tc := range []testCase{
		{"empty", nil},
		{"one", mixedRecs(1, rnd)},
		{"head", mixedRecs(recHead, rnd)},
		{"head+1", mixedRecs(recHead+1, rnd)},
		{"chunks", mixedRecs(recHead+3*recChunk+17, rnd)},
		{"policed", policedRecs(12e6, 8e6, 24000, 3000, rnd)},
		{"random-loss", aimdRandomLoss(0.02, 3000, rnd)},
		{"one-loss", aimdRandomLoss(0.0004, 3000, rand.New(rand.NewPCG(3, 3)))},
		{"bulk", bulkRecs(recHead+5*recChunk, 0, rnd)},
		{"bulk-hole-first", bulkRecs(2000, 1, rnd)},
		{"bulk-holes-first", bulkRecs(recHead+recChunk, recHead+3, rnd)},
		{"bulk-all-holes", bulkRecs(100, 100, rnd)},
	} {
		cases = append(cases, tc)
	}
	// exactly k live losses: around 2*cutoff+1, where the first and last
	// loss of a cutoff meet
	for k := range 8 {
		recs := aimdRandomLoss(0, 500, rnd)
		for j := range k {
			recs[30+60*j].flags |= recLost
		}
		recs[10].flags |= recLost | recVoid // a voided loss counts for nothing
		cases = append(cases, testCase{fmt.Sprintf("%d-losses", k), recs})
	}
	for _, tc := range cases {
		b := recBufOf(tc.recs)
		for _, receiver := range []bool{false, true} {
			var s recScan
			scanRecs(&b, receiver, &s)
			want := refScan(&b, receiver)
			if s.originals != want.originals || s.lostHoles != want.lostHoles || s.lostRuns != want.lostRuns {
				t.Errorf("%s receiver=%v: originals/lostHoles/lostRuns %d/%d/%d, want %d/%d/%d", tc.name, receiver,
					s.originals, s.lostHoles, s.lostRuns, want.originals, want.lostHoles, want.lostRuns)
			}
			if s.dispersionHist != want.dispersionHist {
				t.Errorf("%s receiver=%v: dispersion histogram differs (%d samples, want %d)", tc.name, receiver,
					s.dispersionHist.n, want.dispersionHist.n)
			}
			for cutoff := range flachScan {
				f, l, by, ok := s.lossAt(cutoff)
				wf, wl, wby, wok := refLossAt(&b, cutoff)
				if ok != wok || ok && (f != wf || l != wl || float64(by) != wby) || !ok && wf >= 0 && f != wf {
					t.Errorf("%s receiver=%v cutoff %d: lossAt %d %d %d %v, want %d %d %.0f %v", tc.name, receiver, cutoff,
						f, l, by, ok, wf, wl, wby, wok)
				}
			}
		}
	}
}

// refMarkLoss is markLoss's sender side as it was: two index slices made
// per call, the records reached through at.
func refMarkLoss(d *dirState, a *analysis) {
	origs := make([]int32, 0, d.rb.n)
	lastTx := make([]int32, 0, d.rb.n)
	n := min(d.ndsr, dsackRing)
	for i := range d.rb.n {
		r := d.rb.at(i)
		if r.kind == recOrig {
			origs = append(origs, int32(i))
			lastTx = append(lastTx, -1)
			continue
		}
		if r.kind != recRetx {
			continue
		}
		end := r.seq + uint32(r.plen)
		spur := false
		for k := 0; k < n; k++ {
			if overlap(r.seq, end, d.dsr[k].l, d.dsr[k].r) > 0 {
				spur = true
				break
			}
		}
		if spur {
			r.flags |= recSpur
			continue
		}
		lo, hi := 0, len(origs)
		for lo < hi {
			m := (lo + hi) / 2
			if seqLT(r.seq, d.rb.at(int(origs[m])).seq) {
				hi = m
			} else {
				lo = m + 1
			}
		}
		j := lo - 1
		if j < 0 {
			continue
		}
		o := d.rb.at(int(origs[j]))
		if overlap(r.seq, end, o.seq, o.seq+uint32(o.plen)) == 0 {
			continue
		}
		prev, pi := o, int(origs[j])
		if lastTx[j] >= 0 {
			prev, pi = d.rb.at(int(lastTx[j])), int(lastTx[j])
		}
		if prev.flags&recLost == 0 {
			prev.flags |= recLost
			a.lost++
			if r.t > prev.t {
				a.retxDelay.add(float64(r.t - prev.t))
			}
			for q := pi + 1; q < i && q <= pi+retxAfterScan; q++ {
				if x := d.rb.at(q); x.kind != recHole {
					if r.t > x.t {
						a.retxAfter.add(float64(r.t - x.t))
					}
					break
				}
			}
		}
		lastTx[j] = int32(i)
	}
	if d.ndsr > dsackRing {
		a.lost -= min(uint64(d.ndsr-dsackRing), a.lost)
	}
}

// TestMarkLossMatchesReference runs markLoss (pooled index, chunk walk)
// and the former code on the same sender-side traces, with and without a
// pool and with D-SACKs in and beyond the ring.
func TestMarkLossMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 9))
	pool := NewRecordPool()
	for _, tc := range []struct {
		name  string
		n     int
		dsack int
		pool  *RecordPool
	}{
		{"small", 50, 0, nil},
		{"chunks", 5000, 0, pool},
		{"chunks again", 5000, 3, pool}, // the pool's index, reused
		{"bigger", 9000, 70, pool},
		{"no pool", 3000, 10, nil},
	} {
		recs := mixedRecs(tc.n, rnd)
		for i := range recs {
			recs[i].flags &^= recLost | recSpur // markLoss's input: no loss marked yet
			if recs[i].kind == recHole {
				recs[i].kind = recOrig
			}
		}
		var got, want dirState
		got.rb, want.rb = recBufOf(recs), recBufOf(recs)
		end := int32(0) // as Observe keeps it: after the last retransmission's record
		for i, r := range recs {
			if r.kind == recRetx {
				end = int32(i + 1)
			}
		}
		for _, d := range []*dirState{&got, &want} {
			d.retxRecEnd = end
			for k := range tc.dsack {
				d.dsr[k%dsackRing] = seqRange{uint32(1 + 1448*k*7), uint32(1 + 1448*k*7 + 1448)}
			}
			d.ndsr = tc.dsack
		}
		f := NewFlow(DefaultConfig())
		f.cfg.Records = tc.pool
		ga, wa := &analysis{d: &got}, &analysis{d: &want}
		f.markLoss(ga)
		refMarkLoss(&want, wa)
		if ga.lost != wa.lost || ga.retxDelay != wa.retxDelay || ga.retxAfter != wa.retxAfter {
			t.Errorf("%s: lost %d, want %d (retransmission delays equal: %v, from the next segment: %v)", tc.name, ga.lost, wa.lost, ga.retxDelay == wa.retxDelay, ga.retxAfter == wa.retxAfter)
		}
		if ga.retxAfter.n == 0 {
			t.Errorf("%s: no delay from the next segment measured", tc.name)
		}
		for i := range got.rb.n {
			if g, w := *got.rb.at(i), *want.rb.at(i); g != w {
				t.Fatalf("%s: record %d is %+v, want %+v", tc.name, i, g, w)
			}
		}
	}
}

// bulkRecs is a receiver-side bulk trace as scanRecv's gap counts see
// it: mostly full-sized frames with gaps of a few µs, some around and
// past dispGaps, other frame lengths, a zero-length frame, hole records
// (the first holes of them leading).
func bulkRecs(n, holesFirst int, rnd *rand.Rand) []rec {
	recs := make([]rec, 0, n)
	seq, t := uint32(1), uint32(0)
	for len(recs) < n {
		r := rec{t: t, seq: seq, plen: 1448, flen: 1514, kind: recOrig}
		switch x := rnd.IntN(100); {
		case len(recs) < holesFirst || x < 3:
			r.kind, r.flags = recHole, recLost
		case x < 6:
			r.flen = uint16(60 + rnd.IntN(1454))
		case x < 7:
			r.flen = 0
		case x < 12:
			t += uint32(dispGaps - 3 + rnd.IntN(6))
		case x < 14:
			t += uint32(rnd.IntN(100000))
		default:
			t += uint32(rnd.IntN(6))
		}
		r.t = t
		seq += 1448
		recs = append(recs, r)
	}
	return recs
}

// TestHistAddN: addN(v, n) is n adds of v, a saturating bin included.
func TestHistAddN(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 5))
	for range 2000 {
		var got, want logHist
		for range rnd.IntN(20) {
			v, n := float64(rnd.IntN(3000))/7, uint64(rnd.IntN(5))
			if rnd.IntN(10) == 0 { // a bin near saturation
				i := histIndex(v)
				got.counts[i], want.counts[i] = math.MaxUint32-2, math.MaxUint32-2
			}
			got.addN(v, n)
			for range n {
				want.add(v)
			}
		}
		if got != want {
			t.Fatalf("addN differs from adds: %+v, want %+v", got.n, want.n)
		}
	}
}

// A member of a shared queue sends a segment every 30 ms (7 reno flows
// through a 3.4 Mbit/s shaper: heldout20 g037, spent). A fast
// retransmission comes one RTT, queueing included, after the segment
// that followed the lost one, which is five of the flow's own segment
// times after the lost one. sendQueue reads the path's queue off it (70
// ms over a 47 ms RTT); behind a policer, with no queue, about none.
func TestSendQueueSharedMember(t *testing.T) {
	const base, gap = 47_000, 30_000 // µs
	for _, tc := range []struct {
		name            string
		queue           uint32 // µs
		queued, noQueue bool
	}{
		{"shared shaper", 70_000, true, false},
		{"shared policer", 1_000, false, true},
	} {
		var recs []rec
		seq, tm := uint32(1), uint32(0)
		for k := range 600 {
			tm += gap
			recs = append(recs, rec{t: tm, seq: seq, plen: 1448, flen: 1514, kind: recOrig})
			if k%10 == 3 {
				// lost: retransmitted an RTT after the next segment
				// (tm+gap), plus up to 3 ms of the ACKs' own jitter
				rt := tm + gap + base + tc.queue + uint32(k%4)*1000
				recs = append(recs, rec{t: rt, seq: seq, plen: 1448, flen: 1514, kind: recRetx})
			}
			seq += 1448
		}
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].t < recs[j].t })
		var d dirState
		d.rb = recBufOf(recs)
		for i, r := range recs {
			if r.kind == recRetx {
				d.retxRecEnd = int32(i + 1)
			}
		}
		f := NewFlow(DefaultConfig())
		a := &analysis{d: &d, vis: VisDataOnly, plateauBps: 1514 * 8 / 0.03}
		a.rtt.MinMS, a.rtt.Samples = base/1000, 1
		f.markLoss(a)
		f.sendQueue(a)
		want := float64(tc.queue) / 1000
		if !a.sendQOK() || math.Abs(a.sendQ-want) > 1.5 {
			t.Errorf("%s: queue %.1f ms (measured %v), want %.1f ± 1.5", tc.name, a.sendQ, a.sendQOK(), want)
		}
		if a.sendQueued() != tc.queued || a.sendUnqueued() != tc.noQueue {
			t.Errorf("%s: queued %v, no queue %v; want %v, %v", tc.name, a.sendQueued(), a.sendUnqueued(), tc.queued, tc.noQueue)
		}
	}
}
