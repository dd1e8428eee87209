package diagnose

import (
	"fmt"
	"math"
	"sort"
)

// Serialisation: a queue served at one rate (a tbf shaper, a link with its
// FIFO) sends what it holds one serialisation time apart, so at a point
// after it a flow's back-to-back segments arrive at that rate: the packet
// dispersion's capacity (dispersion) equals the flow's own delivered rate
// when the flow is alone at it, and the members' summed rate when several
// share it. A policer queues nothing: what it lets through keeps the
// spacing it came with, the sender's bursts at the line rate (or at its
// pacing rate, which stays off the policer's: BBR's gain cycle).
//
// Read on the spent held-out sets heldout9-14 (twelfth session), at
// receiver-side points with both directions: the capacity of 87 flows
// through policers stood 1.15-20x their own plateau (5th percentile
// 1.38), that of 230 flows through shapers and 127 through FIFOs at
// 0.98-1.09x for the quarter alone at their limiter; the members of
// shared ones stood at 0.95-1.13x the limiter's rate in 57 of 63 captures,
// the members of a capture alike to 2 % in most (the members of shared
// policers: 0.13-0.86x, or 1.43-9.5x, apart by 10-200 %). A shaper or FIFO whose queue is a few ms on a long path
// shows no RTT growth and drops at its tail when full: Flach's test and
// the flat-rate-with-loss test call it a policer (o042 a 28-frame FIFO at
// 89 Mbit/s on 61 ms, n046 at 26 on 27 ms, 6 cubic flows through an
// 11 Mbit/s shaper with a 6 ms queue on 60 ms: o035).
const (
	// serialLo, serialHi: the capacity over the flow's plateau (or the
	// members' summed plateau) for a rate the queue serialised
	serialLo = 0.94
	serialHi = 1.08
	// serialAgree: the members' capacities, the largest over the
	// smallest, at most this for one queue's serialisation
	serialAgree = 1.05
	// dispPolicerMin: the capacity over the flow's plateau from which
	// its packets kept the sender's spacing (policers: 5th percentile
	// 1.38, above)
	dispPolicerMin = 1.38
)

// serialized: at a receiver-side point, the flow's packets arrived at
// its own rate (see above).
func (a *analysis) serialized() bool {
	return a.receiver && a.capBps > 0 && a.plateauBps > 0 &&
		a.capBps >= serialLo*a.plateauBps && a.capBps <= serialHi*a.plateauBps
}

// serializedShaper turns a policer verdict into a shaper's when the
// flow's packets arrived one serialisation time apart at its rate.
func (f *Flow) serializedShaper(a *analysis, dg *Diagnosis) {
	if dg.Verdict != VerdictPolicer || !a.serialized() {
		return
	}
	dg.Verdict = VerdictShaper
	dg.Confidence = 0.5
	dg.RateBps = math.Round(a.plateauBps)
	dg.BurstBytes = 0
	q := a.queueMS
	if a.vis == VisDataOnly {
		q = a.owdQ
	}
	dg.QueueDelayMS = round3(math.Max(0, q))
	dg.Evidence = append(dg.Evidence,
		fmt.Sprintf("packet dispersion: back-to-back segments arrived %s apart, a rate of %s against the flow's %s: a queue served at that rate spaced them (a policer passes the sender's spacing)",
			msTxt(1514*8/a.capBps*1e3), mbps(a.capBps), mbps(a.plateauBps)),
		"not policed as the loss alone suggests: "+dg.Summary)
	suffix := ""
	if a.vis == VisDataOnly {
		suffix = " (only the data direction is mirrored)"
	}
	dg.Summary = fmt.Sprintf("shaped at %s: segments arrive one serialisation time apart at the flow's rate (CV %.2f), queueing delay up to %.0f ms, %.2f%% loss at the queue's tail%s",
		mbps(a.plateauBps), a.plateauCV, math.Max(0, q), 100*a.lossFrac, suffix)
}

// membersSerialized: every member measured its capacity at a receiver-side
// point, the capacities agree (serialAgree) and their median is the
// summed plateau's rate bps (serialLo, serialHi). It returns the median.
func membersSerialized(flows []FlowRef, idx []int, bps float64) (float64, bool) {
	caps := make([]float64, 0, len(idx))
	for _, i := range idx {
		c := flows[i].Diagnosis.Agg.CapBps
		if c <= 0 {
			return 0, false
		}
		caps = append(caps, c)
	}
	sort.Float64s(caps)
	if len(caps) == 0 || caps[len(caps)-1] > serialAgree*caps[0] {
		return 0, false
	}
	m := quantileSorted(caps, 0.5)
	return m, bps > 0 && m >= serialLo*bps && m <= serialHi*bps
}

// A shared queue the members keep full part of the time: their losses
// and backoffs leave its output short between the peaks (reno and cubic
// flows losing 5-25 % behind a deep FIFO, several of them synchronised;
// a slow tbf whose large bucket lets the queue out in bursts after
// them), so the summed rate is not flat, but whenever they fill it the
// sum reaches the queue's rate, and their back-to-back packets leave it
// one serialisation time apart. Traffic the capture does not show
// competing for the queue would leave the visible sum short of the
// capacity the spacing gives, peaks included. (At a sender-side point of
// a bidirectional transfer the ACKs queue behind the other way's data
// and give no capacity: dispersion; such members stay as they were.)
const (
	// fillAgree: a member's capacity within this of the members' median
	// counts as the same queue's
	fillAgree = 0.05
	// fillMinMedian, fillMaxMedian: the summed plateau's median over the
	// capacity
	fillMinMedian = 0.8
	fillMaxMedian = serialHi
	// fillTopQ, fillTop: the summed plateau reaches fillTop of the
	// capacity at this quantile of its bins
	fillTopQ = 0.85
	fillTop  = 0.95
)

// membersFill: two thirds of the members at least measured the same
// capacity (at a receiver-side point from their segments, at a
// sender-side point from their ACKs), and the members' summed plateau pts
// sits near it at the median and reaches it at its top (see above). It
// returns the members' median capacity.
func membersFill(flows []FlowRef, idx []int, pts []float64, bps float64) (float64, bool) {
	caps := make([]float64, 0, len(idx))
	for _, i := range idx {
		a := flows[i].Diagnosis.Agg
		if c := math.Max(a.CapBps, a.AckCapBps); c > 0 {
			caps = append(caps, c)
		}
	}
	if len(caps) == 0 || 3*len(caps) < 2*len(idx) {
		return 0, false
	}
	sort.Float64s(caps)
	m := quantileSorted(caps, 0.5)
	agree := 0
	for _, c := range caps {
		if math.Abs(c-m) <= fillAgree*m {
			agree++
		}
	}
	if 3*agree < 2*len(idx) {
		return 0, false
	}
	return m, bps >= fillMinMedian*m && bps <= fillMaxMedian*m && ceiling(pts, fillTopQ) >= fillTop*m
}
