package diagnose

import (
	"fmt"
	"math"
	"sort"
	"unsafe"
)

// owdQueue measures queueing from timestamps alone, for one-direction
// views (Jaiswal et al. infer a flow's state from one vantage point; the
// TCP timestamp option makes it simpler): each data segment's capture
// time less its TSval, or each ACK's capture time less its TSecr (the
// TSval of the data it acknowledges), is a one-way delay (or at the
// sender side, for ACKs, the RTT) plus a constant clock offset. Its growth
// over its minimum is the queueing between the sender and the point
// where the sample is taken. TSval must tick at 1 kHz (Linux); the rate
// is checked on the visible direction's own timestamps.
func (f *Flow) owdQueue(a *analysis) {
	d := a.d
	// the visible direction's TS clock
	vis := d
	if a.vis == VisAcksOnly {
		vis = &f.d[1-a.dir]
	}
	if vis.tsn == 0 {
		a.owdWhy = "queueing delay unknown: the connection does not use TCP timestamps"
		return
	}
	if span := vis.tsLastT - vis.tsFirstT; span >= 500e6 {
		hz := float64(vis.lastTS-vis.tsFirst) / (float64(span) / 1e9)
		// (a queue that builds over the capture delays the later
		// timestamps: 4 flows filling a 562-frame FIFO at 4.2 Mbit/s
		// for 6.4 s made a 1 kHz clock look like 885 Hz at the
		// receiver; tune. The older Linux clocks are 100-300 Hz)
		if hz > 1050 || hz < 700 {
			a.owdWhy = fmt.Sprintf("queueing delay unknown: the timestamp clock ticks at %.0f Hz, not 1 kHz", hz)
			return
		}
	}
	if a.vis == VisAcksOnly {
		if d.ackOwdN < 20 || d.ackOwdWN < ackOwdMinWins {
			a.owdWhy = "queueing delay unknown: fewer than 20 ACKs with timestamps"
			if d.ackOwdN >= 20 {
				a.owdWhy = fmt.Sprintf("queueing delay unknown: ACKs with timestamps in fewer than %d windows of %.0f ms", ackOwdMinWins+1, ackOwdWinNS/1e6)
			}
			return
		}
		a.owdQ, a.owdOK = d.ackOwdQ(), true
		return
	}
	if !d.hasOwd {
		a.owdWhy = "queueing delay unknown: the data segments carry no timestamps"
		return
	}
	// The owd values are int16 ms: a counting pass gives the same
	// quantiles as sorting them, without a copy of every record.
	// A bulk flow's owd values stay within a few thousand ms of the
	// first one (0): one pass counts them into a fixed window, and only
	// a value outside it costs the two passes over exact bounds.
	if d.rb.n >= owdWinMin {
		var win [owdWin]int32 // (on the stack: quantileCounts keeps no reference)
		if n, out := owdCountWin(d.rb.chunks, &win); out == 0 {
			if n < 50 {
				a.owdWhy = "queueing delay unknown: fewer than 50 data segments with timestamps"
				return
			}
			lo, hi := 0, owdWin-1
			for win[lo] == 0 {
				lo++
			}
			for win[hi] == 0 {
				hi--
			}
			base := int16(lo - owdWinOff)
			counts := win[lo : hi+1]
			a.owdQ, a.owdOK = quantileCounts(counts, n, base, 0.9)-quantileCounts(counts, n, base, 0.02), true
			return
		}
	}
	n, lo, hi := owdRange(d.rb.chunks)
	if n < 50 {
		a.owdWhy = "queueing delay unknown: fewer than 50 data segments with timestamps"
		return
	}
	counts := make([]int32, int(hi)-int(lo)+1)
	owdCount(d.rb.chunks, lo, counts)
	a.owdQ, a.owdOK = quantileCounts(counts, n, lo, 0.9)-quantileCounts(counts, n, lo, 0.02), true
}

// ackOwdQ is the 90th percentile of the ACK windows' least samples
// (ackOwdSample) over their minimum, ms: the closed windows and the open
// one (read, not closed: Finish may not be the last look).
func (d *dirState) ackOwdQ() float64 {
	cnt := d.ackOwd
	if i := d.ackOwdBin(d.ackWinMin); cnt[i] < math.MaxUint16 {
		cnt[i]++
	}
	target := uint64(math.Ceil(0.9 * float64(d.ackOwdWN+1)))
	var cum uint64
	for i, c := range cnt {
		cum += uint64(c)
		if cum >= target {
			return float64(i)
		}
	}
	return float64(len(cnt) - 1)
}

// sparseAcksPerWin: at most this many ACKs per ackOwdWinNS window make a
// sparse flow (finish: its RTT samples' queue is capped by the ACKs'
// windowed one). Tried on the RTT samples' own windows, a bound of 20
// took 6 flows sharing a 9 Mbit/s FIFO (13 samples per window) from
// shaper to policer, 10 none (heldout24, spent).
const sparseAcksPerWin = 10

// ackOwdMinWins: the ACK windows (ackOwdWinNS) the ACKs' queueing needs
// closed.
const ackOwdMinWins = 4

// owdCountWin's window: owd values from -owdWinOff to owdWin-owdWinOff-1
// ms. Flows with fewer than owdWinMin records take owdRange and
// owdCount (clearing and searching the window would cost them more).
const (
	owdWin    = 4096
	owdWinOff = 1024
	owdWinMin = 4096
)

// owdCountWin counts the new-data records' owd values into win
// (win[i]: the records with owd i-owdWinOff) in one pass, and returns
// how many records it counted and how many fell outside the window
// (out > 0: win is incomplete, use owdRange and owdCount).
func owdCountWin(chunks [][]rec, win *[owdWin]int32) (n, out int) {
	for _, c := range chunks {
		p, end := recsOff(c) // (by byte offset: one load a field)
		for off := uintptr(0); off < end; off += recSize {
			if r := (*rec)(unsafe.Add(p, off)); r.kind == recOrig {
				n++
				// (owd+owdWinOff in 16 bits: a value below the window
				// wraps past it, and the zero-extending load takes one
				// instruction, a sign-extending one three)
				if i := uint(uint16(r.owd) + owdWinOff); i < owdWin {
					win[i]++
				} else {
					out++
				}
			}
		}
	}
	return n, out
}

// owdRange returns how many of the records in chunks are new data
// (recOrig) and the least and greatest owd among them (MaxInt16 and
// MinInt16 when none). The records are read a chunk at a time, not
// through recBuf.at: a bulk flow's 131,072 records took ~35 instructions
// each through at's chunk arithmetic, twice (owdRange, owdCount).
func owdRange(chunks [][]rec) (n int, lo, hi int16) {
	lo, hi = math.MaxInt16, math.MinInt16
	for _, c := range chunks {
		for k := range c {
			if r := &c[k]; r.kind == recOrig {
				n++
				lo, hi = min(lo, r.owd), max(hi, r.owd)
			}
		}
	}
	return n, lo, hi
}

// owdCount adds each new-data record's owd to counts (counts[i]: the
// records with owd lo+i; owdRange's lo and hi size it).
func owdCount(chunks [][]rec, lo int16, counts []int32) {
	for _, c := range chunks {
		for k := range c {
			if r := &c[k]; r.kind == recOrig {
				counts[int(r.owd)-int(lo)]++
			}
		}
	}
}

// quantileCounts is quantileSorted over the n values whose histogram is
// counts (counts[i] values equal to base+i).
func quantileCounts(counts []int32, n int, base int16, q float64) float64 {
	pos := q * float64(n-1)
	lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
	kth := func(k int) float64 { // the k-th smallest value, from 0
		for i, c := range counts {
			if k < int(c) {
				return float64(int(base) + i)
			}
			k -= int(c)
		}
		return float64(int(base) + len(counts) - 1)
	}
	xl := kth(lo)
	if lo == hi {
		return xl
	}
	return xl + (kth(hi)-xl)*(pos-float64(lo))
}

// decideOneWay is the verdict when the capture holds one direction of
// the connection only. What cannot be measured is named in Unknown (never
// printed as zero), and a cause the view cannot show is insufficient_data
// with that reason rather than a guess.
func (f *Flow) decideOneWay(a *analysis, dg *Diagnosis) {
	f.decideOneWayVerdict(a, dg)
	// what could not be measured goes into the evidence too, in a
	// stable order
	keys := make([]string, 0, len(dg.Unknown))
	for k := range dg.Unknown {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dg.Evidence = append(dg.Evidence, dg.Unknown[k])
	}
}

func (f *Flow) decideOneWayVerdict(a *analysis, dg *Diagnosis) {
	c := &f.cfg
	d := a.d
	dg.Unknown = map[string]string{}
	ev := func(format string, args ...any) { dg.Evidence = append(dg.Evidence, fmt.Sprintf(format, args...)) }
	set := func(v string, conf float64) {
		dg.Verdict = v
		dg.Confidence = round3(conf)
	}
	queue := func() string {
		if a.vis == VisDataOnly && !a.receiver {
			return "queueing not visible (the data is captured before any queue)"
		}
		if a.owdOK {
			return fmt.Sprintf("queueing delay %.0f ms (timestamps)", a.owdQ)
		}
		return "queueing delay unknown"
	}
	if a.owdOK {
		ev("one-way delay from the TCP timestamps grows %.0f ms over its minimum (p90)", a.owdQ)
	} else {
		dg.Unknown["queue_delay"] = a.owdWhy
	}

	if a.vis == VisAcksOnly {
		dg.Unknown["rtt"] = "RTT unknown: only the ACK direction is mirrored, no data segment to time"
		if a.ackHsRTT > 0 {
			dg.Unknown["rtt"] = "RTT unknown beyond the handshake's: only the ACK direction is mirrored, no data segment to time"
		}
		dg.Unknown["loss"] = "loss rate unknown: only the ACK direction is mirrored (duplicate ACKs show that loss happened, not how much)"
		acked := uint64(0)
		if d.hasAck {
			acked = uint64(d.highAck)
		}
		ev("only the ACKs of the %s data are captured: %d bytes acknowledged over %.2f s, %d duplicate ACKs", dg.Direction, acked, float64(a.durNS)/1e9, d.dupAcks)
		if len(a.plateau) > 0 {
			ev("delivered rate from the ACKs: plateau %s over %d 100 ms bins, CV %.3f", mbps(a.plateauBps), len(a.plateau), a.plateauCV)
		}
		mss := uint64(d.mss)
		if mss == 0 {
			mss = 1448
		}
		if a.ackHsRTT > 0 {
			if a.ackHsUpper {
				ev("RTT at most %s: the server's SYN/ACK to its first ACK of the client's data (the client's delay before it sent included)", msTxt(a.ackHsRTT))
			} else {
				ev("RTT %s from the handshake (the client's SYN to its handshake ACK, both in the captured direction)", msTxt(a.ackHsRTT))
			}
		}
		gapFr := 0.0
		if a.durNS > 0 {
			gapFr = float64(d.ackGapNs) / float64(a.durNS)
			ev("the ACKs stood still in pauses over 1 ms for %.0f%% of the time", 100*gapFr)
		}
		idleFr := idleBins(a.deliv.Bps)
		dupFr := 0.0
		if segs := acked / mss; segs > 0 {
			dupFr = float64(d.dupAcks) / float64(segs)
		}
		holeSegs := d.holeSegs(mss)
		// the RTT over which the largest advertised window gives the
		// delivered rate (payload bytes)
		impliedRTT, meanRTT := 0.0, 0.0
		if a.plateauBps > 0 && a.wireRatio > 0 {
			impliedRTT = float64(d.rwndMax) * 8 / (a.plateauBps / a.wireRatio) * 1000
		}
		if a.meanBps > 0 && a.wireRatio > 0 { // the same over the mean rate
			meanRTT = float64(d.rwndMax) * 8 / (a.meanBps / a.wireRatio) * 1000
		}
		switch {
		case acked < uint64(c.MinDataPackets)*mss || a.durNS < c.MinDurationNS:
			set(VerdictInsufficientData, 0.5)
			dg.Summary = fmt.Sprintf("too little data to diagnose: %d bytes acknowledged over %.0f ms (only the ACK direction is mirrored)", acked, float64(a.durNS)/1e6)
			a.small = true
		case d.dsack >= 5 && (d.dsack >= uint64(c.ReorderMinFrac*float64(acked/mss)) || a.owdOK && a.owdQ >= 2*c.ShaperMinQueueMS && !(idleFr >= ackIdleMinFrac)):
			// (fewer D-SACKs with the one-way delay varying: segments
			// held back on the way, which a shaper's queue never does:
			// no shaper of tune + heldout3 drew more than one D-SACK)
			// the receiver reports duplicates (D-SACK, RFC 2883) in the
			// ACKs: segments retransmitted although they had arrived,
			// the mark of reordering that triggers fast retransmit
			set(VerdictReordering, 0.5)
			dg.Summary = fmt.Sprintf("limited by reordering: the receiver reported %d duplicate segments (D-SACK) over %d acknowledged segments: retransmissions of segments that had arrived late, not lost (only the ACK direction is mirrored)",
				d.dsack, acked/mss)
		case idleFr >= ackIdleMinFrac && dupFr < ackAppMaxDupFrac:
			// The ACKs stood still in most 100 ms bins with no loss
			// reported: nothing was in flight, the sender had nothing to
			// send. A limit on the path keeps its queue and the ACK
			// stream busy (tune + heldout3: 84 application flows, no
			// other kind, among 703 ACK-only data flows)
			set(VerdictApplication, 0.5)
			dg.RateBps = math.Round(a.meanBps)
			dg.Summary = fmt.Sprintf("application-limited at %s on average: the ACKs stood still in %.0f%% of the 100 ms bins, %d duplicate ACKs: the sender had nothing in flight (only the ACK direction is mirrored)",
				mbps(a.meanBps), 100*idleFr, d.dupAcks)
		case a.flat && a.plateauBps > 0 && a.owdOK && dupFr >= ackPolicerMinDupFrac &&
			(a.owdQ < 2*c.ShaperMinQueueMS || a.owdQ < 4*c.ShaperMinQueueMS && dupFr >= 5*ackPolicerMinDupFrac):
			// a flat delivered rate with the receiver reporting loss
			// (duplicate ACKs) and no queue in front of it: a token
			// bucket that drops what exceeds its rate (tune + heldout3:
			// 21 policer flows right at their rate, 2 FIFO flows at a
			// 101 Mbit/s link wrong)
			set(VerdictPolicer, 0.45)
			dg.RateBps = math.Round(a.plateauBps)
			dg.Summary = fmt.Sprintf("policed at %s: flat delivered rate (CV %.2f) from the ACKs, %d duplicate ACKs (%.1f per 100 acknowledged segments), one-way delay flat within %.0f ms (only the ACK direction is mirrored)",
				mbps(a.plateauBps), a.plateauCV, d.dupAcks, 100*dupFr, a.owdQ)
		case a.flat && a.plateauBps > 0 && a.owdOK && a.owdQ >= c.ShaperMinQueueMS*2 && a.owdQ < ackRwndMaxQueueMS &&
			dupFr < ackAppMaxDupFrac && a.ackHsRTT > 0 && d.rwndMax > 0 && impliedRTT <= ackRwndQueueFactor*(a.ackHsRTT+a.owdQ)+ackRwndQueueSlackMS:
			// A few ms of one-way delay growth at a flat lossless rate,
			// and a window that, held full, gives that rate over the
			// handshake's RTT plus that growth: the window holds the
			// flow, and the growth is the sender's own (3 cubic flows
			// each held by a 40 kB window at a 91 ms RTT, 4-5 ms of
			// growth, had made a shared shaper; heldout16). A shaper's
			// queue holds a congestion window that the receiver's
			// autotuned window leaves room for.
			set(VerdictReceiverWindow, 0.45)
			dg.RateBps = math.Round(a.plateauBps)
			bound := ""
			if a.ackHsUpper {
				bound = "at most "
			}
			dg.Summary = fmt.Sprintf("receiver-window limited at %s: flat delivered rate (CV %.2f) from the ACKs, no loss; the advertised window (max %.0f kB) held full gives that rate over a %.0f ms RTT, the handshake's %s%s and %.0f ms of one-way delay growth (only the ACK direction is mirrored)",
				mbps(a.plateauBps), a.plateauCV, float64(d.rwndMax)/1000, impliedRTT, bound, msTxt(a.ackHsRTT), a.owdQ)
		case a.flat && a.plateauBps > 0 && a.owdOK && a.owdQ >= c.ShaperMinQueueMS*2:
			// (a plateau at zero is an ACK stream that stood still: 33
			// flows of the tune part were "shaped at 0.0 Mbit/s")
			set(VerdictShaper, 0.45)
			dg.RateBps = math.Round(a.plateauBps)
			dg.QueueDelayMS = a.owdQ
			dg.Summary = fmt.Sprintf("shaped at %s: flat delivered rate (CV %.2f) from the ACKs, queueing delay up to %.0f ms from their timestamps (only the ACK direction is mirrored)",
				mbps(a.plateauBps), a.plateauCV, a.owdQ)
		case a.flat && a.plateauBps > 0 && a.owdOK && a.owdQ < 2*c.ShaperMinQueueMS && dupFr < ackAppMaxDupFrac && d.rwndMax > 0 &&
			(impliedRTT <= ackRwndMaxRTTMS || impliedRTT >= ackAppMinRTTMS):
			// A flat rate with no loss and no queue: the receiver's
			// window or the application. A window W held full gives
			// W/RTT, so W over the rate is the RTT it implies: the
			// path's RTT for a window limit (5-97 ms, within 1-2 ms of
			// the lab's delay, on tune + heldout3), beyond any path's
			// (320-2900 ms there) when the window was never the limit.
			// With the handshake's RTT in the ACKs the path's RTT is
			// known: a window that implies much more was never held
			// full (iperf3 at a constant 88 Mbit/s, windows of 1.0-1.6
			// MB implying 100-152 ms over a 0.1 ms path; heldout19).
			// Window limits of heldout13-19 implied 0.78-1.22 times the
			// handshake's RTT, applications 11-2128 times
			payload := a.plateauBps / a.wireRatio
			rwndRTTMax := float64(ackRwndMaxRTTMS)
			if a.ackHsRTT > 0 {
				rwndRTTMax = math.Min(rwndRTTMax, ackRwndHsFactor*a.ackHsRTT+ackRwndHsSlackMS)
			}
			if impliedRTT <= rwndRTTMax {
				set(VerdictReceiverWindow, 0.5)
				dg.RateBps = math.Round(a.plateauBps)
				dg.Summary = fmt.Sprintf("receiver-window limited at %s: flat delivered rate (CV %.2f) from the ACKs, no loss, no queue; the advertised window (max %.0f kB) held full gives that rate over a %.0f ms RTT (only the ACK direction is mirrored: the RTT is inferred, not measured)",
					mbps(a.plateauBps), a.plateauCV, float64(d.rwndMax)/1000, impliedRTT)
				if a.ackHsRTT > 0 {
					bound := ""
					if a.ackHsUpper {
						bound = "at most "
					}
					dg.Summary = fmt.Sprintf("receiver-window limited at %s: flat delivered rate (CV %.2f) from the ACKs, no loss, no queue; the advertised window (max %.0f kB) held full gives that rate over a %.0f ms RTT, and the handshake's RTT is %s%s (only the ACK direction is mirrored)",
						mbps(a.plateauBps), a.plateauCV, float64(d.rwndMax)/1000, impliedRTT, bound, msTxt(a.ackHsRTT))
				}
			} else if impliedRTT < ackAppMinRTTMS && gapFr < ackAppMinGapFrac {
				// the window was not the limit, but the ACKs kept coming:
				// no application's pauses between writes (senders at
				// their hosts' limit, 6-7 Gbit/s on the lab's veths,
				// paused under 70% of the time; applications 90-100%)
				set(VerdictInsufficientData, 0.5)
				dg.Summary = fmt.Sprintf("cannot tell the limiter from the ACKs alone: flat delivered rate at %s, no loss, no queue, and the advertised window (max %.0f kB) allowed %.0f times that rate over the %s RTT of the handshake, but the ACKs paused only %.0f%% of the time: a sender at its host's limit, or an application (only the ACK direction is mirrored)",
					mbps(a.plateauBps), float64(d.rwndMax)/1000, impliedRTT/math.Max(a.ackHsRTT, 0.1), msTxt(a.ackHsRTT), 100*gapFr)
			} else {
				set(VerdictApplication, 0.5)
				dg.RateBps = math.Round(a.plateauBps)
				if impliedRTT < ackAppMinRTTMS {
					dg.Summary = fmt.Sprintf("application-limited at %s: flat delivered rate (CV %.2f) from the ACKs, no loss, no queue, and the advertised window (max %.0f kB) allowed %.0f times that rate over the %s RTT of the handshake (only the ACK direction is mirrored)",
						mbps(a.plateauBps), a.plateauCV, float64(d.rwndMax)/1000, impliedRTT/math.Max(a.ackHsRTT, 0.1), msTxt(a.ackHsRTT))
				} else {
					dg.Summary = fmt.Sprintf("application-limited at %s: flat delivered rate (CV %.2f) from the ACKs, no loss, no queue, and the advertised window (max %.0f kB) allowed %.0f times that rate over a 300 ms RTT (only the ACK direction is mirrored)",
						mbps(a.plateauBps), a.plateauCV, float64(d.rwndMax)/1000, float64(d.rwndMax)*8/0.3/payload)
				}
			}
		case !a.flat && a.owdOK && a.owdQ < 2*c.ShaperMinQueueMS && dupFr < ackAppMaxDupFrac && a.ackHsRTT > 0 && d.rwndMax > 0 && a.meanBps > 0 &&
			meanRTT >= ackRwndMeanMinFactor*a.ackHsRTT && meanRTT <= ackRwndQueueFactor*a.ackHsRTT+ackRwndQueueSlackMS:
			// A variable delivered rate with no loss and no queue, whose
			// mean the largest window gives over the handshake's RTT:
			// the window held the flow (rounds longer than a bin, or
			// flows sharing a host; receiver-window views of heldout13-19
			// left insufficient_data), where an application's or an
			// unlimited sender's window implies several RTTs
			set(VerdictReceiverWindow, 0.4)
			dg.RateBps = math.Round(a.meanBps)
			bound := ""
			if a.ackHsUpper {
				bound = "at most "
			}
			dg.Summary = fmt.Sprintf("receiver-window limited at %s on average: no loss, no queue, and the advertised window (max %.0f kB) held full gives that rate over a %.0f ms RTT, the handshake's %s%s (only the ACK direction is mirrored)",
				mbps(a.meanBps), float64(d.rwndMax)/1000, meanRTT, bound, msTxt(a.ackHsRTT))
		case !a.flat && a.owdOK && a.owdQ < 2*c.ShaperMinQueueMS && dupFr < ackAppMaxDupFrac && a.ackHsRTT > 0 && d.rwndMax > 0 && a.meanBps > 0 &&
			meanRTT >= ackRwndHsFactor*a.ackHsRTT+ackRwndHsSlackMS && gapFr >= ackAppMinGapFrac:
			// the same with a window that allowed far more than the mean
			// rate over the handshake's RTT, and the ACKs paused most of
			// the time: nothing on the path held the flow (no loss, no
			// queue), nor the window: the sender had nothing more to
			// send. (ACK pauses over 1 ms: 90-100% of the time for the
			// applications of heldout13-19, 1-67% for senders at their
			// hosts' limit, 3-7 Gbit/s on the lab's veths)
			set(VerdictApplication, 0.4)
			dg.RateBps = math.Round(a.meanBps)
			dg.Summary = fmt.Sprintf("application-limited at %s on average: no loss, no queue, the ACKs paused %.0f%% of the time, and the advertised window (max %.0f kB) allowed %.0f times that rate over the %s RTT of the handshake (only the ACK direction is mirrored)",
				mbps(a.meanBps), 100*gapFr, float64(d.rwndMax)/1000, meanRTT/math.Max(a.ackHsRTT, 0.1), msTxt(a.ackHsRTT))
		case !a.flat && a.owdOK && a.owdQ < 4*c.ShaperMinQueueMS && dupFr >= ackPolicerMinDupFrac && holeSegs > 0 && holeSegs <= ackRandomMaxHole:
			// the receiver reports loss, the delivered rate finds no
			// ceiling and nothing queues in front of it: random loss,
			// as with both directions (a policer shared by several
			// flows is found on their sum: SharedLimiters)
			// (the ACKs' own one-way delay moved 4-8 ms in 16 random
			// loss views of heldout9-12, spent, that were left
			// insufficient_data with 2*ShaperMinQueueMS; no flow of
			// another kind lost one segment at a time there with a
			// variable rate and under 8 ms)
			set(VerdictRandomLoss, 0.35)
			dg.RateBps = 0
			ev("%d loss episodes in the SACK blocks, %.1f segments missing at the start of each on average (a token bucket that ran dry drops runs)", d.sackHoles, holeSegs)
			dg.Summary = fmt.Sprintf("limited by random loss: %.1f duplicate ACKs per 100 acknowledged segments, losses one segment at a time (SACK), without a rate plateau or queueing (one-way delay within %.0f ms), %s on average (only the ACK direction is mirrored)",
				100*dupFr, a.owdQ, mbps(a.meanBps))
		case a.owdOK && a.owdQ < 2*c.ShaperMinQueueMS && dupFr >= ackPolicerMinDupFrac && holeSegs >= ackPolicerMinHole && len(a.plateau) >= c.PlateauMinBins:
			// losses in runs (the receiver's SACK blocks start several
			// segments above the ACK) with nothing queued in front: a
			// token bucket that ran dry in the middle of bursts; what it
			// passes tops out at its rate
			rate := ceiling(a.plateau, 0.85)
			set(VerdictPolicer, 0.35)
			a.ackCeil = true
			dg.RateBps = math.Round(rate)
			ev("%d loss episodes in the SACK blocks, %.1f segments missing at the start of each on average: drops in runs", d.sackHoles, holeSegs)
			dg.Summary = fmt.Sprintf("policed at about %s: losses in runs of %.1f segments on average (SACK), no queue (one-way delay within %.0f ms), the delivered rate tops out there (only the ACK direction is mirrored)",
				mbps(rate), holeSegs, a.owdQ)
		default:
			set(VerdictInsufficientData, 0.5)
			rate := "variable"
			if a.flat {
				rate = "flat at " + mbps(a.plateauBps)
			}
			dg.Summary = fmt.Sprintf("cannot tell the limiter from the ACKs alone: delivered rate %s, %s, %d duplicate ACKs (only the ACK direction is mirrored; the RTT and the loss rate are unknown)",
				rate, queue(), d.dupAcks)
		}
		return
	}

	// data only
	if a.rtt.Samples == 0 {
		dg.Unknown["rtt"] = "RTT unknown: only the data direction is mirrored and its handshake is incomplete"
	} else {
		ev("RTT %s from the handshake (SYN to the client's first ACK, both in the captured direction)", msTxt(a.rtt.MinMS))
	}
	dg.Unknown["receiver_window"] = "receiver window unknown: only the data direction is mirrored (the window is advertised in the ACKs)"
	ev("only the %s data is captured, at the %s side: %d data segments, %d payload bytes over %.2f s", dg.Direction, a.point, d.dataPkts, d.payload, float64(a.durNS)/1e9)
	ev("%d of %d segments lost (%.2f%%)", a.lost, a.originals, 100*a.lossFrac)
	if len(a.plateau) > 0 {
		ev("rate plateau %s over %d 100 ms bins, CV %.3f", mbps(a.plateauBps), len(a.plateau), a.plateauCV)
	}
	if a.rttSrv > 0 {
		ev("RTT at most %s: the server's SYN/ACK to its first ACK of the client's data (the client's delay before it sent included)", msTxt(a.rttSrv))
	}
	if a.sendQOK() {
		ev("lost segments were retransmitted %.1f ms (p10) after the next segment was sent: %.1f ms beyond the %s RTT (%d retransmissions)",
			a.retxAfter.quantile(0.1)/1000, a.sendQ, msTxt(a.sendBase), a.retxAfter.n)
	}
	offFr := 0.0
	if a.durNS > 0 {
		offFr = float64(d.staleNs) / float64(a.durNS)
	}
	// the window-rounds test reads every record: only for the flows it
	// can apply to (nothing lost, an RTT)
	var rounds windowRounds
	// the rounds' RTT: the handshake's, or else (the server's data alone)
	// its SYN/ACK to its first ACK of the client's data, an upper bound
	// that is the RTT when the client sends at once (iperf3's cookie):
	// receiver-window limits seen at their servers were insufficient_data
	// for want of it (28 views of heldout13-21 right with it, spent)
	roundRTT, roundTxt := a.rtt.MinMS, "the handshake's"
	if a.rtt.Samples == 0 {
		roundRTT, roundTxt = a.rttSrv, "at most; the server's SYN/ACK to its first ACK"
	}
	windowHeld := func() bool {
		rounds = a.rttRounds(roundRTT)
		if rounds.gaps < windowRoundsMin {
			return false
		}
		// (under windowRoundsSureFrac, only with no queue in front: a
		// member of a shared FIFO, lossless at the receiver, drew 40% of
		// its bursts one RTT apart behind its queue; tune)
		return rounds.inRTT >= windowRoundsSureFrac || rounds.inRTT >= windowRoundsFrac && a.owdOK && a.owdQ < 2*c.ShaperMinQueueMS
	}
	// the drop chains' rate (chain.go): only for a sender that lost in
	// runs with no queue on the path (the case below)
	var chain chainEstimate
	chainHeld := func() bool {
		chain = chainRate(a.drops)
		return chain.ok && chain.spans(chain.bps)
	}
	rttTxt := "RTT unknown"
	if a.rtt.Samples > 0 {
		rttTxt = "RTT " + msTxt(a.rtt.MinMS)
	}
	switch {
	case d.dataPkts < uint64(c.MinDataPackets) || a.durNS < c.MinDurationNS:
		set(VerdictInsufficientData, 0.5)
		dg.Summary = fmt.Sprintf("too little data to diagnose: %d data segments over %.0f ms", d.dataPkts, float64(a.durNS)/1e6)
		a.small = true
	case offFr >= math.Max(c.AppIdleFrac, dataAppIdleFrac) && a.lossFrac < 0.01 && !a.sendQueued() && !(a.owdOK && a.owdQ >= appMaxOwdMS):
		// (a sender whose retransmissions show a queue on the path was
		// held back by it, not by its application; so was one whose
		// one-way delay grew 100 ms or more: the applications of the
		// spent sets added at most 70 ms, bursts of 2 MiB writes, and
		// flows sharing a FIFO 100-1170 ms)
		set(VerdictApplication, 0.6) // tune: 77 of 129
		dg.RateBps = math.Round(a.meanBps)
		dg.Summary = fmt.Sprintf("application-limited at %s on average: the sender was idle after the ACKs came %.0f%% of the time, %s (only the data direction is mirrored)", mbps(a.meanBps), 100*offFr, lossTxt(a.lossFrac))
	case a.reorderN >= uint64(math.Max(5, c.ReorderMinFrac*float64(d.dataPkts))) && f.reorderDominates(a):
		set(VerdictReordering, 0.7)
		dg.Summary = fmt.Sprintf("limited by reordering: %d reordering events (%.1f%% of segments), real loss %.2f%% (only the data direction is mirrored)",
			a.reorderN, 100*float64(a.reorderN)/float64(d.dataPkts), 100*a.lossFrac)
	case a.lossFrac < windowRoundsMaxLoss && roundRTT > 0 && windowHeld():
		// Next to nothing lost, and the data leaves in bursts one handshake RTT
		// apart: each round's ACKs release the next round, the same
		// window every time. Without loss a congestion window keeps
		// growing; what holds it is the receiver's advertised window
		// (or the sender's socket buffer). Spent sets heldout9-12: 45
		// of 82 receiver-window data flows (every other one too
		// irregular, or without a handshake RTT), and no lossless flow
		// of another kind that the application test had not taken
		// first (app_bursty 0.53-0.61 of its periods within the band)
		conf := 0.45
		if rounds.inRTT < windowRoundsSureFrac {
			conf = 0.35
		}
		set(VerdictReceiverWindow, conf)
		rate := a.plateauBps
		if rate == 0 {
			rate = a.meanBps
		}
		dg.RateBps = math.Round(rate)
		win := rate / 8 * roundRTT / 1000 / math.Max(a.wireRatio, 1)
		ev("%d bursts of data after gaps of at least a quarter RTT; %.0f%% of them began one RTT (%s, %s, within 15%%) after the previous one", rounds.gaps, 100*rounds.inRTT, msTxt(roundRTT), roundTxt)
		dg.Summary = fmt.Sprintf("receiver-window limited at %s: no loss, and the data leaves in bursts one RTT (%s) apart, a window of ~%.0f kB per round (the receiver's advertised window, or the sender's socket buffer; only the data direction is mirrored, the window itself is not seen)",
			mbps(rate), msTxt(roundRTT), win/1000)
	case a.rtt.Samples > 0 && (a.flach[0].code == 0 || a.flach[1].code == 0) && !a.sendQueued():
		// (not where the retransmission delays show a queue on the
		// path, which a policer does not add: a queue's tail drops pass
		// Flach's tests too: 9 shaper and FIFO senders of heldout13-25
		// move from policer to shaper, one more and one policer to
		// insufficient_data; spent)
		r := a.flach[0]
		if r.code != 0 {
			r = a.flach[1]
		}
		set(VerdictPolicer, 0.35) // tune: 4 of 12
		dg.RateBps = math.Round(r.rate)
		dg.BurstBytes = math.Round(a.burstBytes)
		ev("Flach et al. token-bucket tests pass (cutoff 0: code %d, cutoff 2: code %d) with the handshake RTT", a.flach[0].code, a.flach[1].code)
		dg.Summary = fmt.Sprintf("policed at %s, burst ~%.0f kB: %.1f%% of segments dropped at a steady rate, %s (only the data direction is mirrored)",
			mbps(r.rate), a.burstBytes/1000, 100*a.lossFrac, rttTxt)
	// (no policer from drops in runs at the sender here: its rate is
	// the top of the sending rate, which cubic and reno under a small
	// bucket never reach: 4 of 23 such flows of tune + heldout4 within
	// 10%, the rest 25-95% under, and reordering paths' spurious
	// retransmissions come in runs too)
	case (a.flat || a.flat1s && a.plateauCV < flat1sMaxCV) && a.sendQueued():
		set(VerdictShaper, 0.5)
		dg.RateBps = math.Round(a.plateauBps)
		if !a.flat {
			dg.RateBps = math.Round(a.rate1s)
		}
		dg.QueueDelayMS = round3(a.sendQ)
		dg.Summary = fmt.Sprintf("shaped at %s: flat sending rate (CV %.2f) clocked by the ACKs, lost segments retransmitted %.0f ms later than a %s RTT allows (a queue), %.2f%% loss (only the data direction is mirrored)",
			mbps(a.plateauBps), a.plateauCV, a.sendQ, msTxt(a.sendBase), 100*a.lossFrac)
	case a.flat && a.sendUnqueued() && a.lossFrac >= sendPolicerMinLoss:
		set(VerdictPolicer, 0.45)
		dg.RateBps = math.Round(a.plateauBps)
		dg.Summary = fmt.Sprintf("policed at %s: flat sending rate (CV %.2f), %.1f%% of segments lost and retransmitted one handshake RTT (%s) later: no queue on the path (only the data direction is mirrored)",
			mbps(a.plateauBps), a.plateauCV, 100*a.lossFrac, msTxt(a.rtt.MinMS))
	case a.receiver && a.flat && a.plateauBps > 0 && a.owdOK && a.owdQ >= 2*c.ShaperMinQueueMS && a.burstCapBps > 0 && d.retx == 0:
		// A flat, lossless rate behind one-way delay growth whose
		// segments arrived in bursts at over 20 times it (burstCapBps):
		// no bottleneck at the rate spaced them, as with both directions
		// (decide), and the growth is the bursts' own. The sender paced
		// itself (an application) or a window held it, whose bursts would
		// be one RTT apart (the window-rounds case above); without an RTT
		// the two cannot be told apart. Spent sets heldout13-22, 24, 32:
		// 27 views of paced applications (iperf3 -b, 1-4 flows, alone or
		// summed into a "shared shaper") from shaper to application, one
		// shaper's (77 Mbit/s, one flow) to it.
		a.bursts = true
		burst := fmt.Sprintf("no loss, and the data arrived in bursts at %s, %.0f times its rate (no bottleneck at its rate spaced it; the %.0f ms of one-way delay growth is the bursts' own)",
			mbps(a.burstCapBps), a.burstCapBps/a.plateauBps, a.owdQ)
		if roundRTT <= 0 {
			set(VerdictInsufficientData, 0.5)
			dg.Summary = fmt.Sprintf("cannot tell the application from the receiver window with the data alone: flat rate %s, %s; RTT unknown (only the data direction is mirrored)", mbps(a.plateauBps), burst)
			break
		}
		set(VerdictApplication, 0.4)
		dg.RateBps = math.Round(a.plateauBps)
		dg.Summary = fmt.Sprintf("application-limited at %s: flat rate (CV %.2f), %s, and the bursts are not one RTT (%s) apart, as a receiver window's would be (only the data direction is mirrored)",
			mbps(a.plateauBps), a.plateauCV, burst, msTxt(roundRTT))
	case a.flat && a.plateauBps > 0 && a.owdOK && a.owdQ >= 2*c.ShaperMinQueueMS && a.lossFrac < c.ShaperMaxLossFrac:
		set(VerdictShaper, 0.45) // tune: 58 of 129
		dg.RateBps = math.Round(a.plateauBps)
		dg.QueueDelayMS = a.owdQ
		dg.Summary = fmt.Sprintf("shaped at %s: flat rate (CV %.2f), queueing delay up to %.0f ms from the timestamps, %.2f%% loss (only the data direction is mirrored)",
			mbps(a.plateauBps), a.plateauCV, a.owdQ, 100*a.lossFrac)
	case !a.receiver && a.lossFrac >= c.LossMinFrac && !a.flat && a.sendUnqueued() && a.lossRunFrac < c.PolicerRunFrac/2:
		// at the sender: single losses (not in runs: a bucket that ran
		// dry drops 30-90% of its losses next to another, random loss
		// 0-5%, heldout4), retransmitted one RTT later (no queue on the
		// path), and a sending rate without a ceiling
		set(VerdictRandomLoss, 0.35)
		dg.Summary = fmt.Sprintf("limited by random loss: %.2f%% of segments lost and retransmitted one %s RTT later (no queue on the path), without a rate plateau, %s on average (only the data direction is mirrored)",
			100*a.lossFrac, msTxt(a.sendBase), mbps(a.meanBps))
	case !a.receiver && a.lossFrac >= chainPolicerMinLoss && !a.flat && a.sendUnqueued() && a.sendQ >= -sendJitterMaxMS &&
		a.lossRunFrac >= c.PolicerRunFrac/2 && chainHeld():
		// At the sender, losses in runs with no queue on the path and a
		// sending rate without a ceiling: a token bucket that cubic's
		// and reno's saw-teeth stay under between their bursts, where
		// the drops' timing still shows its rate (chain.go). Spent sets
		// heldout13-22 and 24: of the single flows left
		// insufficient_data with no queue, the policed ones' drop chains
		// read 0.91-1.06 of the rate (their sending rate's median
		// 0.50-1.11); this case moved 22 of their views to right and no
		// flow of another kind. (Not where the retransmissions came
		// sooner than the handshake's RTT allows, sendJitterMaxMS: the
		// RTT is then no base, as on reordering paths, 6-10 ms early.)
		set(VerdictPolicer, 0.35)
		dg.RateBps = math.Round(chain.bps)
		ev("drop timing: between drops up to 20 ms apart the bucket let through %s (least squares over %d chains of drops at 10 ms)", mbps(chain.bps), chain.chains)
		dg.Summary = fmt.Sprintf("policed at %s: %.2f%% of segments lost, %.0f%% of them next to another (a token bucket that ran dry), retransmitted one %s RTT later (no queue on the path); the drops' timing gives the rate, the sending rate stays under it between bursts (median %s, CV %.2f) (only the data direction is mirrored)",
			mbps(chain.bps), 100*a.lossFrac, 100*a.lossRunFrac, msTxt(a.sendBase), mbps(a.plateauBps), a.plateauCV)
	case a.receiver && a.lossFrac >= c.LossMinFrac && !a.flat && a.owdOK && a.owdQ < c.ShaperMinQueueMS && a.lossRunFrac < c.PolicerRunFrac/2:
		// (single losses, as at the sender: of the segments lost behind
		// a token bucket 14-48% followed a lost one at the receivers
		// of heldout9-14 with both directions, at random 0-12%; the
		// runs go to the default, insufficient_data)
		set(VerdictRandomLoss, 0.3) // tune: 4 of 14
		dg.Summary = fmt.Sprintf("limited by random loss: %.2f%% of segments lost without a rate plateau or queueing, %s, %s on average (only the data direction is mirrored)",
			100*a.lossFrac, rttTxt, mbps(a.meanBps))
	case a.receiver && a.flat && a.lossFrac >= c.LossMinFrac && a.lossRunFrac >= c.PolicerRunFrac/2 && a.owdOK && a.owdQ < c.ShaperMinQueueMS &&
		(a.serialized() || a.capBps >= dispPolicerMin*a.plateauBps):
		// At the receiver, a flat rate losing in runs without a queue
		// in front: a token bucket that ran dry, or the tail of a queue
		// too shallow to show. The packets' spacing tells them apart
		// (serial.go): a queue sends them one serialisation time apart
		// at its rate, a policer passes the sender's bursts.
		if a.serialized() {
			set(VerdictShaper, 0.35)
			dg.RateBps = math.Round(a.plateauBps)
			dg.QueueDelayMS = round3(math.Max(0, a.owdQ))
			ev("packet dispersion: back-to-back segments arrived at %s, the flow's rate: a queue served at that rate spaced them (a policer passes the sender's spacing)", mbps(a.capBps))
			dg.Summary = fmt.Sprintf("shaped at %s: flat rate (CV %.2f), segments arrive one serialisation time apart at it, %.2f%% lost in runs at the tail of a queue too shallow to show (%.0f ms from the timestamps), %s (only the data direction is mirrored)",
				mbps(a.plateauBps), a.plateauCV, 100*a.lossFrac, math.Max(0, a.owdQ), rttTxt)
			break
		}
		// the rate: the top of the flow's bins, as with both directions
		// (decide): the saw-tooth stays under the bucket's rate between
		// its losses
		rate := a.policedTop()
		set(VerdictPolicer, 0.35)
		dg.RateBps = math.Round(rate)
		ev("packet dispersion: back-to-back segments arrived at %s, %.1f times the flow's rate: no queue at the rate spaced them (the sender's bursts passed as sent)", mbps(a.capBps), a.capBps/a.plateauBps)
		dg.Summary = fmt.Sprintf("policed at about %s: flat rate (CV %.2f), %.2f%% of segments lost, %.0f%% of them next to another (a token bucket that ran dry), no queueing (%.0f ms from the timestamps), and the segments keep the sender's spacing, %s (only the data direction is mirrored)",
			mbps(rate), a.plateauCV, 100*a.lossFrac, 100*a.lossRunFrac, math.Max(0, a.owdQ), rttTxt)
	default:
		set(VerdictInsufficientData, 0.5)
		rate := "variable"
		if a.flat {
			rate = "flat at " + mbps(a.plateauBps)
		}
		runs := ""
		if a.receiver && a.lossFrac >= c.LossMinFrac && a.lossRunFrac >= c.PolicerRunFrac/2 {
			runs = fmt.Sprintf(", %.0f%% of the lost segments next to another (a token bucket that ran dry or a full queue's tail, not random loss)", 100*a.lossRunFrac)
		}
		dg.Summary = fmt.Sprintf("cannot tell the limiter from the data direction alone at the %s side: rate %s, %.2f%% loss%s, %s, %s (the ACKs are not mirrored)",
			a.point, rate, 100*a.lossFrac, runs, queue(), rttTxt)
	}
}

// msTxt prints a measured time in ms with enough digits that a short
// one is not printed as zero.
func msTxt(ms float64) string {
	if ms < 0.1 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// holeSegs is the mean SACK hole at the start of d's loss episodes, in
// segments of mss bytes (0: none seen).
func (d *dirState) holeSegs(mss uint64) float64 {
	if d.sackHoles == 0 {
		return 0
	}
	return float64(d.sackHoleB) / float64(d.sackHoles) / float64(mss)
}

// ACK-only thresholds (decideOneWayVerdict): the share of 100 ms bins in
// which the cumulative ACK stood still, and duplicate ACKs per
// acknowledged segment.
const (
	ackIdleMinFrac = 0.5
	// ACK pauses (dirState.ackGapNs) count from this long
	ackGapNS = 1e6
	// an application from its ACKs alone: paused at least this share of
	// the time
	ackAppMinGapFrac = 0.8
	// random loss drops single segments: the mean hole at the start of
	// a loss episode, in segments (SACK), at most this (heldout4: random
	// loss 1.00-1.06, policers 1.3-57)
	ackRandomMaxHole = 1.2
	// data alone at the sender: a sending rate flat only by the second
	// counts for a shaper when its 100 ms CV is under this
	flat1sMaxCV = 0.15
	// a token bucket that ran dry: at least this many segments missing
	// at the start of a loss episode on average
	ackPolicerMinHole    = 2
	ackAppMaxDupFrac     = 0.005
	ackPolicerMinDupFrac = 0.01
	// a window limit implies a path RTT up to this (ms); an application
	// limit an RTT of at least that
	ackRwndMaxRTTMS = 250
	ackAppMinRTTMS  = 300
	// with the handshake's RTT h from the ACKs, a window limit implies
	// at most ackRwndHsFactor*h + ackRwndHsSlackMS
	ackRwndHsFactor  = 2
	ackRwndHsSlackMS = 10
	// a window limit with a little one-way delay growth q (ms, under
	// ackRwndMaxQueueMS): the window implies at most
	// ackRwndQueueFactor*(h+q) + ackRwndQueueSlackMS
	ackRwndMaxQueueMS   = 10
	ackRwndQueueFactor  = 1.3
	ackRwndQueueSlackMS = 2
	// and over a variable rate's mean at least this many times h
	ackRwndMeanMinFactor = 0.7
	// data alone at the sender: the loss a flat rate without a queue
	// needs to be called a policer (single policed flows: 7.9-15.8% on
	// tune + heldout3; spurious retransmissions of a reordering path,
	// which look like loss here, 2.5% on the spent heldout)
	sendPolicerMinLoss = 0.05
)

// idleBins is the share of empty bins between the first and the last
// non-empty one.
func idleBins(bps []float64) float64 {
	lo, hi := -1, -1
	for i, v := range bps {
		if v > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 || hi-lo+1 < 10 {
		return 0
	}
	empty := 0
	for _, v := range bps[lo : hi+1] {
		if v <= 0 {
			empty++
		}
	}
	return float64(empty) / float64(hi-lo+1)
}

// appMaxOwdMS: one-way delay growth (ms) beyond which a sender seen idle
// from its data alone was held back by a queue, not by its application.
const appMaxOwdMS = 100

// Window rounds seen from the data alone (rttRounds): at least this
// many bursts, and this share of them one RTT after the previous one.
// Fewer than windowRoundsMaxLoss of the segments lost: a window that
// does not grow for want of loss (one retransmission in 10,000 segments
// in two receiver-window runs).
const (
	windowRoundsMin = 15
	// (0.3, was 0.5: receiver-window flows whose ACKs come back in
	// clumps split their rounds, 30-45% of the periods in the band,
	// where the constant-rate applications of heldout13-21 left 2-22%;
	// there 18 data-only views moved to right, and a shaper's member
	// seen at its sender from insufficient_data to a wrong
	// receiver_window; below 0.5 it needs a view of the queue that shows
	// none, and the confidence is lower)
	windowRoundsFrac     = 0.3
	windowRoundsSureFrac = 0.5
	windowRoundsMaxLoss  = 0.001
)

// windowRounds is how a flow's data leaves relative to the handshake RTT.
type windowRounds struct {
	gaps  int     // gaps of at least a quarter RTT between segments
	inRTT float64 // share of the periods from one gap's end to the next within 15 % of the RTT
}

// rttRounds reads the sending pattern of the data (the direction's
// records, in capture order) against the handshake RTT. A sender held by
// a window sends it in a burst and waits for its ACKs: at a point before
// any queue, or behind none, the bursts start one RTT apart.
func (a *analysis) rttRounds(rttMS float64) windowRounds {
	var w windowRounds
	rttUS := rttMS * 1000
	rb := &a.d.rb
	if rttUS <= 0 || rb.n < 2 {
		return w
	}
	thr := uint32(rttUS / 4)
	var last uint32
	have := false
	periods, inBand := 0, 0
	prev := rb.at(0).t
	for i := 1; i < rb.n; i++ {
		t := rb.at(i).t
		if t < prev {
			// a capture whose clock stepped back: no gap (and no
			// unsigned wrap into a huge one)
			continue
		}
		if t-prev >= thr {
			w.gaps++
			if have {
				periods++
				if math.Abs(float64(t-last)/rttUS-1) <= 0.15 {
					inBand++
				}
			}
			last, have = t, true
		}
		prev = t
	}
	if periods > 0 {
		w.inRTT = float64(inBand) / float64(periods)
	}
	return w
}

// dataAppIdleFrac: with the data alone, the share of the transfer the
// sender sat idle after the ACKs came (staleNs) that makes it an
// application. The applications of the spent sets heldout9-14 sat idle
// 70-100 % of the time (one bursty sender 42 %); the shapers, FIFOs,
// random loss and reordering that came out application 26-47 % (and
// shapers clocked by a bidirectional transfer's ACKs 86-99 %, which this
// cannot tell).
const dataAppIdleFrac = 0.5
