package diagnose

import (
	"math"
	"math/rand/v2"
	"testing"
)

// histIndexRef is histIndex as it was before the one-expression form.
func histIndexRef(v float64) int {
	if v < 1 {
		return 0
	}
	b := math.Float64bits(v)
	e := int(b>>52&0x7ff) - 1023
	if e >= histOctaves {
		return histBins - 1
	}
	m := int(b >> (52 - 4) & (histSub - 1))
	return 1 + e*histSub + m
}

func TestHistIndexMatchesReference(t *testing.T) {
	vals := []float64{math.Inf(-1), -1e300, -1, 0, 0.5, 0.999999, 1, 1.0625, 1.9999, 2, 3, 1e6,
		math.Ldexp(1, histOctaves) * 0.99999, math.Ldexp(1, histOctaves), math.Ldexp(1.5, histOctaves), 1e300,
		math.Inf(1), math.NaN(), math.Float64frombits(0xfff8000000000001), math.MaxFloat64, math.SmallestNonzeroFloat64}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		vals = append(vals, math.Ldexp(rnd.Float64()+0.5, rnd.IntN(90)-20), math.Float64frombits(rnd.Uint64()))
	}
	for e := -2; e <= histOctaves+2; e++ { // every bin edge and its neighbours
		for m := range histSub {
			x := math.Ldexp(1+float64(m)/histSub, e)
			vals = append(vals, x, math.Nextafter(x, 0), math.Nextafter(x, math.Inf(1)))
		}
	}
	for _, v := range vals {
		if got, want := histIndex(v), histIndexRef(v); got != want {
			t.Fatalf("histIndex(%v) = %d, want %d", v, got, want)
		}
	}
}

// inflatedLossFracRef is inflatedLossFrac's pass as it was, through
// packetRTTus and at.
func inflatedLossFracRef(f *Flow, a *analysis) float64 {
	c := &f.cfg
	var hist logHist
	rtts, infl, all := 0, 0, 0
	prev1, prev2 := -1.0, -1.0
	for i := range a.d.rb.n {
		r := a.d.rb.at(i)
		if r.flags&recVoid != 0 {
			continue
		}
		if v := a.packetRTTus(r); v >= 0 {
			hist.add(v)
			rtts++
			prev2, prev1 = prev1, v
		}
		if r.flags&recLost == 0 {
			continue
		}
		all++
		if rtts > 1 && prev2 >= hist.quantile(0.5) &&
			prev2 > c.FlachInflatedFactor*hist.quantile(c.FlachInflatedPct/100) &&
			prev2 >= c.FlachInflatedMinMS*1000 {
			infl++
		}
	}
	if all == 0 {
		return -1
	}
	return float64(infl) / float64(all)
}

func TestInflatedLossFracMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 9))
	traces := [][]rec{nil, mixedRecs(1, rnd), mixedRecs(recHead+2*recChunk+5, rnd),
		policedRecs(12e6, 8e6, 24000, 3000, rnd), aimdRandomLoss(0.02, 3000, rnd)}
	// RTTs that grow before some losses (the inflated case)
	grow := mixedRecs(4000, rnd)
	for i := range grow {
		grow[i].rttA = uint32(1000 + 30*(i%400))
		grow[i].rttB = grow[i].rttA
	}
	traces = append(traces, grow)
	// delays in runs, as rttB is (one value per echo sample), rttA too
	runs := mixedRecs(recHead+3*recChunk, rnd)
	for i := 0; i < len(runs); {
		k, a, b := 1+rnd.IntN(30), uint32(rnd.IntN(3)*(1+rnd.IntN(20000))), uint32(rnd.IntN(3)*(1+rnd.IntN(20000)))
		for ; k > 0 && i < len(runs); k, i = k-1, i+1 {
			runs[i].rttA, runs[i].rttB = a, b
		}
	}
	traces = append(traces, runs)
	// losses that end early, a chunk or more before the records do
	early := mixedRecs(recHead+4*recChunk, rnd)
	for i := range early {
		if i > recHead+recChunk+100 {
			early[i].flags &^= recLost
		}
	}
	traces = append(traces, early)
	for ti, recs := range traces {
		for _, recv := range []bool{false, true} {
			for _, minRTT := range []int64{-1, 0, 2_345_678} {
				f := NewFlow(DefaultConfig())
				f.cfg.FlachInflatedMinMS = 0.5
				f.d[0].rb = recBufOf(recs)
				f.d[0].minA, f.d[0].minB = minRTT, minRTT/3
				for _, scanned := range []bool{false, true} { // (with the scan, the pass ends at the last loss)
					a := &analysis{d: &f.d[0], receiver: recv}
					a.flach[0].inflFrac = -1
					if scanned {
						a.scanRecords()
					}
					got, want := f.inflatedLossFrac(a), inflatedLossFracRef(f, a)
					if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
						t.Errorf("trace %d receiver %v min %d scanned %v: %v, want %v", ti, recv, minRTT, scanned, got, want)
					}
				}
			}
		}
	}
}

// A pool's chunks come back with their old records: add's slot must be
// written whole, and the chunks' lengths and at() agree across the head
// chunk and chunk boundaries.
func TestRecBufAddReusedChunks(t *testing.T) {
	pool := NewRecordPool()
	var junk recBuf
	for i := range recHead + 3*recChunk {
		junk.push(rec{t: ^uint32(0), seq: uint32(i), plen: 7, flen: 7, rttA: 9, rttB: 9, kind: recHole, flags: 0xff, owd: -1}, pool)
	}
	pool.put(junk.chunks[1:])
	rnd := rand.New(rand.NewPCG(2, 3))
	want := mixedRecs(recHead+3*recChunk+1, rnd)
	var b recBuf
	for i, r := range want {
		if i%2 == 0 {
			b.push(r, pool)
		} else {
			if b.n == b.lim {
				b.grow(pool)
			}
			*b.slot() = r
		}
	}
	if b.n != len(want) {
		t.Fatalf("n = %d, want %d", b.n, len(want))
	}
	caps := 0 // MemBytes counts lim records: the chunks' capacities
	for _, c := range b.chunks {
		caps += cap(c)
	}
	if b.lim != caps {
		t.Fatalf("lim = %d, the chunks hold %d", b.lim, caps)
	}
	i := 0
	for k, c := range b.chunks {
		if w := min(recChunk, len(want)-i); k == 0 && len(c) != recHead || k > 0 && len(c) != w {
			t.Fatalf("chunk %d holds %d records", k, len(c))
		}
		for j := range c {
			if c[j] != want[i] || *b.at(i) != want[i] {
				t.Fatalf("record %d = %+v / %+v, want %+v", i, c[j], *b.at(i), want[i])
			}
			i++
		}
	}
}

// Observe stays allocation-free while it records (TestObserveAllocs's
// flow is past MaxRecords): records are written in place into chunks a
// pool lends (one get per 1024 records, carved from a slab mapped once),
// and ackPending stamps them.
func TestObserveAllocsRecording(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecords = 1 << 20
	cfg.SeriesPoints = 8
	cfg.Records = NewRecordPool()
	f := NewFlow(cfg)
	s := newSynth(120e3, 10e6)
	for range 5000 {
		s.next(f)
	}
	if n := testing.AllocsPerRun(20000, func() { s.next(f) }); n != 0 {
		t.Errorf("Observe allocates %.2f times per packet while recording, want 0", n)
	}
	d := &f.d[0]
	if d.rb.n < 25000 {
		t.Fatalf("%d records, want every segment recorded", d.rb.n)
	}
	stamped := 0
	for i := range d.rb.n - 100 {
		if d.rb.at(i).rttA > 0 {
			stamped++
		}
	}
	if stamped < d.rb.n/2 {
		t.Errorf("%d of %d records have their ACK delay", stamped, d.rb.n)
	}
}

// ackPendingRef is ackPending's former loop: one pop at a time.
func ackPendingRef(o *dirState, ack uint32, ts int64) *pend {
	var last *pend
	for o.pn > 0 {
		e := &o.pend[o.ph%pendRing]
		if !seqLE(e.end, ack) {
			break
		}
		if !o.inRecovery || !seqLE(e.end, o.recoverEnd) {
			if e.rec >= 0 && int(e.rec) < o.rb.n {
				o.rb.at(int(e.rec)).rttA = uint32((ts-e.t)/1000) + 1
			}
			last = e
		}
		o.ph = (o.ph + 1) % pendRing
		o.pn--
	}
	return last
}

func TestAckPendingMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(4, 8))
	for trial := range 3000 {
		var got, want dirState
		nrec := rnd.IntN(3 * recChunk)
		for range nrec {
			got.rb.push(rec{}, nil)
			want.rb.push(rec{}, nil)
		}
		// a ring of pending segments, ends increasing, wrapping the
		// ring; records a prefix, or any (-1 or not, or past n)
		ph := uint32(rnd.IntN(pendRing))
		pn := uint32(rnd.IntN(pendRing + 1))
		end := uint32(rnd.Uint32())
		ri := rnd.IntN(nrec + 1)
		// send times in sending order (ackPending's 32-bit division
		// counts on it), with steps from none to seconds: the delays
		// reach past 2^32 ns for the oldest segments of some rings
		st := int64(rnd.IntN(1e9))
		step := []int{1, 1e3, 1e6, 30e6, 3e9}[trial%5]
		for j := range pn {
			st += int64(rnd.IntN(step))
			end += uint32(1 + rnd.IntN(3000))
			r := int32(-1)
			switch x := rnd.IntN(10); {
			case trial%2 == 0 && ri < nrec: // a prefix recorded
				r = int32(ri)
				ri++
			case trial%2 == 1 && x < 6:
				r = int32(rnd.IntN(nrec + 5))
			}
			e := pend{end: end, rec: r, t: st}
			got.pend[(ph+j)%pendRing], want.pend[(ph+j)%pendRing] = e, e
		}
		got.ph, got.pn, want.ph, want.pn = ph, pn, ph, pn
		if rnd.IntN(3) == 0 {
			got.inRecovery, want.inRecovery = true, true
			re := end - uint32(rnd.IntN(int(pn)*3000+1))
			got.recoverEnd, want.recoverEnd = re, re
		}
		ack := end - uint32(rnd.IntN(int(pn)*2000+2000))
		ts := st + int64(rnd.IntN([]int{1e9, 6e9}[trial%2]))
		g, w := got.ackPending(ack, ts), ackPendingRef(&want, ack, ts)
		if (g == nil) != (w == nil) || g != nil && *g != *w {
			t.Fatalf("trial %d: last %v, want %v", trial, g, w)
		}
		if got.ph != want.ph || got.pn != want.pn {
			t.Fatalf("trial %d: ring at %d+%d, want %d+%d", trial, got.ph, got.pn, want.ph, want.pn)
		}
		for i := range nrec {
			if a, b := got.rb.at(i).rttA, want.rb.at(i).rttA; a != b {
				t.Fatalf("trial %d: record %d rttA %d, want %d", trial, i, a, b)
			}
		}
	}
}

// owdQueueRef is owdQueue's measurement from the data's timestamps as it
// was before owdCountWin: two passes through recBuf.at.
func owdQueueRef(d *dirState) (q float64, ok bool) {
	n, lo, hi := 0, int16(math.MaxInt16), int16(math.MinInt16)
	for i := range d.rb.n {
		if r := d.rb.at(i); r.kind == recOrig {
			n++
			lo, hi = min(lo, r.owd), max(hi, r.owd)
		}
	}
	if n < 50 {
		return 0, false
	}
	counts := make([]int32, int(hi)-int(lo)+1)
	for i := range d.rb.n {
		if r := d.rb.at(i); r.kind == recOrig {
			counts[int(r.owd)-int(lo)]++
		}
	}
	return quantileCounts(counts, n, lo, 0.9) - quantileCounts(counts, n, lo, 0.02), true
}

// TestOwdQueueMatchesReference: the windowed count (and its fallback to
// exact bounds) gives the two passes' queueing delay, record for record.
func TestOwdQueueMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 9))
	pool := NewRecordPool()
	paths := [2]int{}
	for trial := range 600 {
		f := NewFlow(DefaultConfig())
		d := &f.d[0]
		d.tsn, d.hasOwd = 1, true
		nrec := rnd.IntN(3 * owdWinMin)
		if trial%5 == 0 {
			nrec = owdWinMin - 2 + rnd.IntN(4)
		}
		// owd ranges inside the window, at its edges and past them
		spread := []int{0, 3, 300, 3000, owdWin, 40000}[rnd.IntN(6)]
		center := []int{0, -owdWinOff, owdWin - owdWinOff - 1, -500, 2000}[rnd.IntN(5)]
		for range nrec {
			kind := recOrig
			if rnd.IntN(8) == 0 {
				kind = uint8(rnd.IntN(4))
			}
			v := center
			if spread > 0 {
				v += rnd.IntN(spread+1) - spread/2
			}
			*d.rb.add(pool) = rec{kind: kind, owd: int16(max(math.MinInt16, min(math.MaxInt16, v)))}
		}
		wantQ, wantOK := owdQueueRef(d)
		a := &analysis{d: d, vis: VisBoth}
		f.owdQueue(a)
		if a.owdOK != wantOK || a.owdQ != wantQ {
			t.Fatalf("trial %d (%d records, spread %d at %d): owdQueue %v %v, want %v %v (%s)", trial, nrec, spread, center, a.owdQ, a.owdOK, wantQ, wantOK, a.owdWhy)
		}
		if _, out := owdCountWin(d.rb.chunks, new([owdWin]int32)); nrec >= owdWinMin {
			paths[min(out, 1)]++
		}
		f.releaseRecords()
	}
	if paths[0] == 0 || paths[1] == 0 {
		t.Errorf("window paths taken %v: want both", paths)
	}
}
