package diagnose

import (
	"math"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// Sizes of the fixed per-direction rings. They bound memory; when one is
// full the newest entry is not stored (pending, ts) or the oldest is
// overwritten (holes, dsack), which only costs samples, never
// correctness of the counters.
const (
	holeRing  = 32
	pendRing  = 256
	tsRing    = 128
	dsackRing = 64
	maxRed    = 32
	// a hole wider than this many segments gets only this many synthetic
	// loss records.
	maxHoleRecs = 64
)

// rec kinds
const (
	recOrig uint8 = iota // new data
	recRetx              // at/below the highest seq, not filling a hole
	recFill              // fills a hole
	recHole              // synthetic: a segment missing at this point
)

// rec flags
const (
	recLost  uint8 = 1 << iota // set at Finish (sender side): later retransmitted
	recVoid                    // synthetic hole record turned out reordered
	recReord                   // a fill by a late original
	recSpur                    // retransmission D-SACKed / duplicated
)

// rec is one data segment, 24 bytes.
type rec struct {
	t     uint32 // µs since the flow's first packet
	seq   uint32 // relative to the direction's first seq
	plen  uint16
	flen  uint16
	rttA  uint32 // µs: this segment's data->ACK delay (0 none)
	rttB  uint32 // µs: latest ACK->echoing data delay at arrival (0 none)
	kind  uint8
	flags uint8
	// owd: capture time less the segment's TSval (ms, the sender's 1 kHz
	// clock), relative to the direction's first such sample, clamped
	// to int16: its growth over its minimum is the queueing between the
	// sender and this point, seen from the data alone.
	owd int16
}

type hole struct {
	start, end uint32 // relative seq range as opened
	left       uint32 // bytes still missing
	t          int64
	tsval      uint32
	hasTS      bool
	r0, r1     int32 // synthetic record indices
	fillRetx   uint32
}

type pend struct {
	end uint32
	rec int32
	t   int64
}

type tsEnt struct {
	tsval uint32
	t     int64
	used  bool
}

type seqRange struct{ l, r uint32 }

type round struct {
	max     uint64
	startT  int64
	endSeq  uint32 // sender style: round ends when ack >= endSeq
	ackTS   uint32 // receiver style
	haveTS  bool
	open    bool
	wfull   bool
	retx    bool
	ecn     bool
	timeout bool
	bytes   uint64
}

// roundStats accumulates per-round flights.
type roundStats struct {
	n         uint64
	wfull     uint64
	maxFlight uint64
	prev      uint64
	ssDone    bool
	ssExitT   int64
	ssExitB   uint64
	nred      int
	redCount  uint64
	flights   logHist
	reds      [maxRed]Reduction
}

// dirState is one direction of a flow: its data as sent, and the ACKs
// the peer returned for it. It is ~26 KB, mostly rings and histograms;
// the fields a packet reads or writes in the common case come first and
// together, so that a packet touches a few cache lines of it instead of
// one line per field scattered between the arrays (the engine's own
// per-packet state competes for the same L1).
type dirState struct {
	// per packet of this direction
	pkts, wire, dataPkts, payload uint64

	isn    uint32
	high   uint32 // relative: next expected seq (highest end)
	maxSeg uint32 // largest payload seen
	lastTS uint32
	// tsh, tsn: ts ring next write slot and fill; ph, pn: pend ring
	// head and fill
	tsh, tsn uint32
	ph, pn   uint32

	lastDataT int64

	// ACKs received for this direction's data (sent by the peer).
	highAck    uint32
	highDeliv  uint32
	recoverEnd uint32 // Karn: no RTT samples for segments ending at or below
	lastEchoUs uint32
	rwnd       uint64
	rwndFull   uint64 // ceil(RwndFullFrac*rwnd): the window-full threshold
	dupAcks    uint64 // (every data segment of a bulk transfer is one for the other direction)
	hasISN     bool
	hasHigh    bool
	hasWS      bool // window scale negotiated (both SYNs carried it)
	sentWS     bool
	wscale     uint8
	hasAck     bool
	hasDeliv   bool
	inRecovery bool

	open       int    // holes with left > 0
	rb         recBuf // records while observing
	recDropped uint64

	// TS clock and one-way delay growth (one-direction views), read or
	// written per data segment: here with the rest of the per-packet
	// state rather than after the rings (a cache line more per packet).
	ecrMin int64 // ms: min of capture ms less TSecr over data segments
	// owdOff: the first data segment's TSval less its capture ms counted
	// from the 1 ms bins' first (recOwd)
	owdOff  int64
	tsLastT int64
	tsFirst uint32
	ecrLast uint32 // TSecr of the last data segment that was checked against ecrMin
	hasEcr  bool
	hasOwd  bool
	// fast: observeFast may take this direction's data (setFast; in the
	// padding before echoDone)
	fast bool
	// echoDone: the TSecr of d's last echo-half sample (in the padding
	// before sr)
	echoDone uint32

	sr, rr round

	minA, minB int64
	srttA      int64 // EWMA (1/8) of the halves, ns: the idle threshold
	srttB      int64 // follows the RTT including queueing

	// bins[0] (1 ms) is added to per packet; it feeds the coarser ones.
	bins [4]binner

	// per event (flags, retransmissions, holes, rounds, ...)
	rwndMax  uint64
	tsFirstT int64 // (set once: out of the per-packet lines)
	// sackHoles, sackHoleB: loss episodes seen in the ACKs (the first
	// duplicate ACK with SACK at a cumulative ACK) and the bytes missing
	// below their lowest SACK block: a token bucket that ran dry drops
	// runs of segments, random loss one at a time. holeAck: the
	// cumulative ACK of the last episode.
	sackHoles, sackHoleB uint64
	holeAck              uint32
	hasHoleAck           bool
	mss                  uint32 // from the SYN's MSS option
	// retxRecEnd: the index after the last retransmission's record (0:
	// none recorded), where markLoss's pass can stop (int32 as pend.rec:
	// it fills the padding after mss)
	retxRecEnd int32
	zeroWin    uint64
	ece        uint64
	cwr        uint64
	ce         uint64

	capGaps uint64 // segments acknowledged but never seen here (capture/mirror loss)

	retx, holesN, fillRetx, fillReord, dups, dsack, reorder, lostRecv uint64

	nholes int // total opened (ring index = n % holeRing)
	ndsr   int

	offN, appN, stallN, restarts uint64
	offNs, appNs                 int64
	// highAckT: when highAck last advanced (here). zeroNs: the time
	// the sender sat with everything acknowledged and the window open
	// before new data, as a sender-side point sees it (zeroFlight)
	highAckT int64
	zeroNs   int64
	// firstDataT: the direction's first data (set once: out of the
	// per-packet lines)
	firstDataT int64

	// ackBins: payload bytes newly acknowledged per 100 ms (delivered
	// rate seen from the sender side).
	ackBins binner
	s100    series
	s1s     series
	sAck    series
	// ackBinsTS: the same bytes binned at the receiver's send time, from
	// the ACKs' TSval (1 ms ticks, offset to the capture clock at the
	// first ACK): at a sender-side point the ACKs' arrival times carry
	// the reverse path's queueing (behind the other direction's data in
	// a bidirectional transfer), the receiver's clock does not.
	// ackTSBad: a TSval that strayed more than tsStrayNS from the capture
	// clock (not a 1 kHz clock): the series is not used.
	ackBinsTS              binner
	sAckTS                 series
	ackTS0, ackTSLast      int64
	ackTSVal0, ackTSValEnd uint32
	hasAckTS, ackTSBad     bool
	// revOwdMin, revOwdSum, revOwdN: the ACKs' arrival less their TSval
	// on the capture clock (the reverse path's one-way delay, relative),
	// ns: its mean over its minimum is the queue the ACKs met
	revOwdMin int64
	revOwdSum float64
	revOwdN   uint64

	// rings and histograms, each touched at one slot per use
	pend     [pendRing]pend
	ts       [tsRing]tsEnt
	holes    [holeRing]hole
	dsr      [dsackRing]seqRange
	rwndHist logHist
	ackHalf  logHist
	echoHalf logHist
	sStats   roundStats
	rStats   roundStats

	// one-way delay growth from the ACKs (one-direction views)
	staleNs   int64 // off periods ended by a stale echo (dataGap)
	ackOwdMin int64 // µs: min of ACK time less TSecr ms (the data's TSval)
	ackOwdN   uint64
	ackWinEnd int64       // ns: the end of the open window (ackOwdWinNS)
	ackWinMin int64       // µs: its least sample
	ackOwdWN  uint32      // windows closed into ackOwd
	ackOwd    [256]uint16 // windows' least samples, ms above ackOwdMin, last bin 255+
	// ackGapNs: the time between advances of the ACK of d's data that
	// were over ackGapNS apart, summed: an application's pauses between
	// writes, seen from its ACKs alone (a sender at its host's limit
	// keeps them coming)
	ackGapNs int64
	// ackEv: the drops rebuilt from the ACKs of d's data while d has no
	// packet (ackChain; nil until then)
	ackEv *ackChain
	_     [24]byte

	// (a whole number of cache lines without padding, TestFlowLayout:
	// the second direction's per-packet head then starts on a line too)
}

// Flow is the diagnosis state of one TCP connection. Memory: about 53 KiB
// of fixed arrays plus at most MaxRecords records and two series per
// direction.
type Flow struct {
	// per packet first (one cache line; cfg's head, MaxRecords and
	// IdleFloorNS, is another)
	started bool
	// settled: both directions' ISNs are known and the handshake's ACK
	// is resolved, so that observeRare, which sets them, has nothing left
	// to do but for a SYN or a CE mark (set by observeRare itself)
	settled bool
	// dataSeen: a direction's first data is noted (firstData: hasHigh,
	// firstDataT and, for the server's, respT are set)
	dataSeen [2]bool
	t0       int64
	last     int64

	synT, synAckT, hsAckT, respT int64
	// srvAckT: the server's first ACK of client data (iperf3's cookie, a
	// request): SYN/ACK to it is the RTT at the server's side plus the
	// client's delay before it sent, the one RTT the server's direction
	// alone shows
	srvAckT int64

	// d starts 64 bytes in and a dirState is a whole number of cache
	// lines (TestFlowLayout): a Flow is a large allocation, page-aligned,
	// so each direction's per-packet head is cache-line aligned and a
	// packet touches 6 lines of it, not 7 straddled ones.
	d [2]dirState

	cfg Config

	done *Diagnosis // Finish's result
}

// NewFlow returns an empty flow diagnosis.
func NewFlow(cfg Config) *Flow {
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultConfig().MaxRecords
	}
	if cfg.SeriesPoints < 2 {
		cfg.SeriesPoints = DefaultConfig().SeriesPoints
	}
	cfg.SeriesPoints &^= 1 // series merges pairs: keep it even
	f := &Flow{cfg: cfg}
	for i := range f.d {
		d := &f.d[i]
		for j, w := range [4]int64{1e6, 10e6, 100e6, 1e9} {
			d.bins[j].width = w
			if j > 0 {
				d.bins[j-1].next = &d.bins[j]
			}
		}
		d.s100 = series{cap: cfg.SeriesPoints, per: 1}
		d.s1s = series{cap: cfg.SeriesPoints, per: 1}
		d.bins[2].series = &d.s100
		d.bins[3].series = &d.s1s
		d.sAck = series{cap: cfg.SeriesPoints, per: 1}
		d.ackBins = binner{width: 100e6, series: &d.sAck}
		d.sAckTS = series{cap: cfg.SeriesPoints, per: 1}
		d.ackBinsTS = binner{width: 100e6, series: &d.sAckTS}
		d.minA, d.minB = -1, -1
	}
	return f
}

// dirOf is d's index in f.d.
func (f *Flow) dirOf(d *dirState) int {
	if d == &f.d[0] {
		return 0
	}
	return 1
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// minRTT is the online estimate of the path's minimum RTT (ns), -1 when
// unknown.
func (f *Flow) minRTT(d *dirState) int64 {
	switch {
	case d.minA >= 0 && d.minB >= 0:
		return d.minA + d.minB
	case d.minA >= 0:
		return d.minA
	case d.minB >= 0:
		return d.minB
	}
	if f.synT > 0 && f.hsAckT > 0 {
		return f.hsAckT - f.synT
	}
	return -1
}

// Observe feeds one packet. dir 0 = client->server, 1 = server->client.
// ts is in ns and may step backwards slightly (clamped). r may be nil.
// p and r are only read during the call.
//
// Observe runs for every packet of a diagnosed flow. Its common case, a
// data segment in order that acknowledges nothing new (see observeFast),
// takes a path without calls; every other packet takes observe. (Small
// enough to inline into the engine.)
func (f *Flow) Observe(ts int64, dir int, p *decode.Packet, r *tcpseq.Result) {
	f.observeFast(ts, dir, p, r)
}

// observeFast is observe for the packet most of a bulk transfer's are: a
// data segment of dir that starts at the highest seq (no hole, no
// retransmission), acknowledges nothing new for the other direction
// (every data segment of a one-way transfer repeats its ACK) with the
// same window, needs no echo sample, ends no idle gap, no receiver-style
// round and no rate bin, and has room for its record without a new
// chunk. It tests all of that first and, when a test fails, hands the
// packet to observe unchanged and returns false; when they all pass it
// does what observe does for such a packet, without a call. The calls
// to observe are its only calls and come before any work, so nothing is
// live across them: observe, with calls on its rare paths, spilled its
// arguments and locals at entry and reloaded them after each call (~40
// instructions a packet with the call setup).
// TestObserveFastMatchesObserve checks it against observe.
func (f *Flow) observeFast(ts int64, dir int, p *decode.Packet, r *tcpseq.Result) bool {
	ts0 := ts
	if p == nil || uint(dir) > 1 || !p.HasTCP() || p.ECN() == 3 {
		f.observe(ts0, dir, p, r)
		return false
	}
	if p.PayloadLen == 0 {
		return f.ackFast(ts, dir, p, r)
	}
	d, o := &f.d[0], &f.d[1]
	if dir != 0 {
		d, o = o, d
	}
	t := &p.TCP
	flags := t.Flags
	const notFast = decode.TCPSyn | decode.TCPFin | decode.TCPRst | decode.TCPEce | decode.TCPAck
	if !d.fast || flags&notFast != decode.TCPAck || t.NSACK != 0 {
		f.observe(ts0, dir, p, r)
		return false
	}
	if ts < f.last {
		ts = f.last
	}
	// the ACK: a duplicate of o's highest (d.fast: o's ACK state allows
	// one), with the window o has
	if t.Ack-o.isn != o.highAck {
		f.observe(ts0, dir, p, r)
		return false
	}
	var win uint64
	if r != nil && r.Window > 0 {
		win = uint64(r.Window)
	} else {
		win = uint64(t.Window)
		if d.hasWS {
			win <<= d.wscale
		}
	}
	if win != o.rwnd {
		f.observe(ts0, dir, p, r)
		return false
	}
	// the data: in order, inside the open 1 ms bin, no gap to account.
	// (d.fast holds d's first data noted, so observe has added a packet
	// of d to the bin: it is active. A gap from lastDataT 0, a segment
	// at time 0 before this one, goes to observe, which does not
	// account it either: without observe's lastDataT != 0 test here, the
	// rare case declines, and every other packet saves the test.)
	seq := t.Seq - d.isn
	b := &d.bins[0]
	if seq != d.high || ts >= b.curEnd || ts-d.lastDataT > f.cfg.IdleFloorNS {
		f.observe(ts0, dir, p, r)
		return false
	}
	var tsEcr uint32
	if t.HasTS {
		tsEcr = t.TSEcr
	}
	// no echo sample to take, no receiver-style round to close
	// (echoDone first: the rest of a burst echoes it)
	if tsEcr != 0 && (tsEcr != d.echoDone && o.tsn > 0 ||
		d.rr.open && d.rr.haveTS && !seqLT(tsEcr, d.rr.ackTS)) {
		f.observe(ts0, dir, p, r)
		return false
	}
	// (the chunk full first: it is rarely, where the record test below
	// is not; the test is made again where the record is written, the
	// values it reads unchanged in between: carried as a flag from here,
	// the compiler kept it in a stack slot)
	if d.rb.n == d.rb.lim && d.rb.n < f.cfg.MaxRecords && ts-f.t0 < 4e15 {
		f.observe(ts0, dir, p, r)
		return false
	}

	// observe's work for this packet, in its order
	f.last = ts
	frameLen := p.FrameLen
	d.pkts++
	d.wire += uint64(frameLen)
	b.acc += float64(frameLen)
	// (the ACK)
	if win == 0 {
		o.zeroWin++
	}
	o.dupAcks++
	tsVal := t.TSVal
	if !t.HasTS {
		tsVal = 0
	}
	if o.rr.open && !o.rr.haveTS && tsVal != 0 {
		o.rr.ackTS = tsVal
		o.rr.haveTS = true
	}
	// TS bookkeeping (tsVal == lastTS first: see observe's)
	if tsVal != d.lastTS && tsVal != 0 {
		d.noteTS(tsVal, ts)
	}
	// the data
	plen := p.PayloadLen
	end := seq + plen
	if plen > d.maxSeg {
		d.maxSeg = plen
	}
	d.dataPkts++
	d.payload += uint64(plen)
	if flags&decode.TCPCwr != 0 {
		d.cwr++
	}
	d.high = end
	// (see observe)
	if tsEcr != d.ecrLast && tsEcr != 0 {
		if v := ts/1e6 - int64(tsEcr); !d.hasEcr || v < d.ecrMin {
			d.ecrMin, d.hasEcr = v, true
		}
		d.ecrLast = tsEcr
	}
	d.lastDataT = ts
	// the record
	if d.rb.n < f.cfg.MaxRecords && ts-f.t0 < 4e15 {
		var owd int16
		if t.HasTS {
			owd = d.recOwd(ts, tsVal)
		}
		*d.rb.slot() = rec{
			t: uint32(uint64(ts-f.t0) / 1000), seq: seq, plen: clamp16(plen), flen: clamp16(frameLen),
			rttB: d.lastEchoUs, kind: recOrig, owd: owd,
		}
		if d.pn < pendRing {
			d.pend[(d.ph+d.pn)%pendRing] = pend{end: end, t: ts, rec: int32(d.rb.n - 1)}
			d.pn++
		}
	} else {
		d.recDropped++
		if d.pn < pendRing {
			d.pend[(d.ph+d.pn)%pendRing] = pend{end: end, t: ts, rec: -1}
			d.pn++
		}
	}
	// rounds
	flight := uint64(0)
	if d.hasAck && !seqLT(end, d.highAck) {
		flight = uint64(end - d.highAck)
	}
	if !d.sr.open {
		if d.rwnd > 0 {
			d.rwndHist.add(float64(d.rwnd))
		}
		d.sr = round{open: true, startT: ts, endSeq: end}
	}
	if flight > d.sr.max {
		d.sr.max = flight
	}
	if !d.rr.open {
		d.rr = round{open: true, startT: ts}
	}
	// (the sum kept for the test below: the compiler reloads it after
	// the store)
	rrBytes := d.rr.bytes + uint64(plen)
	d.rr.bytes = rrBytes
	// (both window-full tests under one rwnd test)
	if d.rwnd > 0 {
		if flight >= d.rwndFull {
			d.sr.wfull = true
		}
		if rrBytes >= d.rwndFull {
			d.rr.wfull = true
		}
	}
	return true
}

// setFast sets each direction's fast flag from what only observeRare,
// firstData and onAck change, at their ends: the handshake is settled
// (observeRare has nothing to do but for a SYN or a CE mark), the
// direction's first data is noted (firstData), and the other direction's
// ACK state lets a duplicate of its highest ACK be one (onAck's fast case
// in observe: an ACK and a delivered point, the latter not below the
// former).
func (f *Flow) setFast() {
	// (onAck sets its d's alone, as here)
	d0, d1 := &f.d[0], &f.d[1]
	d0.fast = f.settled && f.dataSeen[0] && d1.hasAck && d1.hasDeliv && !seqLT(d1.highDeliv, d1.highAck)
	d1.fast = f.settled && f.dataSeen[1] && d0.hasAck && d0.hasDeliv && !seqLT(d0.highDeliv, d0.highAck)
}

// ackFast is observeFast for a packet without data: a pure ACK of o's
// data, the handshake settled, no SYN, FIN or RST, inside the open 1 ms
// bin, takes observe's steps for it with onAck as its last call (the TS
// bookkeeping before it, which reads and writes none of what onAck
// does), so that nothing is live across a call; any other goes to
// observe unchanged (false).
func (f *Flow) ackFast(ts int64, dir int, p *decode.Packet, r *tcpseq.Result) bool {
	d, o := &f.d[0], &f.d[1]
	if dir != 0 {
		d, o = o, d
	}
	t := &p.TCP
	flags := t.Flags
	b := &d.bins[0]
	// (observe gets the time as given: before the flow's first packet
	// f.last is 0, and a negative first time clamped to it here started
	// the flow at 0)
	ts0 := ts
	if ts < f.last {
		ts = f.last
	}
	if !f.settled || flags&(decode.TCPSyn|decode.TCPFin|decode.TCPRst|decode.TCPAck) != decode.TCPAck ||
		!b.active || ts >= b.curEnd {
		f.observe(ts0, dir, p, r)
		return false
	}
	f.last = ts
	frameLen := p.FrameLen
	d.pkts++
	d.wire += uint64(frameLen)
	b.acc += float64(frameLen)
	// TS bookkeeping
	tsVal := t.TSVal
	if !t.HasTS {
		tsVal = 0
	}
	// (tsVal == lastTS first: see observe's)
	if tsVal != d.lastTS && tsVal != 0 {
		d.noteTS(tsVal, ts)
	}
	// the ACK (settled: o's ISN is known), as observe takes it
	const notFast = decode.TCPSyn | decode.TCPFin | decode.TCPRst | decode.TCPEce
	if ack := t.Ack - o.isn; flags&notFast == 0 && t.NSACK == 0 &&
		o.hasAck && ack == o.highAck && o.hasDeliv && !seqLT(o.highDeliv, ack) {
		f.onWindow(d, o, t, r)
		o.dupAcks++
		if o.rr.open && !o.rr.haveTS && tsVal != 0 {
			o.rr.ackTS = tsVal
			o.rr.haveTS = true
		}
		return true
	}
	f.onAck(ts, d, o, t, r, false)
	return true
}

// observe is Observe for every packet: handshakes, holes,
// retransmissions, idle periods and round ends go to functions of their
// own.
func (f *Flow) observe(ts int64, dir int, p *decode.Packet, r *tcpseq.Result) {
	if p == nil || !p.HasTCP() || uint(dir) > 1 {
		return
	}
	if !f.started {
		f.started = true
		f.t0 = ts
		f.last = ts
	}
	if ts < f.last {
		ts = f.last
	}
	f.last = ts
	d, o := &f.d[0], &f.d[1]
	if dir != 0 {
		d, o = o, d
	}
	t := &p.TCP
	// p's fields read more than once, loaded once (each store to the
	// flow between the reads had the compiler load them again)
	frameLen, flags := p.FrameLen, t.Flags
	d.pkts++
	d.wire += uint64(frameLen)
	d.bins[0].add(ts, float64(frameLen)) // feeds the coarser bins as its bins close

	syn := flags&decode.TCPSyn != 0
	// One test for the handshake, a direction's first packet and CE marks.
	// (observeRare does nothing a packet does not call for, so calling
	// it until settled is harmless)
	if syn || !f.settled || p.ECN() == 3 {
		f.observeRare(ts, dir, d, o, p, t)
	}

	// ACK processing: this packet acknowledges o's data.
	if flags&decode.TCPAck != 0 && o.hasISN {
		// Most ACKs acknowledge nothing new: every data packet of a bulk
		// transfer carries the same ACK for the other direction, which
		// sends none. For those onAck only updates the window and
		// counts a duplicate; do just that here, without the call.
		const notFast = decode.TCPSyn | decode.TCPFin | decode.TCPRst | decode.TCPEce
		if ack := t.Ack - o.isn; flags&notFast == 0 && t.NSACK == 0 &&
			o.hasAck && ack == o.highAck && o.hasDeliv && !seqLT(o.highDeliv, ack) {
			f.onWindow(d, o, t, r)
			o.dupAcks++
			if o.rr.open && !o.rr.haveTS && t.HasTS && t.TSVal != 0 {
				o.rr.ackTS = t.TSVal
				o.rr.haveTS = true
			}
		} else {
			f.onAck(ts, d, o, t, r, syn)
		}
	}
	// TS bookkeeping for echo matching (after the ACK part, before data).
	// (tsVal == lastTS first: the rest of a clock tick's packets, which
	// change nothing here; lastTS is 0 until the first sample, as tsn)
	if tsVal := t.TSVal; t.HasTS && tsVal != d.lastTS && tsVal != 0 {
		d.noteTS(tsVal, ts)
	}

	if p.PayloadLen == 0 || syn {
		return
	}

	// Data.
	plen := p.PayloadLen
	seq := t.Seq - d.isn
	end := seq + plen
	if !f.dataSeen[dir] {
		f.firstData(ts, dir, d, seq)
	}
	if plen > d.maxSeg {
		d.maxSeg = plen
	}
	d.dataPkts++
	d.payload += uint64(plen)
	if flags&decode.TCPCwr != 0 {
		d.cwr++
	}

	// echo half: ACK seen -> this data echoing its TSval.
	// (echoDone: the TSval this direction last took a sample for, whose
	// ring entry is used: segments echoing it again, the rest of a burst,
	// skip the lookup; no entry gets that TSval again, the ring only
	// takes newer ones)
	// tsEcr: the echoed TSval, 0 without the option (the tests below
	// all ask for the option and a non-zero echo): loaded once, where
	// each test reloaded t.HasTS and t.TSEcr after the stores between
	// them (the compiler cannot tell p's fields from the flow's)
	var tsEcr uint32
	if t.HasTS {
		tsEcr = t.TSEcr
	}
	if tsEcr != 0 && o.tsn > 0 && tsEcr != d.echoDone {
		// Runs of data packets echo the peer's newest TSval, which is
		// findTS's first probe: look there before calling it.
		e := &o.ts[(o.tsh+tsRing-1)%tsRing]
		if e.tsval != tsEcr {
			e = o.findTS(tsEcr)
		}
		// A segment that ends an idle gap echoes the ACK that came
		// before the gap: that time is the application's (or an RTO's),
		// not the path's. Skip the sample when the gap is most of it and
		// longer than IdleRTTs minimum RTTs (a window-limited sender
		// waits one RTT between its bursts; that sample is kept).
		if e != nil && !e.used && !f.idleEcho(d, ts, e.t) {
			d.echoSample(e, ts)
			d.echoDone = tsEcr
		}
	}

	kind := recOrig
	var recFlags uint8
	gapEndedByLoss := false
	if !seqLT(seq, d.high) { // new data, maybe after a hole
		if seqLT(d.high, seq) {
			f.openHole(ts, d, p, t, d.high, seq)
		}
		d.high = end
	} else { // at or below the highest seq
		kind, recFlags = f.oldData(ts, d, t, seq, end)
		gapEndedByLoss = true
	}

	// gaps (on/off)
	// (the threshold is at least IdleFloorNS: shorter gaps, nearly all
	// of them at speed, skip its computation)
	// echo age: capture ms less TSecr, whose growth over its minimum
	// is how old the newest ACK the sender had seen is
	// (ts never steps back, so a segment echoing the same TSecr as the
	// last one that moved the minimum cannot lower it: the minimum is
	// computed when the echo changes, about once per peer clock tick,
	// and the age only for a gap)
	// (ecrLast is 0 until hasEcr, and tsEcr then not 0: one test of
	// the echo's change, first)
	echo := tsEcr != 0
	if tsEcr != d.ecrLast && echo {
		if v := ts/1e6 - int64(tsEcr); !d.hasEcr || v < d.ecrMin {
			d.ecrMin, d.hasEcr = v, true
		}
		d.ecrLast = tsEcr
	}
	if gap := ts - d.lastDataT; d.lastDataT != 0 && gap > f.cfg.IdleFloorNS {
		ecr := int64(-1)
		if echo {
			ecr = ts/1e6 - int64(tsEcr) - d.ecrMin
		}
		f.dataGap(d, seq, gap, gapEndedByLoss, ecr)
		f.zeroFlight(d, ts, seq, gapEndedByLoss)
	}
	d.lastDataT = ts

	// records
	if d.rb.n < f.cfg.MaxRecords && ts-f.t0 < 4e15 {
		var owd int16
		if t.HasTS {
			owd = d.recOwd(ts, t.TSVal)
		}
		if d.rb.n == d.rb.lim {
			d.rb.grow(f.cfg.Records)
		}
		*d.rb.slot() = rec{
			t: uint32(uint64(ts-f.t0) / 1000), seq: seq, plen: clamp16(plen), flen: clamp16(frameLen),
			rttB: d.lastEchoUs, kind: kind, flags: recFlags, owd: owd,
		}
		if kind == recOrig && d.pn < pendRing {
			d.pend[(d.ph+d.pn)%pendRing] = pend{end: end, t: ts, rec: int32(d.rb.n - 1)}
			d.pn++
		} else if kind == recRetx {
			d.retxRecEnd = int32(d.rb.n)
		}
	} else {
		d.recDropped++
		if kind == recOrig && d.pn < pendRing {
			d.pend[(d.ph+d.pn)%pendRing] = pend{end: end, t: ts, rec: -1}
			d.pn++
		}
	}

	// rounds
	flight := uint64(0)
	if d.hasAck {
		flight = uint64(d.high - d.highAck)
		if seqLT(d.high, d.highAck) {
			flight = 0
		}
	}
	if !d.sr.open {
		if d.rwnd > 0 { // one rwnd sample per round
			d.rwndHist.add(float64(d.rwnd))
		}
		d.sr = round{open: true, startT: ts, endSeq: d.high}
	}
	if flight > d.sr.max {
		d.sr.max = flight
	}
	if d.rwnd > 0 && flight >= d.rwndFull {
		d.sr.wfull = true
	}
	if kind != recOrig {
		d.sr.retx = true
	}
	// receiver style: the round closes at the first data echoing an ACK
	// sent after the round began.
	if d.rr.open && d.rr.haveTS && tsEcr != 0 && !seqLT(tsEcr, d.rr.ackTS) {
		d.rr.max = d.rr.bytes
		f.closeRound(&d.rStats, &d.rr, d, ts)
	}
	if !d.rr.open {
		d.rr = round{open: true, startT: ts}
	}
	d.rr.bytes += uint64(plen)
	if kind != recOrig {
		d.rr.retx = true
	}
	if d.rwnd > 0 && d.rr.bytes >= d.rwndFull {
		d.rr.wfull = true
	}
}

// observeRare handles the handshake, the first packet of a direction and
// CE marks.
func (f *Flow) observeRare(ts int64, dir int, d, o *dirState, p *decode.Packet, t *decode.TCP) {
	if t.Flags&decode.TCPSyn != 0 {
		d.isn = t.Seq
		d.hasISN = true
		d.high = 1
		d.hasHigh = true
		if t.HasMSS {
			d.mss = uint32(t.MSS)
		}
		if t.HasWScale {
			d.sentWS = true
			d.wscale = t.WScale
			if d.wscale > 14 {
				d.wscale = 14
			}
		}
		if t.Flags&decode.TCPAck == 0 {
			if f.synT == 0 {
				f.synT = ts
			}
		} else {
			if f.synAckT == 0 {
				f.synAckT = ts
			}
			d.hasWS = d.sentWS && o.sentWS
			o.hasWS = d.hasWS
		}
	} else if f.hsAckT == 0 && f.synT > 0 && dir == 0 && t.Flags&decode.TCPAck != 0 {
		// the client's first ACK: with the SYN/ACK seen, the handshake's
		// second half; without it (only the client's direction
		// captured) SYN to ACK is the whole RTT at this point
		f.hsAckT = ts
	}
	if !d.hasISN {
		d.isn = t.Seq
		d.hasISN = true
	}
	// only the ACKs of o's data are captured: take o's sequence space
	// from the first ACK (the SYN/ACK's acknowledges o's ISN + 1)
	if !o.hasISN && t.Flags&decode.TCPAck != 0 {
		o.isn = t.Ack - 1
		o.hasISN = true
	}

	// ECN
	if p.ECN() == 3 {
		d.ce++
	}
	f.settled = f.d[0].hasISN && f.d[1].hasISN && (f.hsAckT != 0 || f.synT == 0)
	f.setFast()
}

// recOwd is a record's owd for d's data segment at ts with TSval tsVal:
// its capture ms less tsVal, relative to the direction's first such
// sample (the first call), clamped to int16. ts must be in bins[0]'s
// open bin (observe has added the segment to it; observeFast tests it).
// The capture ms is counted from the bins' first (k): the bins sit on
// whole ms of the clock, so on a clock >= 0 k is the open bin's index,
// without a division by 1e6 a record; owdOff, the first sample's TSval
// less its k, makes it relative: k+owdOff-tsVal is (ms-ms0)-(tsVal-tsVal0).
func (d *dirState) recOwd(ts int64, tsVal uint32) int16 {
	b := &d.bins[0]
	k := b.cur
	if b.start < 0 { // (bins from a negative clock: truncated divisions)
		k = ts/1e6 - b.start/1e6
	}
	if !d.hasOwd {
		d.owdOff, d.hasOwd = int64(tsVal)-k, true
	}
	return int16(max(-32768, min(32767, k+d.owdOff-int64(tsVal))))
}

// firstData notes the first data of a direction (and of the response).
func (f *Flow) firstData(ts int64, dir int, d *dirState, seq uint32) {
	if !d.hasHigh {
		d.high = seq
		d.hasHigh = true
	}
	if dir == 1 && f.respT == 0 {
		f.respT = ts
	}
	if d.firstDataT == 0 {
		d.firstDataT = ts
	}
	// (ts may be 0 in a capture: then this runs again, as it did)
	f.dataSeen[dir] = d.firstDataT != 0 && (dir == 0 || f.respT != 0)
	f.setFast()
}

// idleEcho: the data segment at ts follows a gap with no data of d that
// covers most of the echo sample from the ACK at ackT.
func (f *Flow) idleEcho(d *dirState, ts, ackT int64) bool {
	if d.lastDataT == 0 {
		return false
	}
	gap := ts - d.lastDataT
	if gap <= f.cfg.IdleFloorNS || 2*gap < ts-ackT {
		return false
	}
	m := f.minRTT(d)
	return m > 0 && float64(gap) > f.cfg.IdleRTTs*float64(m)
}

// ackOwdSample adds one ACK's capture time less its TSecr (us, µs) at
// capture time ts (ns): at a receiver-side point the one-way delay of
// the data it acknowledges (plus the ACK's own delay), at a sender-side
// point the RTT, each up to a constant clock offset. Its growth over the
// minimum is queueing seen from the ACKs alone.
//
// Only each ackOwdWinNS window's least sample counts: an ACK's TSecr is
// the TSval of the oldest segment it acknowledges, so a receiver that
// waits for a second segment, or for its delayed-ACK timer, adds that
// wait to the sample. A flow of a few segments per RTT (5 cubic flows
// sharing a 2.7 Mbit/s policer) drew samples 36-45 ms above their
// minimum at the 90th percentile with no queue on the path, 0.6-0.9 ms at
// the median; the windows' least samples 0.6-1.0 ms. A queue holds over
// the window: 8 flows through one shaper, 42-44 ms either way (heldout20
// and 21, spent). Samples below the running minimum move it; the windows
// closed before are then counted a little high.
func (d *dirState) ackOwdSample(us, ts int64) {
	if d.ackOwdN == 0 || us < d.ackOwdMin {
		d.ackOwdMin = us
	}
	switch {
	case d.ackOwdN == 0:
		d.ackWinEnd, d.ackWinMin = ts+ackOwdWinNS, us
	case ts >= d.ackWinEnd:
		// (a window opens at its first sample: no division per ACK)
		d.ackOwdClose(d.ackWinMin)
		d.ackWinEnd, d.ackWinMin = ts+ackOwdWinNS, us
	case us < d.ackWinMin:
		d.ackWinMin = us
	}
	d.ackOwdN++
}

// ackOwdClose counts a window's least sample (µs) into ackOwd.
func (d *dirState) ackOwdClose(us int64) {
	d.ackOwdWN++
	if i := d.ackOwdBin(us); d.ackOwd[i] < math.MaxUint16 {
		d.ackOwd[i]++
	}
}

// ackOwdBin is ackOwd's bin of a sample (µs): ms above ackOwdMin.
func (d *dirState) ackOwdBin(us int64) int64 {
	return min((us-d.ackOwdMin)/1000, int64(len(d.ackOwd)-1))
}

// ackOwdWinNS: the window of ackOwdSample, from its first sample. 100 ms
// left 13-42 ms of the delayed ACKs' wait in the 90th percentile of 3 of
// the 5 policed flows above; 200 ms 0.9-1.0 ms in 2 of them and 22 ms in
// the slowest (104 ACKs in 6 s).
const ackOwdWinNS = 200e6

// echoSample takes the echo half of the RTT: from the ACK whose TSval e
// holds to d's data echoing it at ts.
func (d *dirState) echoSample(e *tsEnt, ts int64) {
	e.used = true
	s := ts - e.t
	d.echoHalf.add(float64(s) / 1000)
	d.lastEchoUs = uint32(s/1000) + 1
	if d.minB < 0 || s < d.minB {
		d.minB = s
	}
	d.srttB = ewma(d.srttB, s)
}

// oldData classifies a segment that starts below the highest seq: the
// fill of a hole (a retransmission, or a late original when reordered)
// or a retransmission. It returns the record kind and flags.
func (f *Flow) oldData(ts int64, d *dirState, t *decode.TCP, seq, end uint32) (kind, recFlags uint8) {
	if seqLT(d.high, end) { // straddles: count as retransmission, extend
		d.high = end
	}
	hi := f.findHole(d, seq, end)
	if hi < 0 {
		d.retx++
		d.startRecovery()
		if f.lateOriginal(d, seq, end, t) {
			d.dups++
		}
		return recRetx, 0
	}
	h := &d.holes[hi%holeRing]
	reord := false
	if t.HasTS && h.hasTS {
		reord = !seqLT(h.tsval, t.TSVal) // TSval not newer than the hole's opener
	} else {
		reord = f.minRTT(d) > 0 && ts-h.t < f.minRTT(d)/2
	}
	cov := overlap(seq, end, h.start, h.end)
	if cov > h.left {
		cov = h.left
	}
	h.left -= cov
	if h.left == 0 {
		d.open--
	}
	if reord {
		d.fillReord++
		d.reorder++
		recFlags |= recReord
		f.voidHoleRecs(d, h, seq, end)
	} else {
		d.fillRetx++
		d.lostRecv++
		h.fillRetx++
		d.startRecovery()
	}
	return recFill, recFlags
}

// dataGap accounts a gap of more than IdleFloorNS before d's data
// segment at seq: an off period when longer than the idle threshold.
//
// ecr is the echo age of the segment ending the gap (ms, -1 unknown): a
// sender that waited for an ACK sends as the ACK arrives and echoes it
// fresh; a sender with nothing to send echoes an ACK that came long
// before. A gap that ends with an echo at least half its length old is
// counted as stale (the application's), even when the ACKs are not
// captured.
func (f *Flow) dataGap(d *dirState, seq uint32, gap int64, gapEndedByLoss bool, ecr int64) {
	// an off period is longer than IdleRTTs smoothed RTTs (the RTT
	// with its queueing delay: behind a shaper the receiver sees
	// evenly spaced arrivals while the sender is busy)
	thr := f.cfg.IdleFloorNS
	rtt := false
	if m := d.srttA + d.srttB; m > 0 {
		rtt = true
		thr = max(thr, int64(f.cfg.IdleRTTs*float64(m)))
	} else if m := f.minRTT(d); m > 0 {
		rtt = true
		thr = max(thr, int64(f.cfg.IdleRTTs*float64(m)))
	}
	if gap <= thr {
		return
	}
	d.offN++
	d.offNs += gap
	// (with no RTT to measure the gap against, the echo's age stands in
	// for it: a gap under half of it is the spacing of a busy sender's
	// segments behind a queue, whose echoes are an RTT old, not a
	// pause; 1 ms gaps at 11 Mbit/s behind a 97 ms queue counted as
	// the application's, tune)
	if ecr >= 0 && !gapEndedByLoss && 2*ecr*1e6 >= gap && (rtt || 2*gap >= ecr*1e6) {
		d.staleNs += gap
	}
	switch {
	case gapEndedByLoss || d.open > 0:
		d.stallN++
		if d.sr.open {
			d.sr.timeout = true
		}
	case d.hasAck && !seqLT(d.highAck, seq) && d.rwnd > 0:
		d.appN++
		d.appNs += gap
		if gap > 200e6 && gap > 4*thr {
			d.restarts++
		}
	}
}

// zeroFlight accounts the time before new data at seq (after a gap) in
// which everything sent had been acknowledged with the window open: the
// sender had nothing to send. Unlike an off period (dataGap) it needs no
// gap of two RTTs: an application writing 128 KiB every 68 ms at a 36 ms
// RTT sits 20-30 ms with nothing in flight per write, and a sender
// limited by its window or a bottleneck never does (it sends as the ACK
// arrives).
func (f *Flow) zeroFlight(d *dirState, ts int64, seq uint32, lossEnded bool) {
	if lossEnded || !d.hasAck || seqLT(d.highAck, seq) || d.rwnd == 0 || d.highAckT == 0 {
		return
	}
	// (at a receiver-side point this is an RTT more than the sender's
	// wait, and behind a queue more than that: Finish uses it at the
	// sender side only)
	if zf := ts - d.highAckT; zf > f.cfg.IdleFloorNS {
		d.zeroNs += zf
	}
}

// onWindow takes the receive window a non-SYN packet from d advertises
// for o's data.
func (f *Flow) onWindow(d, o *dirState, t *decode.TCP, r *tcpseq.Result) {
	var win uint64
	if r != nil && r.Window > 0 { // tcpseq's scaling, as Wireshark's
		win = uint64(r.Window)
	} else {
		win = uint64(t.Window)
		if d.hasWS {
			win <<= d.wscale
		}
	}
	if win != o.rwnd {
		// flight >= RwndFullFrac*rwnd in integers: for whole x,
		// float64(x) >= v exactly when x >= ceil(v)
		o.rwndFull = uint64(math.Ceil(f.cfg.RwndFullFrac * float64(win)))
		o.rwnd = win
		if win > o.rwndMax { // (rwndMax >= rwnd: only a change can raise it)
			o.rwndMax = win
		}
	}
	if win == 0 && t.Flags&decode.TCPRst == 0 {
		o.zeroWin++
	}
}

func (f *Flow) onAck(ts int64, d, o *dirState, t *decode.TCP, r *tcpseq.Result, syn bool) {
	ack := t.Ack - o.isn
	if !syn {
		f.onWindow(d, o, t, r)
	}
	if t.Flags&decode.TCPEce != 0 && !syn {
		o.ece++
		if o.sr.open {
			o.sr.ecn = true
		}
		if o.rr.open {
			o.rr.ecn = true
		}
	}
	// D-SACK (RFC 2883): first block below the cumulative ACK or inside
	// the second block.
	if t.NSACK > 0 {
		b0 := t.SACK[0]
		l, rr := b0.Left-o.isn, b0.Right-o.isn
		isD := seqLT(l, ack)
		if !isD && t.NSACK > 1 {
			b1 := t.SACK[1]
			l1, r1 := b1.Left-o.isn, b1.Right-o.isn
			isD = seqLE(l1, l) && seqLE(rr, r1)
		}
		if isD {
			o.dsack++
			o.dsr[o.ndsr%dsackRing] = seqRange{l, rr}
			o.ndsr++
		}
	}
	// delivered: the highest byte the receiver reports holding (cumulative
	// ACK or the right edge of a SACK block), so that the delivered rate
	// keeps flowing during loss recovery.
	// With the data direction not captured (an ACK-only view) o.high is
	// unknown: a SACK edge within 1 GiB of the ACK is taken as it is
	// (without SACK the delivered rate from the ACKs alone jumps with
	// each repaired loss: 8 flows through a policer dropping 20% summed
	// to CV 0.84 per 100 ms, heldout4).
	deliv := ack
	for i := 0; i < int(t.NSACK) && i < len(t.SACK); i++ {
		if r := t.SACK[i].Right - o.isn; seqLT(deliv, r) && (o.hasHigh && seqLE(r, o.high) || !o.hasHigh && r-ack < sackMaxSpan) {
			deliv = r
		}
	}
	if !syn {
		if !o.hasDeliv {
			o.hasDeliv = true
			o.highDeliv = deliv
		} else if seqLT(o.highDeliv, deliv) {
			o.ackBins.add(ts, float64(deliv-o.highDeliv))
			if t.HasTS && !o.ackTSBad {
				o.ackAtTSval(ts, t.TSVal, float64(deliv-o.highDeliv))
			}
			o.highDeliv = deliv
		}
	}
	if !o.hasAck || seqLT(o.highAck, ack) {
		if g := ts - o.highAckT; o.hasAck && g > ackGapNS {
			o.ackGapNs += g
		}
		o.highAck = ack
		o.highAckT = ts
		o.hasAck = true
		if f.srvAckT == 0 && ack > 1 && !syn && f.synAckT > 0 && d == &f.d[1] {
			f.srvAckT = ts
		}
		if t.HasTS && t.TSEcr != 0 && !syn {
			o.ackOwdSample(ts/1000-int64(t.TSEcr)*1000, ts)
		}
		// RTT: pop covered pending segments
		if last := o.ackPending(ack, ts); last != nil {
			s := ts - last.t
			o.ackHalf.add(float64(s) / 1000)
			if o.minA < 0 || s < o.minA {
				o.minA = s
			}
			o.srttA = ewma(o.srttA, s)
		} else if o.pkts == 0 && !syn {
			// (an ACK-only view: o's data never captured, so no
			// segment is pending; tested here, where nothing was
			// pending, not for every ACK)
			f.ackOnly(ts, o, ack, t)
		}
		if o.open > 0 {
			f.ackedHoles(o, ack)
		}
		if o.inRecovery && !seqLT(ack, o.recoverEnd) {
			o.inRecovery = false
		}
		// sender-style round
		if o.sr.open && seqLE(o.sr.endSeq, ack) {
			f.closeRound(&o.sStats, &o.sr, o, ts)
		}
	} else if ack == o.highAck && !syn && t.Flags&(decode.TCPFin|decode.TCPRst) == 0 {
		o.dupAcks++
		if t.NSACK > 0 && (!o.hasHoleAck || o.holeAck != ack) {
			o.sackHole(ack, t)
		}
		if o.pkts == 0 {
			f.ackOnly(ts, o, ack, t)
		}
	}
	// receiver-style round: remember the first ACK after the round began.
	if o.rr.open && !o.rr.haveTS && t.HasTS && t.TSVal != 0 {
		o.rr.ackTS = t.TSVal
		o.rr.haveTS = true
	}
	// (o's ACK state is what changed: d.fast reads it)
	d.fast = f.settled && f.dataSeen[f.dirOf(d)] && o.hasAck && o.hasDeliv && !seqLT(o.highDeliv, o.highAck)
}

// ackOnly feeds an ACK of o's data to o's ackChain while o (the data
// direction) has no packet: an ACK-only view.
func (f *Flow) ackOnly(ts int64, o *dirState, ack uint32, t *decode.TCP) {
	if o.ackEv == nil {
		o.ackEv = &ackChain{limit: min(chainMaxEvents, f.cfg.MaxRecords)}
	}
	mss, hdr := o.mss, uint32(54)
	if mss == 0 {
		mss = 1448
	}
	if t.HasTS {
		hdr = 66
	}
	o.ackEv.add(ts/1000, ack, t, o.isn, mss, hdr)
}

// ackPending pops the pending segments ack covers (a dozen per ACK at
// speed), gives each one's record its data->ACK delay, and returns the
// last one sent outside recovery (Karn), nil when none. A function of its
// own so that its loops' state stays in registers (inside onAck it was
// spilled around the calls there, ~75 instructions a segment).
func (o *dirState) ackPending(ack uint32, ts int64) *pend {
	ph, pn := o.ph, o.pn
	// their records (past MaxRecords none): the records of consecutive
	// pending segments are consecutive, so the chunk of one (c, its
	// first record c0) mostly holds the next, which saves at's lookup
	nrec := uint(o.rb.n)
	if !o.inRecovery {
		// The common case, every covered segment outside recovery: one
		// pass that finds the covered segments and stamps their records,
		// and the last is the newest. The inner loop stamps the run of
		// covered segments whose records are in chunk c, and ends at the
		// first that is not covered or not there (another chunk, or none:
		// rec -1 gives a negative index, and past MaxRecords no record is
		// in a chunk); c is set outside it, so that the compiler does not
		// rotate its registers on every segment (~10 moves a segment, as
		// much again for a count of the covered ones first).
		// The delays are divided in 32 bits, which the compiler does
		// with a multiply into any register (the 64-bit division's MULQ
		// takes AX and DX, and the loop shuffled its registers around
		// it): the run's first segment was sent first, so when its
		// delay is under 2^32 ns (4.3 s: every ACK's at speed) so are
		// the others', and the low 32 bits of the times give them
		// (ts32); uint32(delay/1000) for a longer one.
		// (tsLim: the times before it are over 2^32 ns ago; where ts -
		// MaxUint32 wraps, every time is before it, and each takes
		// the exact 64-bit division alone. A test of e.t against it,
		// not of ts - e.t: with ts in the loop the compiler copied it
		// between registers on every segment not recorded.)
		ts32, tsLim := uint32(ts), ts-math.MaxUint32
		j := uint32(0)
		for j < pn {
			e := &o.pend[(ph+j)%pendRing]
			if !seqLE(e.end, ack) {
				break
			}
			if uint(uint32(e.rec)) >= nrec { // (rec -1: not recorded; as uint32, see below)
				j++
				continue
			}
			c, c0 := o.rb.chunkOf(int(e.rec))
			if e.t < tsLim {
				// (this one alone)
				c[int(e.rec)-c0].rttA = uint32(uint64(ts-e.t)/1000) + 1
				j++
				continue
			}
			for ; j < pn; j++ {
				e := &o.pend[(ph+j)%pendRing]
				// (rec as uint32: -1 is past every chunk as well, and
				// the load takes one instruction, a sign-extending one
				// three)
				i := uint(uint32(e.rec)) - uint(c0)
				if i >= uint(len(c)) || !seqLE(e.end, ack) {
					break
				}
				c[i].rttA = (ts32-uint32(e.t))/1000 + 1
			}
		}
		if j == 0 {
			return nil
		}
		o.ph, o.pn = (ph+j)%pendRing, pn-j
		return &o.pend[(ph+j-1)%pendRing]
	}
	// k: how many the ACK covers, up to the first it does not
	k := uint32(0)
	for k < pn && seqLE(o.pend[(ph+k)%pendRing].end, ack) {
		k++
	}
	if k == 0 {
		return nil
	}
	o.ph, o.pn = (ph+k)%pendRing, pn-k
	recoverEnd := o.recoverEnd
	var c []rec
	c0 := 0
	for j := uint32(0); j < k; j++ {
		e := &o.pend[(ph+j)%pendRing]
		if uint(e.rec) >= nrec { // (rec -1: not recorded)
			continue
		}
		if !seqLE(e.end, recoverEnd) {
			i := int(e.rec) - c0
			if uint(i) >= uint(len(c)) {
				c, c0 = o.rb.chunkOf(int(e.rec))
				i = int(e.rec) - c0
			}
			c[i].rttA = uint32(uint64(ts-e.t)/1000) + 1 // (ts >= e.t: unsigned division)
		}
	}
	// the last outside recovery: from the newest back (the first tried,
	// but in recovery)
	for j := k; j > 0; j-- {
		if e := &o.pend[(ph+j-1)%pendRing]; !seqLE(e.end, recoverEnd) {
			return e
		}
	}
	return nil
}

func clamp16(v uint32) uint16 {
	if v > 65535 {
		return 65535
	}
	return uint16(v)
}

func overlap(a0, a1, b0, b1 uint32) uint32 {
	l, r := a0, a1
	if seqLT(l, b0) {
		l = b0
	}
	if seqLT(b1, r) {
		r = b1
	}
	if !seqLT(l, r) {
		return 0
	}
	return r - l
}

func (d *dirState) startRecovery() {
	d.inRecovery = true
	d.recoverEnd = d.high
}

func (f *Flow) openHole(ts int64, d *dirState, p *decode.Packet, t *decode.TCP, from, to uint32) {
	i := d.nholes % holeRing
	if old := &d.holes[i]; d.nholes >= holeRing && old.left > 0 {
		d.open-- // overwritten while open: forget it
	}
	h := hole{start: from, end: to, left: to - from, t: ts, tsval: t.TSVal, hasTS: t.HasTS && t.TSVal != 0}
	d.nholes++
	d.holesN++
	d.open++
	// synthetic records, one per MSS-sized missing segment
	mss := d.segSize()
	if mss == 0 {
		mss = p.PayloadLen
	}
	if mss == 0 {
		mss = 1
	}
	hdr := uint32(0)
	if p.FrameLen > p.PayloadLen {
		hdr = p.FrameLen - p.PayloadLen
	}
	h.r0 = int32(d.rb.n)
	n := 0
	for s := from; seqLT(s, to) && n < maxHoleRecs; n++ {
		l := to - s
		if l > mss {
			l = mss
		}
		if d.rb.n < f.cfg.MaxRecords {
			*d.rb.add(f.cfg.Records) = rec{t: uint32(uint64(ts-f.t0) / 1000), seq: s, plen: clamp16(l), flen: clamp16(l + hdr), kind: recHole, flags: recLost}
		} else {
			d.recDropped++
		}
		s += l
	}
	h.r1 = int32(d.rb.n)
	d.holes[i] = h
}

// findHole returns the index (absolute count) of an open hole overlapping
// [seq,end), newest first, or -1.
func (f *Flow) findHole(d *dirState, seq, end uint32) int {
	if d.open <= 0 {
		return -1
	}
	n := d.nholes
	lim := n - holeRing
	if lim < 0 {
		lim = 0
	}
	for k := n - 1; k >= lim; k-- {
		h := &d.holes[k%holeRing]
		if h.left > 0 && overlap(seq, end, h.start, h.end) > 0 {
			return k
		}
	}
	return -1
}

func (f *Flow) voidHoleRecs(d *dirState, h *hole, seq, end uint32) {
	for i := h.r0; i < h.r1 && int(i) < d.rb.n; i++ {
		r := d.rb.at(int(i))
		if r.kind == recHole && overlap(seq, end, r.seq, r.seq+uint32(r.plen)) > 0 {
			r.flags = (r.flags | recVoid) &^ recLost
		}
	}
}

// lateOriginal handles a segment wholly at or below the highest seq that
// fills no open hole. At a receiver-side point it is a duplicate; if its
// TSval is older than the hole's opener it is the late original of a
// range already refilled by a retransmission, which makes that
// retransmission spurious: the loss is taken back and counted as
// reordering. It reports whether the segment was a duplicate of a
// closed hole.
func (f *Flow) lateOriginal(d *dirState, seq, end uint32, t *decode.TCP) bool {
	n := d.nholes
	lim := n - holeRing
	if lim < 0 {
		lim = 0
	}
	for k := n - 1; k >= lim; k-- {
		h := &d.holes[k%holeRing]
		if overlap(seq, end, h.start, h.end) == 0 {
			continue
		}
		if h.fillRetx > 0 && t.HasTS && h.hasTS && seqLT(t.TSVal, h.tsval) {
			h.fillRetx--
			if d.lostRecv > 0 {
				d.lostRecv--
			}
			d.reorder++
			f.voidHoleRecs(d, h, seq, end)
		}
		return true
	}
	return false
}

func (f *Flow) closeRound(st *roundStats, r *round, d *dirState, ts int64) {
	fl := r.max
	r.open = false
	if fl == 0 {
		return
	}
	st.n++
	st.flights.add(float64(fl))
	if fl > st.maxFlight {
		st.maxFlight = fl
	}
	if r.wfull {
		st.wfull++
	}
	if st.prev > 0 {
		if !st.ssDone && st.n > 2 && float64(fl) < 1.5*float64(st.prev) {
			st.ssDone = true
			st.ssExitT = ts
			st.ssExitB = st.prev
		}
		// (the flags first: most rounds have none, and skip the division)
		if r.retx || r.ecn || r.timeout {
			if ratio := float64(fl) / float64(st.prev); ratio < 0.85 {
				st.redCount++
				if st.nred < maxRed {
					mss := uint64(d.segSize())
					if mss == 0 {
						mss = 1448
					}
					kind := "other"
					switch {
					case fl <= 2*mss:
						kind = "1mss"
					case ratio >= 0.4 && ratio < 0.6:
						kind = "0.5"
					case ratio >= 0.6 && ratio < 0.8:
						kind = "0.7"
					}
					cause := "fast_retransmit"
					switch {
					case r.ecn:
						cause = "ecn"
					case r.timeout || fl <= 2*mss:
						cause = "timeout"
					}
					st.reds[st.nred] = Reduction{AtS: float64(ts-f.t0) / 1e9, Ratio: ratio, Kind: kind, Cause: cause}
					st.nred++
				}
			}
		}
	}
	st.prev = fl
}

// segSize is the MSS as seen on the wire: the largest payload, else the
// SYN option.
func (d *dirState) segSize() uint32 {
	if d.maxSeg > 0 {
		return d.maxSeg
	}
	return d.mss
}

// ackedHoles closes holes the receiver acknowledged although their data
// never passed this capture point: the capture (or the mirror session)
// lost them, the network did not.
func (f *Flow) ackedHoles(d *dirState, ack uint32) {
	n := d.nholes
	lim := n - holeRing
	if lim < 0 {
		lim = 0
	}
	for k := n - 1; k >= lim; k-- {
		h := &d.holes[k%holeRing]
		if h.left == 0 || !seqLE(h.end, ack) {
			continue
		}
		for i := h.r0; i < h.r1 && int(i) < d.rb.n; i++ {
			r := d.rb.at(int(i))
			if r.kind == recHole && r.flags&recVoid == 0 {
				r.flags = (r.flags | recVoid) &^ recLost
				d.capGaps++
			}
		}
		h.left = 0
		d.open--
	}
}

func ewma(avg, sample int64) int64 {
	if avg == 0 {
		return sample
	}
	return avg + (sample-avg)/8
}

// recBuf stores records in chunks so that growing never copies: a head
// chunk of recHead records (small flows stay small), then chunks of
// recChunk records, from the flow's RecordPool when it has one.
const (
	recHead  = 64
	recChunk = 1024
)

type recBuf struct {
	chunks [][]rec
	n      int
	lim    int // records the chunks hold when full: add grows at n == lim
	// cur: the last chunk's slice in chunks (slot appends to it without
	// indexing chunks; grow sets it)
	cur *[]rec
}

// chunkOf returns the chunk holding record i (0 <= i < n) and the index
// of its first record.
func (b *recBuf) chunkOf(i int) ([]rec, int) {
	if i < recHead {
		return b.chunks[0], 0
	}
	k := (i - recHead) / recChunk
	return b.chunks[1+k], recHead + k*recChunk
}

func (b *recBuf) at(i int) *rec {
	if i < recHead {
		return &b.chunks[0][i]
	}
	// (unsigned: a shift and a mask, where int division by the
	// power of two needs sign fixes)
	u := uint(i - recHead)
	return &b.chunks[1+u/recChunk][u%recChunk]
}

// add appends a record slot and returns it for the caller to fill in
// place, every field: a pool's chunk comes back with its old records in
// it. The slot belongs to b (the flow); the pointer is good until the
// flow's records are released at Finish.
func (b *recBuf) add(pool *RecordPool) *rec {
	if b.n == b.lim {
		b.grow(pool)
	}
	return b.slot()
}

// slot is add once the last chunk has room (n < lim), small enough to
// inline: Observe writes a record's fields straight into its chunk,
// where a push(rec) by value copied its 24 bytes twice and called.
func (b *recBuf) slot() *rec {
	b.n++
	c := b.cur
	i := len(*c)
	// (indexing the new slice, not *c again: its length is i+1, so the
	// compiler drops the index's bounds check)
	s := (*c)[:i+1]
	*c = s
	return &s[i]
}

// grow adds the next chunk, empty: the head chunk
// of recHead records (Go heap), then chunks of recChunk from pool. Their
// capacities are exact, so that at's index arithmetic finds the records.
func (b *recBuf) grow(pool *RecordPool) {
	if len(b.chunks) == 0 {
		b.chunks = append(b.chunks[:0], make([]rec, 0, recHead))
	} else {
		b.chunks = append(b.chunks, pool.get())
	}
	b.cur = &b.chunks[len(b.chunks)-1]
	b.lim += cap(*b.cur)
}

// push appends r (tests; Observe fills add's slot in place).
func (b *recBuf) push(r rec, pool *RecordPool) { *b.add(pool) = r }

// noteTS records a TSval the direction sent at ts in the echo-matching
// ring when it is newer than the last one (the callers test tsVal !=
// lastTS and tsVal != 0 first: the rest of a clock tick's packets change
// nothing here; lastTS is 0 until the first sample, as tsn). Small
// enough to inline, so the fast paths stay call-free.
func (d *dirState) noteTS(tsVal uint32, ts int64) {
	if d.tsn != 0 && !seqLT(d.lastTS, tsVal) {
		return
	}
	if d.tsn == 0 {
		d.tsFirst, d.tsFirstT = tsVal, ts
	}
	d.tsLastT = ts
	d.ts[d.tsh] = tsEnt{tsval: tsVal, t: ts}
	d.tsh = (d.tsh + 1) % tsRing
	if d.tsn < tsRing {
		d.tsn++
	}
	d.lastTS = tsVal
}

// findTS returns the ring entry holding tsval, or nil.
func (d *dirState) findTS(tsval uint32) *tsEnt {
	// Most packets echo one of the peer's latest TSvals: look at the
	// newest entries first, then search the ring.
	for k := uint32(1); k <= 4 && k <= d.tsn; k++ {
		e := &d.ts[(d.tsh-k+tsRing)%tsRing]
		if e.tsval == tsval {
			return e
		}
		if seqLT(e.tsval, tsval) {
			return nil // newer than everything left: not in the ring
		}
	}
	base := d.tsh - d.tsn + tsRing // physical index of the oldest entry (mod tsRing)
	lo, hi := uint32(0), d.tsn     // search logical [lo, hi)
	for lo < hi {
		m := (lo + hi) >> 1
		if seqLT(d.ts[(base+m)%tsRing].tsval, tsval) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < d.tsn {
		if e := &d.ts[(base+lo)%tsRing]; e.tsval == tsval {
			return e
		}
	}
	return nil
}

// tsStrayNS: how far the receiver's TSval clock may drift from the
// capture clock before ackBinsTS is given up (ackAtTSval).
const tsStrayNS = 2e9

// ackAtTSval bins bytes newly delivered by an ACK at the receiver's
// send time: its TSval in ms from the first ACK's, on the capture clock.
func (o *dirState) ackAtTSval(ts int64, tsval uint32, bytes float64) {
	if !o.hasAckTS {
		o.hasAckTS = true
		o.ackTS0, o.ackTSVal0 = ts, tsval
	}
	rt := o.ackTS0 + int64(int32(tsval-o.ackTSVal0))*1e6
	if d := rt - ts; d > tsStrayNS || d < -tsStrayNS {
		o.ackTSBad = true
		return
	}
	o.ackBinsTS.add(rt, bytes)
	o.ackTSLast, o.ackTSValEnd = ts, tsval
	owd := ts - rt
	if o.revOwdN == 0 || owd < o.revOwdMin {
		o.revOwdMin = owd
	}
	o.revOwdSum += float64(owd)
	o.revOwdN++
}

// sackMaxSpan: how far above the cumulative ACK a SACK block's right
// edge may be when the data direction is not captured.
const sackMaxSpan = 1 << 30

// sackHole notes a loss episode: the first duplicate ACK at ack carrying
// SACK. The hole is from ack to the lowest SACK block above it.
func (o *dirState) sackHole(ack uint32, t *decode.TCP) {
	o.holeAck, o.hasHoleAck = ack, true
	low, ok := uint32(0), false
	for i := 0; i < int(t.NSACK) && i < len(t.SACK); i++ {
		if l := t.SACK[i].Left - o.isn; seqLT(ack, l) && l-ack < sackMaxSpan && (!ok || seqLT(l, low)) {
			low, ok = l, true
		}
	}
	if ok {
		o.sackHoles++
		o.sackHoleB += uint64(low - ack)
	}
}
