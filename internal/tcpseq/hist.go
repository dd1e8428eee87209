package tcpseq

import "math/bits"

// hist is a log-scale histogram of durations in ns: 8 buckets per power
// of two (about 9% wide) from 1 µs up to about 18 minutes, with the exact
// minimum, maximum, count and sum kept aside. Its size is fixed (1 KB),
// so a flow with millions of samples uses no more memory than one with
// ten. Quantiles are the geometric middle of their bucket, clamped to
// [min, max].
type hist struct {
	n, sum   int64
	min, max int64
	b        [histBuckets]uint32
}

const (
	histSub     = 8  // buckets per octave
	histMinBits = 10 // values below 2^10 ns share bucket 0
	histBuckets = (41-histMinBits)*histSub + 1
)

func histIndex(v int64) int {
	if v < 1<<histMinBits {
		return 0
	}
	l := bits.Len64(uint64(v)) // v in [2^(l-1), 2^l)
	sub := int(uint64(v)>>(uint(l)-4)) & (histSub - 1)
	i := (l-histMinBits-1)*histSub + sub + 1
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

// bucketMid returns a representative value of bucket i.
func bucketMid(i int) int64 {
	if i == 0 {
		return 1 << (histMinBits - 1)
	}
	i--
	l := i/histSub + histMinBits + 1
	sub := i % histSub
	lo := (int64(histSub + sub)) << uint(l-4)
	hi := (int64(histSub + sub + 1)) << uint(l-4)
	return (lo + hi) / 2
}

func (h *hist) add(v int64) {
	if v < 0 {
		v = 0 // timestamps stepping backwards; keep the sample at 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
	i := histIndex(v)
	if h.b[i] != ^uint32(0) {
		h.b[i]++
	}
}

// quantile returns the q-quantile (0 <= q <= 1).
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var acc uint64
	for i, c := range h.b {
		acc += uint64(c)
		if acc >= rank {
			v := bucketMid(i)
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

// countIn counts samples whose bucket midpoint lies in [lo, hi).
func (h *hist) countIn(lo, hi int64) uint64 {
	var n uint64
	for i, c := range h.b {
		if c == 0 {
			continue
		}
		if m := bucketMid(i); m >= lo && m < hi {
			n += uint64(c)
		}
	}
	return n
}

// Dist summarises a distribution of durations, in milliseconds.
type Dist struct {
	Samples  int64   `json:"samples"`
	MinMS    float64 `json:"min_ms"`
	MedianMS float64 `json:"median_ms"`
	P90MS    float64 `json:"p90_ms"`
	MaxMS    float64 `json:"max_ms"`
	MeanMS   float64 `json:"mean_ms"`
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func (h *hist) dist() *Dist {
	if h == nil || h.n == 0 {
		return nil
	}
	return &Dist{
		Samples:  h.n,
		MinMS:    ms(h.min),
		MedianMS: ms(h.quantile(0.5)),
		P90MS:    ms(h.quantile(0.9)),
		MaxMS:    ms(h.max),
		MeanMS:   ms(h.sum / h.n),
	}
}
