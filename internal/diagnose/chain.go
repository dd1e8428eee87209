package diagnose

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Drop chains: a token bucket's rate from the timing of its drops.
//
// A policer drops a segment only when its bucket holds less than that
// segment's worth of tokens. Between two drops t apart with the bucket
// never full in between, it let through what its tokens paid for:
// rate*t, give or take one segment. The delivered rate measures the rate
// only when the senders keep the bucket empty; cubic and reno under a
// small bucket do not (their bursts drop, then they back off and the
// bucket idles full): the delivered rate's ceiling then sits 30-80% under
// the policer's (the largest miss class of the spent held-out sets). The
// drops themselves still show the rate.
//
// The estimate chains drops no more than g apart (a bucket takes
// bucket/rate to fill, so short gaps cannot hide idle tokens), and fits
// passed = rate*span over the chains by least squares (long chains
// weigh most: a segment's error weighs least there). g runs over 5-20
// ms and the median of the fits is the estimate. It needs the drops'
// times at the policer: a sender-side point has them (the segments
// before the limiter, lost ones known by their retransmission); at a
// receiver a drop shows as a hole when the next segment arrives, which
// after a burst's last segments is the next burst, up to a round trip
// later. There the estimate only raises a single flow's policer rate
// (refinePolicer): on the spent sets heldout13-22 and 24 it moved 7
// views with both directions from 13-43% under the rate to within 10%
// of it, and 2 from right to 22-23% over it; for the members of a
// shared policer it does not serve (their holes are each a member's own,
// noticed when that member next sends: 8 aggregates' estimates went
// 24-850% over the rate).
//
// With the ACKs alone (ackChain) the drops are rebuilt from the SACK
// blocks, as a receiver's holes: the estimate raises a single flow's
// policer rate as there, and lowers one read off the top of a varying
// delivered rate (ackCeil, chainLower), which a large bucket's stored
// tokens lift. On the spent sets heldout13-22 and 24 acks_only went
// from 80.2% to 81.1% right: 21 views to within 10% of the rate (cubic
// saw-teeth 13-45% under it, buckets of 143-204 kB 14-22% over), none to
// wrong (after chainRaiseAcks); the 9 views of 3 members of a 7-flow
// policer, each raised apart, no longer agree on
// one rate and are insufficient_data (they were 79-85% under it).

// drop is one data segment seen at a sender-side point, or at a
// receiver-side point one that arrived or a hole (lost).
type drop struct {
	t    int64 // capture time, µs
	flen uint32
	lost bool
}

// DropEvent is a drop as a flow keeps it for the aggregate (AggInput),
// 8 bytes (exported: tests compare a Diagnosis whole).
type DropEvent struct {
	T    uint32 // µs since AggInput.DropBase
	Flen uint16
	Lost bool
}

const (
	// chainMinDrops: the drops the estimate needs
	chainMinDrops = 8
	// chainMaxEvents bounds the segments a flow keeps (8 B each as
	// DropEvent: 512 KiB at most, kept until the report by the flows
	// that may join an aggregate and lost some)
	chainMaxEvents = 1 << 16
	// chainMinChains: chains (10 ms gaps) the estimate needs
	chainMinChains = 4
	// chainMinSegs: the token time the chains must span (raises)
	chainMinSegs = 2
	// chainPeakNS: the estimate cannot exceed the segments' highest
	// rate over this window (a policer passes no more than arrives).
	// Chains of drops µs apart inside one burst at the sender (a
	// bidirectional reno flow) fitted 543 Mbit/s to a 52 Mbit/s
	// policer; heldout6, spent
	chainPeakNS = 10e6
	// chainRaise: the estimate replaces a policer's rate read off the
	// delivered rate only when above it by more than this factor (the
	// delivered rate is a lower bound; the estimate's own spread on
	// flows that fill their bucket is 5-10%)
	chainRaise = 1.15
	// chainRaiseAcks: chainRaise with the ACKs alone, whose times stand
	// for the arrivals with the receiver's ACK clocking on top: raised
	// 15-17% over a flat or varying delivered rate that was right, a
	// reno flow through a 177 kB bucket at 12 Mbit/s and a cubic one
	// through 89 kB at 52 (heldout32 af007, once evaluated then read;
	// heldout21 f016); the raises that were right stood 24-90% over
	// (cubic saw-teeth 13-45% under the rate; spent sets)
	chainRaiseAcks = 1.2
	// chainLower: with the ACKs alone, the estimate replaces a policer's
	// rate read off the top of a varying delivered rate (ackCeil) when
	// below it by more than this factor. That top holds a large bucket's
	// stored tokens: 143-204 kB buckets at 3.7-4.5 Mbit/s read 14-22 %
	// over the rate, their chains 4 % under to 4 % over (spent sets: 10
	// views to right, none to wrong); it stood 3 % over the estimate on
	// a fast policer's ACKs, where it was the nearer (c3_policer_fast, a
	// 40 Mbit/s policer: 37.0 and 35.9 Mbit/s)
	chainLower = 1.05
)

// dropEvents lists the flow's data segments in the data direction, after
// markLoss, when it lost any (a member of a shared policer may lose
// little; the aggregate needs its segments). At a sender-side point the
// lost ones are marked; at a receiver-side point none is (a lost segment
// never arrived): there they serve only the arrival curve (envelope.go),
// so they are listed later, for the flows that can use it
// (arrivalEvents), as are those the ACKs alone show.
func (f *Flow) dropEvents(a *analysis) []drop {
	if a.receiver {
		return nil
	}
	return f.segEvents(a)
}

// arrivalEvents lists a receiver-side point's segments, or those the
// ACKs alone show (ackChain), after the verdict, for a policer's drop
// chains and arrival curve (bucketFit, a detector). Listing them for
// every flow that lost a segment cost 33 M instructions on 8 bulk flows
// through a shaper (their few holes were reordering).
func (f *Flow) arrivalEvents(a *analysis, verdict string) {
	if a.drops != nil || verdict != VerdictPolicer {
		return
	}
	switch {
	case a.vis == VisAcksOnly:
		a.drops = a.d.ackEv.drops()
	case a.receiver:
		a.drops = f.segEvents(a)
	}
}

// segEvents is dropEvents' list, at either point.
func (f *Flow) segEvents(a *analysis) []drop {
	d := a.d
	if a.vis == VisAcksOnly || a.lost == 0 {
		return nil
	}
	n := min(d.rb.n, chainMaxEvents)
	ev := make([]drop, n)
	t0 := f.t0 / 1000
	// (at a receiver the retransmissions that fill holes passed the
	// bucket too, and the holes not refilled by a late original are
	// the drops)
	fill := a.receiver
	// The chunks in order, each by byte offset (recsOff), the events
	// written by index: through recBuf.at and append a record cost ~37
	// instructions (8 flows: 20 M).
	k := 0
	for _, c := range d.rb.chunks {
		p, end := recsOff(c)
		for off := uintptr(0); off < end; off += recSize {
			r := (*rec)(unsafe.Add(p, off))
			kind := r.kind
			hole := fill && kind == recHole && r.flags&recLost != 0
			if kind != recOrig && kind != recRetx && !(fill && kind == recFill) && !hole {
				continue
			}
			if k == len(ev) { // (chainMaxEvents, or every record)
				return ev
			}
			ev[k] = drop{t: t0 + int64(r.t), flen: uint32(r.flen), lost: r.flags&recLost != 0}
			k++
		}
	}
	return ev[:k]
}

// chainEstimate is the drop chains' estimate of the rate.
type chainEstimate struct {
	bps    float64 // wire bits/s
	chains int     // chains of drops at 10 ms gaps
	spanUS float64 // their summed span, µs
	ok     bool
}

// chainRate estimates the rate from ev, sorted by time.
func chainRate(ev []drop) chainEstimate {
	var est chainEstimate
	nLost := 0
	for _, e := range ev {
		if e.lost {
			nLost++
		}
	}
	if nLost < chainMinDrops {
		return est
	}
	drops := make([]int, 0, nLost)
	cum := make([]uint64, len(ev)+1) // passed bytes before ev[i]
	for i, e := range ev {
		cum[i+1] = cum[i]
		if e.lost {
			drops = append(drops, i)
		} else {
			cum[i+1] += uint64(e.flen)
		}
	}
	fits := make([]float64, 0, 5)
	for _, g := range [...]int64{5000, 7000, 10000, 15000, 20000} {
		var spd, sdd, span float64
		n := 0
		for k := 0; k < len(drops); k++ {
			s := k
			for k+1 < len(drops) && ev[drops[k+1]].t-ev[drops[k]].t <= g {
				k++
			}
			if k == s {
				continue
			}
			a, b := drops[s], drops[k]
			p := float64(cum[b] - cum[a+1])
			dt := float64(ev[b].t - ev[a].t)
			spd += p * dt
			sdd += dt * dt
			span += dt
			n++
		}
		if sdd > 0 {
			fits = append(fits, spd/sdd*8e6)
		}
		if g == 10000 {
			est.chains, est.spanUS = n, span
		}
	}
	if len(fits) == 0 {
		return est
	}
	sort.Float64s(fits)
	est.bps = median(fits)
	est.ok = est.chains >= chainMinChains && est.bps > 0 && est.bps <= peakRate(ev)
	return est
}

// peakRate is the highest rate of ev (sorted by time) over chainPeakNS
// windows, bits/s.
func peakRate(ev []drop) float64 {
	if len(ev) == 0 {
		return 0
	}
	w := int64(chainPeakNS / 1000) // µs
	var best, cur uint64
	bin := ev[0].t / w
	for _, e := range ev {
		if b := e.t / w; b != bin {
			best, cur, bin = max(best, cur), 0, b
		}
		cur += uint64(e.flen)
	}
	best = max(best, cur)
	return float64(best) * 8 / (chainPeakNS / 1e9)
}

// raises: the estimate stands for a policer read at rate (bits/s). Its
// chains must span chainMinSegs segments' worth of tokens at that rate
// (a lower bound of the real one): a sender's capture times are good to
// about a millisecond (the kernel and a userspace bridge pass bursts in
// batches), and chains shorter than a segment's token time carry its
// whole error. 7 cubic flows whose drops chained only inside bursts
// (210 µs in all, 0.03 segments' tokens) fitted 62 Mbit/s to a 7 Mbit/s
// policer; the raises that were right spanned 3 (5 cubic flows, 16
// Mbit/s), 22 and 87 segments (heldout3, 6, 4, 8; spent).
func (c chainEstimate) raises(rate float64) bool { return c.raisesBy(rate, chainRaise) }

// raisesBy is raises with the factor the estimate must stand above rate.
func (c chainEstimate) raisesBy(rate, factor float64) bool {
	if !c.ok || c.bps <= factor*rate {
		return false
	}
	return rate <= 0 || c.spans(rate)
}

// spans: the chains span chainMinSegs segments' worth of tokens at rate
// (bits/s, > 0).
func (c chainEstimate) spans(rate float64) bool {
	return c.spanUS >= chainMinSegs*1514*8/rate*1e6
}

// evidence says what the drop timing showed.
func (c chainEstimate) evidence(rate float64) string {
	return fmt.Sprintf("drop timing: between drops up to 20 ms apart the bucket let through %s (least squares over %d chains of drops at 10 ms), above the %s the flows delivered at best: they stayed under the rate between their bursts",
		mbps(c.bps), c.chains, mbps(rate))
}

// lowerEvidence says what the drop timing showed where it lowers a rate
// read off the top of a varying delivered rate.
func (c chainEstimate) lowerEvidence(rate float64) string {
	return fmt.Sprintf("drop timing: between drops up to 20 ms apart the bucket let through %s (least squares over %d chains of drops at 10 ms), under the %s the delivered rate topped out at: its peaks held the bucket's stored tokens",
		mbps(c.bps), c.chains, mbps(rate))
}

// refinePolicer raises a policer verdict's rate to the drop chains'
// estimate when that stands above it (chainEstimate.raises), and records
// the arrival curve's token bucket (bucketFit) among the detectors.
func (f *Flow) refinePolicer(a *analysis, dg *Diagnosis) {
	f.arrivalEvents(a, dg.Verdict)
	if len(a.drops) == 0 {
		return
	}
	c := chainRate(a.drops)
	if c.ok {
		dg.Detectors.ChainRateBps = math.Round(c.bps)
	}
	if dg.Verdict != VerdictPolicer {
		return
	}
	raise := chainRaise
	if a.vis == VisAcksOnly {
		raise = chainRaiseAcks
	}
	if c.raisesBy(dg.RateBps, raise) {
		dg.restate(c.bps, c.evidence(dg.RateBps), "drop timing")
	} else if a.ackCeil && c.ok && c.bps*chainLower < dg.RateBps && c.spans(c.bps) {
		dg.restate(c.bps, c.lowerEvidence(dg.RateBps), "drop timing")
	}
	// The fit is reported, not acted on: raising a saw-tooth's rate
	// to it fixed 52 flows of the tuning sets and broke none there, but
	// cost 1 and 12 flows on the two held-out sets made after it
	// (heldout17, heldout18: a BBR sender's pacing, and 6 reno flows
	// draining a 247 kB bucket at 3.5 Mbit/s; envelope.go)
	if b := fitBucket(a.drops); b.ok {
		dg.Detectors.BucketRateBps, dg.Detectors.BucketBytes = math.Round(b.bps), math.Round(b.bytes)
	}
}

// restate sets the verdict's rate to bps, in its summary too, and adds
// the evidence that moved it. With a source (by), the summary says the
// rate is that source's and what was delivered: its other words ("flat
// delivered rate", "tops out there") are about the delivered one.
func (dg *Diagnosis) restate(bps float64, ev, by string) {
	old := mbps(dg.RateBps)
	dg.Evidence = append(dg.Evidence, ev)
	dg.RateBps = math.Round(bps)
	now := mbps(dg.RateBps)
	if by != "" {
		now = fmt.Sprintf("%s (%s; delivered %s)", now, by, old)
	}
	dg.Summary = strings.Replace(dg.Summary, old, now, 1)
}

// mergeDrops merges the members' segments into one sorted list over the
// time all of them cover (a member's list may stop at chainMaxEvents).
func mergeDrops(lists [][]drop) []drop {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	total := 0
	for _, l := range lists {
		if len(l) == 0 {
			return nil
		}
		lo = max(lo, l[0].t)
		hi = min(hi, l[len(l)-1].t)
		total += len(l)
	}
	if hi <= lo {
		return nil
	}
	out := make([]drop, 0, total)
	for _, l := range lists {
		for _, e := range l {
			if e.t >= lo && e.t <= hi {
				out = append(out, e)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out
}

// compactDrops is ev as the flow keeps it: times from the first, 8 bytes
// each (a segment's frame length fits 16 bits; a time past 71 minutes
// does not fit 32 and ends the list).
func compactDrops(ev []drop) (base int64, out []DropEvent) {
	if len(ev) == 0 {
		return 0, nil
	}
	base = ev[0].t
	// (written by index: append's checks were a third of the loop)
	out = make([]DropEvent, len(ev))
	for i, e := range ev {
		dt := e.t - base
		if dt > math.MaxUint32 {
			return base, out[:i]
		}
		out[i] = DropEvent{T: uint32(dt), Flen: uint16(min(e.flen, math.MaxUint16)), Lost: e.lost}
	}
	return base, out
}

// expandDrops undoes compactDrops.
func expandDrops(base int64, ev []DropEvent) []drop {
	out := make([]drop, len(ev))
	for i, e := range ev {
		out[i] = drop{t: base + int64(e.T), flen: uint32(e.Flen), lost: e.Lost}
	}
	return out
}

// ackChain rebuilds a flow's drops from its ACKs alone (an ACK-only
// view: the data direction not captured), for the drop chains. Each ACK
// that raises the highest byte the receiver reports holding (cumulative
// ACK or a SACK block's right edge) shows the segments that arrived since
// and, below a new SACK block, the ones that did not (lost, as a
// receiver-side point's holes); an ACK or a block that covers a hole
// shows its retransmission arriving (passed: it paid tokens too). The
// ACK's capture time stands for the arrivals: at a receiver-side point
// it is theirs, at a sender-side point a constant one-way delay later (a
// policer adds no queue). Allocated by the first ACK of a flow whose data
// direction has no packet, dropped with the flow.
type ackChain struct {
	ev        []DropEvent // 8 B each, at most limit
	base      int64       // µs: the first ACK's time, ev's origin
	limit     int
	holes     []seqRange // not yet covered, ascending; at most ackChainHoles
	cum, high uint32
	started   bool
}

// ackChainHoles bounds the holes an ackChain tracks (a window's worth of
// drops; one beyond it is counted lost and its retransmission not
// counted as passed).
const ackChainHoles = 64

// emit adds n bytes at time t (µs) as segments of at most mss payload
// and hdr bytes of headers each.
func (c *ackChain) emit(t int64, n, mss, hdr uint32, lost bool) {
	dt := t - c.base
	if dt < 0 || dt > math.MaxUint32 {
		return
	}
	for n > 0 && len(c.ev) < c.limit {
		l := min(n, mss)
		c.ev = append(c.ev, DropEvent{T: uint32(dt), Flen: uint16(min(l+hdr, math.MaxUint16)), Lost: lost})
		n -= l
	}
}

// cover removes [l,r) from the holes (disjoint, ascending) and returns
// the bytes it covered.
func (c *ackChain) cover(l, r uint32) uint32 {
	var got uint32
	for i := 0; i < len(c.holes); {
		h := c.holes[i]
		a, b := h.l, h.r
		if seqLT(a, l) {
			a = l
		}
		if seqLT(r, b) {
			b = r
		}
		if !seqLT(a, b) {
			i++
			continue
		}
		got += b - a
		switch {
		case seqLT(h.l, a) && seqLT(b, h.r): // inside one hole: it splits
			c.holes[i].r = a
			if len(c.holes) < ackChainHoles {
				c.holes = slices.Insert(c.holes, i+1, seqRange{b, h.r})
			}
			return got
		case seqLT(h.l, a):
			c.holes[i].r = a
			i++
		case seqLT(b, h.r):
			c.holes[i].l = b
			i++
		default:
			c.holes = slices.Delete(c.holes, i, i+1)
		}
	}
	return got
}

// drops lists the segments rebuilt, in time order (capture times may
// step back a little); nil for none.
func (c *ackChain) drops() []drop {
	if c == nil {
		return nil
	}
	ev := expandDrops(c.base, c.ev)
	if !sort.SliceIsSorted(ev, func(i, j int) bool { return ev[i].t < ev[j].t }) {
		sort.SliceStable(ev, func(i, j int) bool { return ev[i].t < ev[j].t })
	}
	return ev
}

func (c *ackChain) addHole(h seqRange) {
	if len(c.holes) < ackChainHoles {
		c.holes = append(c.holes, h)
	}
}

// add takes one ACK (relative ack, SACK blocks relative by isn) at t µs.
func (c *ackChain) add(t int64, ack uint32, tcp *decode.TCP, isn, mss, hdr uint32) {
	if !c.started {
		c.started, c.cum, c.high, c.base = true, ack, ack, t
		return
	}
	if seqLT(c.cum, ack) {
		var passed uint32
		if seqLT(c.high, ack) {
			passed, c.high = ack-c.high, ack
		}
		passed += c.cover(c.cum, ack)
		c.cum = ack
		c.emit(t, passed, mss, hdr, false)
	}
	// the blocks in ascending order (at most 4), D-SACK's and stray ones
	// out
	var bl [4]seqRange
	nb := 0
	for i := 0; i < int(tcp.NSACK) && i < len(tcp.SACK); i++ {
		l, r := tcp.SACK[i].Left-isn, tcp.SACK[i].Right-isn
		if !seqLT(l, r) || !seqLT(c.cum, r) || r-c.cum >= sackMaxSpan {
			continue
		}
		if seqLT(l, c.cum) {
			l = c.cum
		}
		j := nb
		for j > 0 && seqLT(l, bl[j-1].l) {
			bl[j] = bl[j-1]
			j--
		}
		bl[j] = seqRange{l, r}
		nb++
	}
	for _, b := range bl[:nb] {
		if len(c.holes) > 0 {
			if f := c.cover(b.l, b.r); f > 0 {
				c.emit(t, f, mss, hdr, false)
			}
		}
		if !seqLT(c.high, b.r) {
			continue
		}
		l := b.l
		if seqLT(c.high, l) {
			c.emit(t, l-c.high, mss, hdr, true)
			c.addHole(seqRange{c.high, l})
		} else {
			l = c.high
		}
		c.emit(t, b.r-l, mss, hdr, false)
		c.high = b.r
	}
}
