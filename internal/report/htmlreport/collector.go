package htmlreport

import (
	"math"
	"sort"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// CollectorConfig bounds what a Collector keeps.
type CollectorConfig struct {
	// MaxFlows is the number of flows charted: the largest TCP flows by
	// bytes.
	MaxFlows int
	// Candidates is the number of flows tracked while reading (at least
	// MaxFlows). Since the largest flows are known only at the end, more
	// candidates than charts are kept; a flow that outgrows the smallest
	// candidate replaces it and is charted from that moment on (its
	// charts say where they start).
	Candidates int
	// MaxPoints caps every series of a flow. Longer series are decimated
	// keeping each group's minimum and maximum; flagged segments are kept
	// apart from ordinary ones so they survive decimation longest.
	MaxPoints int
	// BinNS is the initial throughput/flag bin width; it doubles (bins
	// merged in pairs) whenever a flow needs more than MaxPoints bins.
	BinNS int64
}

// DefaultCollectorConfig returns the defaults: 12 charted flows of 48
// candidates, 4000 points a series, 10 ms bins. The HTML of 12 flows at
// these caps stays under 10 MB.
func DefaultCollectorConfig() CollectorConfig {
	return CollectorConfig{MaxFlows: 12, Candidates: 48, MaxPoints: 3000, BinNS: 10e6}
}

// Flag kinds charted over time, the order of ChartData.FlagNames.
const (
	fkRetx = iota
	fkOOO
	fkLost
	fkDupAck
	fkWindow
	fkReset
	numFK
)

var flagKindNames = [numFK]string{"retransmission", "out_of_order", "lost_segment", "duplicate_ack", "zero_window_or_full", "reset"}

// Collector gathers chart series from the engine's OnPacket hook. It is
// not safe for concurrent use: the engine calls it from its one
// goroutine. Memory is bounded by Candidates × the series caps; in
// steady state (flows tracked, buffers at capacity) OnPacket does not
// allocate.
type Collector struct {
	cfg    CollectorConfig
	flows  map[uint64]*flowAcc
	last   *flowAcc
	free   []*flowAcc
	minB   uint64 // bytes of the smallest candidate as of the last scan (a lower bound)
	tcp    uint64 // TCP flows seen
	repl   uint64 // candidates replaced by larger flows
	lastID uint64
	hasID  bool
}

// NewCollector returns a Collector; zero fields of cfg take the defaults.
func NewCollector(cfg CollectorConfig) *Collector {
	d := DefaultCollectorConfig()
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = d.MaxFlows
	}
	if cfg.Candidates < cfg.MaxFlows {
		cfg.Candidates = max(cfg.MaxFlows, min(4*cfg.MaxFlows, d.Candidates))
	}
	if cfg.MaxPoints < 64 {
		cfg.MaxPoints = d.MaxPoints
	}
	cfg.MaxPoints &^= 3 // decimation works on groups of 4
	if cfg.BinNS <= 0 {
		cfg.BinNS = d.BinNS
	}
	return &Collector{cfg: cfg, flows: make(map[uint64]*flowAcc, cfg.Candidates)}
}

// OnPacket is an engine.Config.OnPacket hook. Packets are charted at
// their own capture time.
func (c *Collector) OnPacket(ev *result.PacketEvent) {
	if ev.Flow == nil || ev.TCP == nil || ev.Err != nil {
		return
	}
	c.Observe(ev.TS, ev.Packet, ev.Flow, ev.Dir, ev.TCP)
}

// Observe records one analysed TCP packet of flow f at time ts (ns).
func (c *Collector) Observe(ts int64, p *decode.Packet, f *flow.Flow, d flow.Dir, r *tcpseq.Result) {
	a := c.last
	if a == nil || a.id != f.ID {
		a = c.lookup(f)
		if a == nil {
			return
		}
		c.last = a
	}
	a.bytes = f.Bytes()
	a.observe(ts, p, d, r)
}

func (c *Collector) lookup(f *flow.Flow) *flowAcc {
	if a := c.flows[f.ID]; a != nil {
		return a
	}
	// Count each TCP flow once: flow IDs are assigned in creation order,
	// so a new ID is above every ID seen before.
	if !c.hasID || f.ID > c.lastID {
		c.tcp++
		c.lastID, c.hasID = f.ID, true
	}
	if len(c.flows) < c.cfg.Candidates {
		a := c.newAcc(f)
		c.flows[f.ID] = a
		return a
	}
	b := f.Bytes()
	if b <= c.minB {
		return nil
	}
	// Rescan: candidates only grow, so minB was a lower bound.
	var victim *flowAcc
	for _, a := range c.flows {
		if victim == nil || a.bytes < victim.bytes || a.bytes == victim.bytes && a.id > victim.id {
			victim = a
		}
	}
	c.minB = victim.bytes
	if b <= victim.bytes {
		return nil
	}
	delete(c.flows, victim.id)
	c.free = append(c.free, victim)
	c.repl++
	a := c.newAcc(f)
	a.partial = true
	a.from = f.Last
	c.flows[f.ID] = a
	return a
}

func (c *Collector) newAcc(f *flow.Flow) *flowAcc {
	var a *flowAcc
	if n := len(c.free); n > 0 {
		a = c.free[n-1]
		c.free = c.free[:n-1]
		a.reset()
	} else {
		a = &flowAcc{}
		a.init(c.cfg)
	}
	a.id = f.ID
	a.start = f.First
	a.binNS = c.cfg.BinNS
	a.maxBins = c.cfg.MaxPoints
	return a
}

// pt is one point of a series; w is a second value carried along (the
// window for bytes in flight, the window edge for ACKs).
type pt struct {
	t    int64
	v, w float64
}

// series is a bounded point series with min/max decimation: when full,
// every group of 4 points is replaced by its minimum and maximum (in time
// order), and later points are gathered in groups of stride before the
// group's minimum and maximum are stored.
type series struct {
	p          []pt
	max        int
	stride     int
	n          int
	gmin, gmax pt
	decimated  bool
	total      uint64
}

func (s *series) init(max int) { s.max = max; s.stride = 1; s.p = s.p[:0] }

func (s *series) reset() {
	s.p = s.p[:0]
	s.stride, s.n, s.decimated, s.total = 1, 0, false, 0
}

func (s *series) add(t int64, v, w float64) {
	s.total++
	x := pt{t, v, w}
	if s.stride == 1 {
		s.push(x)
		return
	}
	if s.n == 0 || v < s.gmin.v {
		s.gmin = x
	}
	if s.n == 0 || v > s.gmax.v {
		s.gmax = x
	}
	s.n++
	if s.n == s.stride {
		s.flushGroup()
	}
}

func (s *series) flushGroup() {
	if s.n == 0 {
		return
	}
	a, b := s.gmin, s.gmax
	if b.t < a.t {
		a, b = b, a
	}
	s.n = 0
	s.push(a)
	if b != a {
		s.push(b)
	}
}

func (s *series) push(x pt) {
	if len(s.p) >= s.max {
		s.compact()
	}
	s.p = append(s.p, x)
}

// compact halves the series in place.
func (s *series) compact() {
	out := 0
	for i := 0; i < len(s.p); i += 4 {
		g := s.p[i:min(i+4, len(s.p))]
		lo, hi := 0, 0
		for j := range g {
			if g[j].v < g[lo].v {
				lo = j
			}
			if g[j].v > g[hi].v {
				hi = j
			}
		}
		if hi < lo {
			lo, hi = hi, lo
		}
		s.p[out] = g[lo]
		out++
		if hi != lo {
			s.p[out] = g[hi]
			out++
		}
	}
	s.p = s.p[:out]
	if s.stride == 1 {
		s.stride = 4
	} else if s.stride < 1<<40 { // never overflows, even fed for ever
		s.stride *= 2
	}
	s.decimated = true
}

// points returns the stored points plus any partial group.
func (s *series) points() []pt {
	s.flushGroup()
	return s.p
}

// dirAcc is what one direction's data produces: the segments it sends
// and the ACKs and windows the other direction returns for them.
type dirAcc struct {
	isn      uint32
	hasISN   bool
	seqHi    int64 // highest relative seq seen, unwrapped
	ackHi    int64 // highest relative ACK of this direction's data, unwrapped
	hasAck   bool
	lastAckV int64
	lastEdge int64
	payload  uint64
	win      float64 // latest window this direction advertised (scaled)
	hasWin   bool

	seg, retx, ooo, lost series // data segments (relative seq)
	ack                  series // ACKs of this direction's data (v ack, w window edge)
	flight               series // bytes in flight (v) and the peer's window (w)
	rttAck               series // data -> ACK delay (ms), from tcpseq ack_rtt
	rttEcho              series // ACK -> data echoing its TSval (ms)

	// TSvals of this direction's packets, for echo matching by the peer.
	ts    [32]tsEnt
	tsPos int
}

type tsEnt struct {
	val  uint32
	t    int64
	used bool
	set  bool
}

type flowAcc struct {
	id      uint64
	start   int64
	bytes   uint64
	partial bool
	from    int64 // ns: when tracking began, for partial flows
	binNS   int64
	maxBins int
	bins    [2][]uint64
	flags   [][numFK]uint32
	dir     [2]dirAcc
}

func (a *flowAcc) init(cfg CollectorConfig) {
	for i := range a.dir {
		d := &a.dir[i]
		for _, s := range []*series{&d.seg, &d.retx, &d.ooo, &d.lost, &d.ack, &d.flight, &d.rttAck, &d.rttEcho} {
			s.init(cfg.MaxPoints)
		}
	}
}

func (a *flowAcc) reset() {
	a.partial = false
	a.bins[0], a.bins[1] = a.bins[0][:0], a.bins[1][:0]
	a.flags = a.flags[:0]
	for i := range a.dir {
		d := &a.dir[i]
		keep := *d
		*d = dirAcc{}
		d.seg, d.retx, d.ooo, d.lost, d.ack, d.flight, d.rttAck, d.rttEcho =
			keep.seg, keep.retx, keep.ooo, keep.lost, keep.ack, keep.flight, keep.rttAck, keep.rttEcho
		for _, s := range []*series{&d.seg, &d.retx, &d.ooo, &d.lost, &d.ack, &d.flight, &d.rttAck, &d.rttEcho} {
			s.reset()
		}
	}
}

// bin returns the bin index of ts, merging bins in pairs while it does
// not fit.
func (a *flowAcc) bin(ts int64) int {
	if ts < a.start {
		ts = a.start
	}
	for {
		i := int((ts - a.start) / a.binNS)
		if a.binNS > 1<<56 || i < 0 {
			// absurd time spans (corrupt timestamps): pile into the last bin
			// rather than widen bins without end
			i = a.maxBins - 1
		}
		if i < a.maxBins {
			for len(a.flags) <= i {
				a.flags = append(a.flags, [numFK]uint32{})
				a.bins[0] = append(a.bins[0], 0)
				a.bins[1] = append(a.bins[1], 0)
			}
			return i
		}
		a.mergeBins()
	}
}

func (a *flowAcc) mergeBins() {
	n := len(a.flags)
	for i := 0; i < n; i += 2 {
		j := i / 2
		b0, b1 := a.bins[0][i], a.bins[1][i]
		f := a.flags[i]
		if i+1 < n {
			b0 += a.bins[0][i+1]
			b1 += a.bins[1][i+1]
			for k := range f {
				f[k] += a.flags[i+1][k]
			}
		}
		a.bins[0][j], a.bins[1][j], a.flags[j] = b0, b1, f
	}
	m := (n + 1) / 2
	a.bins[0], a.bins[1], a.flags = a.bins[0][:m], a.bins[1][:m], a.flags[:m]
	a.binNS *= 2
}

// unwrap extends a 32-bit relative sequence number to 64 bits around hi,
// the highest value seen so far (4 GiB flows wrap the relative numbers).
func unwrap(hi *int64, v uint32) int64 {
	cur := *hi + int64(int32(v-uint32(*hi)))
	if cur > *hi {
		*hi = cur
	}
	return cur
}

func (a *flowAcc) observe(ts int64, p *decode.Packet, d flow.Dir, r *tcpseq.Result) {
	di := int(d) & 1
	me, peer := &a.dir[di], &a.dir[di^1]
	t := &p.TCP
	rel := ts - a.start

	bi := a.bin(ts)
	a.bins[di][bi] += uint64(p.FrameLen)
	fl := &a.flags[bi]
	if r.Flags&(tcpseq.Retransmission|tcpseq.FastRetransmission|tcpseq.SpuriousRetransmission) != 0 {
		fl[fkRetx]++
	}
	if r.Flags&tcpseq.OutOfOrder != 0 {
		fl[fkOOO]++
	}
	if r.Flags&tcpseq.LostSegment != 0 {
		fl[fkLost]++
	}
	if r.Flags&tcpseq.DuplicateAck != 0 {
		fl[fkDupAck]++
	}
	if r.Flags&(tcpseq.ZeroWindow|tcpseq.WindowFull) != 0 {
		fl[fkWindow]++
	}
	if r.Flags&tcpseq.Reset != 0 {
		fl[fkReset]++
	}

	if !me.hasISN {
		me.isn = t.Seq - r.RelSeq
		me.hasISN = true
	}
	me.win, me.hasWin = float64(r.Window), true

	// Remember this packet's TSval for the peer's echo matching.
	if t.HasTS {
		last := &me.ts[(me.tsPos+len(me.ts)-1)%len(me.ts)]
		if !last.set || last.val != t.TSVal {
			me.ts[me.tsPos] = tsEnt{val: t.TSVal, t: ts, set: true}
			me.tsPos = (me.tsPos + 1) % len(me.ts)
		}
	}

	// This packet as an ACK of the peer's data.
	if t.Flags&decode.TCPAck != 0 && peer.hasISN && peer.payload > 0 {
		rack := unwrap(&peer.ackHi, t.Ack-peer.isn)
		edge := rack + int64(r.Window)
		if !peer.hasAck || rack != peer.lastAckV || edge != peer.lastEdge {
			peer.ack.add(rel, float64(rack), float64(edge))
			peer.hasAck, peer.lastAckV, peer.lastEdge = true, rack, edge
		}
		if r.HasAckRTT && r.AckRTT > 0 {
			peer.rttAck.add(rel, float64(r.AckRTT)/1e6, 0)
		}
	}

	if p.PayloadLen == 0 || t.Flags&decode.TCPSyn != 0 {
		return
	}
	me.payload += uint64(p.PayloadLen)
	seq := float64(unwrap(&me.seqHi, r.RelSeq))
	switch {
	case r.Flags&(tcpseq.Retransmission|tcpseq.FastRetransmission|tcpseq.SpuriousRetransmission) != 0:
		me.retx.add(rel, seq, 0)
	case r.Flags&tcpseq.OutOfOrder != 0:
		me.ooo.add(rel, seq, 0)
	default:
		me.seg.add(rel, seq, 0)
	}
	if r.Flags&tcpseq.LostSegment != 0 {
		me.lost.add(rel, seq, 0)
	}
	if r.BytesInFlight >= 0 {
		w := math.NaN()
		if peer.hasWin {
			w = peer.win
		}
		me.flight.add(rel, float64(r.BytesInFlight), w)
	}
	// The echo half: the peer's ACK carrying TSval X was seen at t0; this
	// data echoes X, so ts-t0 is the time from here to the sender and back.
	if t.HasTS && t.TSEcr != 0 {
		for k := 1; k <= 8; k++ {
			e := &peer.ts[(peer.tsPos+len(peer.ts)-k)%len(peer.ts)]
			if !e.set {
				break
			}
			if e.val == t.TSEcr {
				if !e.used {
					e.used = true
					me.rttEcho.add(rel, float64(ts-e.t)/1e6, 0)
				}
				break
			}
		}
	}
}

// flowsBySize returns the tracked flows, largest first.
func (c *Collector) flowsBySize() []*flowAcc {
	out := make([]*flowAcc, 0, len(c.flows))
	for _, a := range c.flows {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].bytes != out[j].bytes {
			return out[i].bytes > out[j].bytes
		}
		return out[i].id < out[j].id
	})
	return out
}
