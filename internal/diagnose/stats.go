package diagnose

import (
	"math"
	"sort"
)

// logHist is a fixed-size histogram of positive values (µs or bytes) with
// log-linear bins: 16 per power of two (at most 4.4 % wide) from 1 to
// 2^40 (12 days in µs, 1 TiB in bytes). The bin comes from the float's
// exponent and top mantissa bits, so add costs no logarithm.
const (
	histSub     = 16
	histOctaves = 40
	histBins    = histOctaves*histSub + 1
)

type logHist struct {
	n   uint64
	min float64
	// total is the sum of counts (n less the adds a saturated bin did
	// not count), kept so that quantile need not sum 641 bins first.
	total  uint64
	counts [histBins]uint32
}

func histIndex(v float64) int {
	if v < 1 {
		return 0
	}
	// v = 2^e * 1.m: the float's top 16 bits are its sign (0 here, but 1
	// for a negative NaN), the biased exponent e+1023 and m's top 4 bits,
	// so 1 + e*histSub + m is those bits less 1023*histSub, plus 1. From
	// 2^histOctaves up (and for NaN and +Inf) it is the last bin.
	return min(int(math.Float64bits(v)>>48)-1023*histSub+1, histBins-1)
}

// histValue is the middle of bin i.
func histValue(i int) float64 {
	if i == 0 {
		return 0.5
	}
	e := (i - 1) / histSub
	m := (i - 1) % histSub
	return math.Ldexp(1+(float64(m)+0.5)/histSub, e)
}

func (h *logHist) add(v float64) {
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.n++
	c := &h.counts[histIndex(v)]
	if *c < math.MaxUint32 {
		*c++
		h.total++
	}
}

// addN is n adds of v: the histogram holds a multiset, so the order of
// adds does not matter (a bin saturates as n single adds would).
func (h *logHist) addN(v float64, n uint64) {
	if n == 0 {
		return
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.n += n
	c := &h.counts[histIndex(v)]
	k := min(n, uint64(math.MaxUint32-*c))
	*c += uint32(k)
	h.total += k
}

// quantile q in [0,1]; 0 when empty. q==0 gives the exact minimum.
func (h *logHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	target := uint64(math.Ceil(q * float64(h.total)))
	if target == 0 {
		target = 1
	}
	// Bins below the minimum's are empty: start there. The policing
	// test asks for running quantiles at every loss, so this matters.
	var cum uint64
	lo := histIndex(h.min)
	if h.min != h.min { // NaN sorts nowhere: scan every bin
		lo = 0
	}
	for i, c := range h.counts[lo:] {
		i += lo
		cum += uint64(c)
		if cum >= target {
			v := histValue(i)
			if v < h.min {
				v = h.min
			}
			return v
		}
	}
	return h.min
}

// binner accumulates bytes per fixed-width time bin and keeps streaming
// statistics over active bins, plus an optional bounded series.
type binner struct {
	width  int64
	curEnd int64 // end of the open bin (ns): adds before it skip the division
	start  int64 // first bin start (ns); valid when started
	cur    int64 // index of the open bin
	acc    float64
	active bool
	n      float64
	sum    float64
	sumsq  float64
	max    float64
	series *series // nil: no series kept
	// next is the coarser binner this one feeds: each closed bin is
	// added to it whole, so that one add per packet serves all widths.
	// The widths must divide each other (bins sit on the absolute
	// multiples of their width, so a fine bin lies in one coarse bin);
	// the sums are of whole byte counts, exact in float64, so the coarse
	// bins hold exactly what per-packet adds would give.
	next *binner
}

// add is small enough to inline: the common case, a packet inside the
// open bin, costs no call.
func (b *binner) add(ts int64, bytes float64) {
	if b.active && ts < b.curEnd {
		b.acc += bytes
		return
	}
	b.addSlow(ts, bytes)
}

// addSlow opens the bin holding ts, closing the open one.
func (b *binner) addSlow(ts int64, bytes float64) {
	if !b.active {
		b.active = true
		b.start = ts - ts%b.width
		b.cur = 0
	}
	idx := (ts - b.start) / b.width
	if idx < b.cur { // clamped timestamps never step back; be safe
		idx = b.cur
	}
	if idx != b.cur {
		b.close()
		if b.series != nil && idx > b.cur+1 {
			b.series.addZeros(idx - b.cur - 1)
		}
		b.cur = idx
	}
	b.curEnd = b.start + (b.cur+1)*b.width
	b.acc += bytes
}

func (b *binner) close() {
	if b.acc > 0 {
		b.n++
		b.sum += b.acc
		b.sumsq += b.acc * b.acc
		if b.acc > b.max {
			b.max = b.acc
		}
	}
	if b.series != nil {
		b.series.add(b.acc)
	}
	if b.next != nil && b.acc > 0 {
		b.next.add(b.start+b.cur*b.width, b.acc)
	}
	b.acc = 0
}

// stats over active bins; call after finish.
func (b *binner) stats() RateStats {
	rs := RateStats{BinMS: float64(b.width) / 1e6}
	if b.n == 0 {
		return rs
	}
	mean := b.sum / b.n
	v := b.sumsq/b.n - mean*mean
	if v < 0 {
		v = 0
	}
	rs.Bins = int(b.n)
	rs.MeanBps = mean * 8 / (float64(b.width) / 1e9)
	if mean > 0 {
		rs.CV = math.Sqrt(v) / mean
		rs.PeakMean = b.max / mean
	}
	return rs
}

// series keeps at most cap points; each point covers per bins. When full,
// adjacent points are merged (summed) and per doubles.
type series struct {
	cap   int
	per   int64
	pts   []float64 // bytes per point
	acc   float64   // open point
	accN  int64     // bins in the open point
	total int64     // bins added
}

func (s *series) add(bytes float64) {
	s.acc += bytes
	s.accN++
	s.total++
	if s.accN == s.per {
		s.push()
	}
}

func (s *series) push() {
	if len(s.pts) >= s.cap { // cap is even: merge pairs, double the width
		n := len(s.pts) / 2
		for i := 0; i < n; i++ {
			s.pts[i] = s.pts[2*i] + s.pts[2*i+1]
		}
		s.pts = s.pts[:n]
		s.per *= 2
		if s.accN < s.per {
			return
		}
	}
	s.pts = append(s.pts, s.acc)
	s.acc, s.accN = 0, 0
}

func (s *series) addZeros(k int64) {
	for k > 0 {
		if s.accN > 0 || k < s.per {
			need := s.per - s.accN
			if need > k {
				need = k
			}
			s.accN += need
			s.total += need
			k -= need
			if s.accN == s.per {
				s.push()
			}
			continue
		}
		// whole empty points
		s.accN = s.per
		s.total += s.per
		k -= s.per
		s.push()
	}
}

// out converts to bits/s; the open partial point is included scaled by
// its real width.
func (s *series) out(startNS, binNS int64) Series {
	o := Series{StartNS: startNS, StepNS: binNS * s.per}
	o.Bps = make([]float64, 0, len(s.pts)+1)
	for _, v := range s.pts {
		o.Bps = append(o.Bps, v*8/(float64(o.StepNS)/1e9))
	}
	if s.accN > 0 {
		o.Bps = append(o.Bps, s.acc*8/(float64(binNS*s.accN)/1e9))
	}
	return o
}

func quantileSorted(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	if lo == hi {
		return xs[lo]
	}
	return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
}

func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// medianCV: the median of v and its robust CV (1.4826 MAD / median).
func medianCV(v []float64) (med, cv float64) {
	srt := append([]float64(nil), v...)
	sort.Float64s(srt)
	med = quantileSorted(srt, 0.5)
	if med <= 0 {
		return med, 0
	}
	for i, x := range v {
		srt[i] = math.Abs(x - med)
	}
	sort.Float64s(srt)
	return med, 1.4826 * quantileSorted(srt, 0.5) / med
}

// blockMeans: the means of v's consecutive, non-overlapping blocks of n
// values (a last partial block dropped).
func blockMeans(v []float64, n int) []float64 {
	out := make([]float64, 0, len(v)/n)
	for i := 0; i+n <= len(v); i += n {
		sum := 0.0
		for _, x := range v[i : i+n] {
			sum += x
		}
		out = append(out, sum/float64(n))
	}
	return out
}
