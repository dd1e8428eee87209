package diagnose

import (
	"math"
	"sort"
	"unsafe"
)

// flachResult is the outcome of the Flach et al. policing detector.
// Codes follow policing_detector.py: 0 ok, 1 insufficient loss, 2 late
// loss, 3 negative fill, 4 higher fill on loss, 5 loss fill out of range,
// 6 pass fill out of range, 7 inflated RTT.
type flachResult struct {
	code     int
	rate     float64 // wire bits/s
	burst    float64 // wire bytes before the first loss
	inflFrac float64 // losses preceded by an inflated RTT / losses (-1: not run)
}

// packetRTTus is a record's "ack delay" in µs for the detector, or -1.
func (a *analysis) packetRTTus(r *rec) float64 {
	if r.flags&recLost != 0 || r.kind == recHole {
		return -1
	}
	if a.receiver {
		if r.rttB == 0 {
			return -1
		}
		add := 0.0
		if a.d.minA > 0 {
			add = float64(a.d.minA) / 1000
		}
		return float64(r.rttB-1) + add
	}
	if r.kind != recOrig || r.rttA == 0 {
		return -1
	}
	add := 0.0
	if a.d.minB > 0 {
		add = float64(a.d.minB) / 1000
	}
	return float64(r.rttA-1) + add
}

// flach ports get_policing_params_for_endpoint with its constants. Sizes
// are wire bytes (Ethernet frames) so that the rate is the one a policer
// configured on L2 bytes enforces; the late-loss test keeps the payload
// sequence number as the original does.
func (f *Flow) flach(a *analysis, cutoff int) flachResult {
	c := &f.cfg
	recs := &a.d.rb
	res := flachResult{inflFrac: -1}
	// The first and last loss skipping cutoff losses at each end, and
	// the goodput between them, from the one scan of the records
	// (cutoff < flachScan).
	sc := a.recordScan()
	first, last, passed, ok := sc.lossAt(cutoff)
	if !ok {
		res.code = 1
		return res
	}
	firstNoSkip := int(sc.first[0])
	if float64(recs.at(first).seq) > c.FlachLateLossBytes {
		res.code = 2
		return res
	}
	// 2. goodput between first and last loss
	if recs.at(first).t == recs.at(last).t {
		res.code = 1
		return res
	}
	// (whole bytes: the sum is exact in float64, as the sum of the
	// records' float64 sizes one by one was)
	bytes := float64(passed)
	rate := bytes * 8 * 1e6 / float64(recs.at(last).t-recs.at(first).t)
	res.rate = rate
	med := a.medRTTus
	lossZero := c.FlachLossRTTMult * med * rate / 8e6
	passZero := c.FlachPassRTTMult * med * rate / 8e6
	t0 := recs.at(0).t
	wr := a.wireRatio
	if wr == 0 {
		wr = 1
	}
	yint := float64(recs.at(first).seq)*wr - rate*float64(recs.at(first).t-t0)/8e6
	if yint < -passZero {
		res.code = 3
		return res
	}
	// 3. simulate a policer from the first loss
	var used float64
	// The sample slices are the analysis's, reused by the second call.
	onLoss, onPass := a.onLoss[:0], a.onPass[:0]
	defer func() { a.onLoss, a.onPass = onLoss[:0], onPass[:0] }()
	var hist logHist
	var rtts int
	prev1, prev2 := -1.0, -1.0
	slices := 1
	sliceEnd := float64(recs.at(first).t) + med
	seenFirst, seenFirstNoSkip := false, false
	var burst float64
	infl, all := 0, 0
	ft := recs.at(first).t
	i := -1
	for _, ch := range recs.chunks {
		for k := range ch {
			i++
			r := &ch[k]
			if r.flags&recVoid != 0 {
				continue
			}
			if v := a.packetRTTus(r); v >= 0 {
				hist.add(v)
				rtts++
				prev2, prev1 = prev1, v
			}
			if i == first {
				seenFirst = true
			}
			if i == firstNoSkip {
				seenFirstNoSkip = true
			}
			if !seenFirstNoSkip {
				burst += float64(r.flen)
			}
			if !seenFirst {
				continue
			}
			avail := rate*float64(r.t-ft)/8e6 - used
			if r.flags&recLost != 0 {
				onLoss = append(onLoss, avail)
				if rtts > 1 && prev2 >= hist.quantile(0.5) &&
					prev2 > c.FlachInflatedFactor*hist.quantile(c.FlachInflatedPct/100) &&
					prev2 >= c.FlachInflatedMinMS*1000 {
					infl++
				}
				all++
				if float64(r.t) > sliceEnd {
					sliceEnd = float64(r.t) + med
					slices++
				}
			} else {
				onPass = append(onPass, avail)
				used += float64(r.flen)
			}
		}
	}
	res.burst = burst
	if all > 0 {
		res.inflFrac = float64(infl) / float64(all)
	}
	if slices < c.FlachMinLossSlices || len(onLoss) < c.FlachMinSamples || len(onPass) < c.FlachMinSamples {
		res.code = 1
		return res
	}
	ml, _ := meanStd(onLoss)
	mp, _ := meanStd(onPass)
	sort.Float64s(onLoss)
	medLoss := median(onLoss)
	// onPass holds every unlost packet: a selection instead of a sort
	// gives the same median in linear time (the checks below count,
	// they do not need the order).
	if ml >= mp || medLoss >= medianSelect(onPass) {
		res.code = 4
		return res
	}
	out := 0
	for _, v := range onLoss {
		if math.Abs(v-medLoss) > lossZero {
			out++
		}
	}
	if float64(len(onLoss))*c.FlachLossOutOfRange < float64(out) {
		res.code = 5
		return res
	}
	out = 0
	for _, v := range onPass {
		if v-medLoss < -passZero {
			out++
		}
	}
	if float64(len(onPass))*c.FlachPassOutOfRange < float64(out) {
		res.code = 6
		return res
	}
	if float64(infl) > c.FlachInflatedTolerance*float64(all) {
		res.code = 7
		return res
	}
	res.code = 0
	return res
}

// median of a sorted slice, as Python's statistics.median.
func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianSelect is median(sorted s) without sorting all of s: it
// reorders s. NaNs (which sort first) fall back to the sort.
func medianSelect(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	for _, v := range s {
		if v != v {
			sort.Float64s(s)
			return median(s)
		}
	}
	k := n / 2
	selectKth(s, k)
	if n%2 == 1 {
		return s[k]
	}
	lo := s[0]
	for _, v := range s[1:k] {
		lo = max(lo, v)
	}
	return (lo + s[k]) / 2
}

// selectKth reorders s so that s[k] is the value a sort would put there,
// with s[:k] <= s[k] <= s[k+1:] (Hoare's quickselect, middle pivot).
func selectKth(s []float64, k int) {
	lo, hi := 0, len(s)-1
	for lo < hi {
		p := s[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for s[i] < p {
				i++
			}
			for s[j] > p {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

// inflScan is inflatedLossFrac's pass between live losses: the delays
// seen so far (hist, rtts), the last two (prev1, prev2), and what it
// adds to each.
type inflScan struct {
	hist         logHist
	rtts         int
	prev1, prev2 float64
	add          float64 // the other half's minimum, ms
	recv         bool    // receiver side: rttB, else the originals' rttA
	// lastUs: the delay of the last sample added (0 none): a record
	// with the same delay adds the same value (prev1)
	lastUs uint32
}

// run adds the delays of ch's records from k on, up to the next live
// lost record, and returns that record's index (len(ch) when none). (A
// loop without calls, its state in registers: with the quantiles of
// each loss in the same loop the compiler spilled it around them on
// every record.)
func (st *inflScan) run(ch []rec, k int) int {
	h := &st.hist
	rtts, prev1, prev2, lastUs := st.rtts, st.prev1, st.prev2, st.lastUs
	recv, add := st.recv, st.add
	rep := uint64(0)
	p, end := recsOff(ch) // (by byte offset: one load a field)
	off := uintptr(k) * recSize
	for ; off < end; off += recSize {
		r := (*rec)(unsafe.Add(p, off))
		flags := r.flags
		if flags&recVoid != 0 {
			continue
		}
		if flags&recLost != 0 {
			break
		}
		kind := r.kind
		if kind == recHole {
			continue
		}
		us := r.rttB
		if !recv {
			us = 0
			if kind == recOrig {
				us = r.rttA
			}
		}
		if us == 0 {
			continue
		}
		rtts++
		if us == lastUs { // (a run: rttB changes once per echo sample)
			rep++
			continue
		}
		if rep > 0 {
			h.addN(prev1, rep)
			rep = 0
		}
		v := float64(us-1) + add
		h.add(v)
		prev2, prev1 = prev1, v
		lastUs = us
	}
	// rep repeats of prev1 since it was added: add them (their minimum
	// is prev1's, not below the histogram's), and each made prev2 prev1
	if rep > 0 {
		h.addN(prev1, rep)
		prev2 = prev1
	}
	st.rtts, st.prev1, st.prev2, st.lastUs = rtts, prev1, prev2, lastUs
	return int(off / recSize)
}

// inflatedLossFrac is the share of losses preceded by an inflated RTT
// (Flach step 9 over all losses), -1 without losses.
func (f *Flow) inflatedLossFrac(a *analysis) float64 {
	if a.flach[0].inflFrac >= 0 {
		return a.flach[0].inflFrac
	}
	// without a live lost record the pass below counts none
	if a.scan.done && a.scan.nLost == 0 {
		return -1
	}
	c := &f.cfg
	infl, all := 0, 0
	// packetRTTus written out for the pass (a bulk flow's 131,072
	// records): the side and the added half are the same for every
	// record, and a lost record or a hole has no delay
	st := inflScan{prev1: -1, prev2: -1, recv: a.receiver}
	if st.recv && a.d.minA > 0 {
		st.add = float64(a.d.minA) / 1000
	} else if !st.recv && a.d.minB > 0 {
		st.add = float64(a.d.minB) / 1000
	}
	// Records after the last live loss change nothing counted: with the
	// scan done, the pass ends at it.
	end := a.d.rb.n
	if a.scan.done {
		end = int(a.scan.last[(a.scan.nLost-1)%flachScan]) + 1
	}
	for i, ch := range a.d.rb.chunks {
		if first := recHead + (i-1)*recChunk; i > 0 && first >= end {
			break
		}
		// each live lost record: was the delay before it inflated?
		for k := st.run(ch, 0); k < len(ch); k = st.run(ch, k+1) {
			all++
			if st.rtts > 1 && st.prev2 >= st.hist.quantile(0.5) &&
				st.prev2 > c.FlachInflatedFactor*st.hist.quantile(c.FlachInflatedPct/100) &&
				st.prev2 >= c.FlachInflatedMinMS*1000 {
				infl++
			}
		}
	}
	if all == 0 {
		return -1
	}
	return float64(infl) / float64(all)
}
