package engine

import (
	"container/heap"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// Config configures an Engine.
type Config struct {
	Decode   decode.Config
	Flow     flow.Config
	Diagnose diagnose.Config
	// NoDiagnose turns the limiter diagnosis off (TCP analysis only).
	NoDiagnose bool
	// MaxDiagnosedFlows caps the live TCP flows that carry a diagnosis
	// (each keeps ~50 KB); TCP flows created beyond it get the TCP
	// analysis only, and are counted.
	MaxDiagnosedFlows int
	// FlowsOnly turns TCP analysis and diagnosis off: decode and flow
	// accounting only, for a fast first look at a large capture.
	FlowsOnly bool
	// MaxReportFlows caps the flows listed in the report: when more flows
	// end, the smallest by bytes are left out and counted.
	MaxReportFlows int
	// Select, when set, picks the mirror sessions to analyse (--vni,
	// --outer-src): packets it rejects are counted as unselected, with
	// their sessions, and not analysed.
	Select func(p *decode.Packet) bool
	// Accept, when set, is asked about every decoded IP packet; packets it
	// rejects are counted as filtered and not analysed (--filter).
	Accept func(p *decode.Packet) bool
	// OnPacket, when set, is called for every frame after analysis (see
	// PacketEvent), on the analysing goroutine, in frame order.
	OnPacket func(ev *result.PacketEvent)
	// OnFlowEnd, when set, receives each flow's report entry as the flow
	// ends (listen streams these).
	OnFlowEnd func(rf *result.Flow)
	// Tool is the "tool" string of the report.
	Tool string
	// MemoryLimit is the heap budget in bytes (--memory-limit); 0 means
	// none. The engine derives from it the bytes its live flows may hold
	// (FlowBudget) and caps MaxDiagnosedFlows to fit; flows beyond the
	// budget are ended, least recently active first, and counted as
	// evicted.
	MemoryLimit int64
}

// FlowBudget is the share of a memory limit the live flows of one engine
// may hold: what is left after a reserve for the runtime, read-ahead
// buffers and the report, halved for the garbage collector's headroom.
func FlowBudget(limit int64) int64 {
	const reserve = 96 << 20
	if limit <= 0 {
		return 0
	}
	if limit < 2*reserve {
		return limit / 4
	}
	return (limit - reserve) / 2
}

// DefaultConfig returns the defaults of mirrorscope analyze.
func DefaultConfig() Config {
	return Config{
		Decode:            decode.DefaultConfig(),
		Diagnose:          diagnose.DefaultConfig(),
		MaxDiagnosedFlows: 4096,
		Flow:              flow.DefaultConfig(),
		MaxReportFlows:    10000,
		Tool:              "mirrorscope",
	}
}

type sessionAcc struct {
	s     result.Session
	first bool
	// unselected: a session Config.Select left out; reported apart so a
	// --vni that matches nothing can name the sessions that are there.
	unselected bool
}

// Engine runs the analysis over a stream of frames.
type Engine struct {
	cfg   Config
	dec   *decode.Decoder
	table *flow.Table
	pkt   decode.Packet
	ev    result.PacketEvent
	res   tcpseq.Result
	// streams numbers TCP conversations as tshark's tcp.stream does.
	streams tcpseq.StreamCounter

	capt        result.Capture
	errKinds    [decode.NumErrors]uint64
	frags       *decode.Reassembler // created at the first IP fragment
	encap       [decode.NumEncaps]uint64
	first, last int64
	prevTS      int64
	lastExpire  int64

	sessions    map[flow.SessionKey]*sessionAcc
	lastSessKey flow.SessionKey
	lastSess    *sessionAcc

	protoFlows [4]uint64 // tcp, udp, icmp, other

	diagLive    int    // live flows with a diagnosis
	diagSkipped uint64 // TCP flows left undiagnosed (MaxDiagnosedFlows)
	maxDiag     int    // MaxDiagnosedFlows, capped by the memory budget

	// mem estimates the bytes the live flows hold (flowState.acct summed);
	// budget bounds it (0: no bound).
	mem, budget int
	// scratch analyses first packets and one-packet flows; replay and
	// replayRes rebuild a first packet (flowstate.go).
	scratch   *tcpseq.Conn
	replay    decode.Packet
	replayRes tcpseq.Result

	kept     flowHeap
	unlisted uint64
	frame    uint64
	// raw is the frame being analysed, as read, for PacketEvent.
	raw struct {
		data  []byte
		orig  uint32
		link  decode.LinkType
		iface uint32
	}

	inputs []result.Input

	// par is set in the engines of a parallel run's workers (parallel.go).
	par *workerState
}

// New returns an Engine ready for frames.
func New(cfg Config) *Engine {
	if cfg.MaxReportFlows <= 0 {
		cfg.MaxReportFlows = DefaultConfig().MaxReportFlows
	}
	if cfg.MaxDiagnosedFlows <= 0 {
		cfg.MaxDiagnosedFlows = DefaultConfig().MaxDiagnosedFlows
	}
	e := &Engine{
		cfg:      cfg,
		dec:      decode.New(cfg.Decode),
		sessions: make(map[flow.SessionKey]*sessionAcc),
		scratch:  tcpseq.NewConn(tcpseq.Config{}),
		maxDiag:  cfg.MaxDiagnosedFlows,
	}
	if b := FlowBudget(cfg.MemoryLimit); b > 0 {
		e.budget = int(b)
		// Diagnoses may take up to half of the flows' budget.
		diagBase := diagnose.NewFlow(cfg.Diagnose).MemBytes()
		if n := e.budget / 2 / diagBase; n < e.maxDiag {
			e.maxDiag = max(n, 1)
		}
		// The report entries kept for the report (~5 KB each with their
		// TCP statistics) live in the reserve FlowBudget leaves.
		const reportBytes = 5 << 10
		share := min(48<<20, cfg.MemoryLimit/4)
		if n := int(share / reportBytes); n < e.cfg.MaxReportFlows {
			e.cfg.MaxReportFlows = max(n, 100)
		}
	}
	e.table = flow.NewTable(cfg.Flow, e.flowEnded)
	return e
}

// Packet analyses one frame. data is read only during the call. ts is the
// capture time in ns; origLen the frame's length on the wire.
func (e *Engine) Packet(data []byte, ts int64, origLen uint32, link decode.LinkType) {
	e.PacketFrom(data, ts, origLen, link, 0)
}

// PacketFrom is Packet for a frame of interface iface of its source
// (capture.Frame.Iface), which PacketEvent passes on.
func (e *Engine) PacketFrom(data []byte, ts int64, origLen uint32, link decode.LinkType, iface uint32) {
	e.raw.data, e.raw.orig, e.raw.link, e.raw.iface = data, origLen, link, iface
	e.frame++
	c := &e.capt
	c.Packets++
	e.clock(ts)

	p := &e.pkt
	if err := e.dec.Decode(data, link, origLen, p); err != nil {
		e.countError(ts, err)
		return
	}
	// capture.bytes counts inner frames as the mirrored interface saw
	// them (p.FrameLen), as the listener does: the same for a plain
	// capture and its mirror, outer headers not included.
	c.Bytes += uint64(p.FrameLen)
	e.analysePacket(p, ts, len(data) >= int(origLen))
}

// countError counts a frame Decode refused (an error of another type
// counts as decode.ErrShort).
func (e *Engine) countError(ts int64, err error) {
	de, ok := err.(decode.Error)
	if !ok {
		de = decode.ErrShort
	}
	e.capt.DecodeErrors++
	if int(de) < len(e.errKinds) {
		e.errKinds[de]++
	}
	if e.cfg.OnPacket != nil {
		e.emit(ts, &e.pkt, nil, 0, nil, de)
	}
}

// Decoded analyses a packet decoded elsewhere (the live listener decodes
// on its receiving goroutines and hands each shard's engine its packets).
// ts is the receive time in ns; whole says the frame was not cut by the
// capture itself (so truncation happened upstream).
func (e *Engine) Decoded(p *decode.Packet, ts int64, whole bool) {
	e.raw.data = nil
	e.frame++
	c := &e.capt
	c.Packets++
	c.Bytes += uint64(p.FrameLen)
	e.clock(ts)
	e.analysePacket(p, ts, whole)
}

func (e *Engine) clock(ts int64) {
	c := &e.capt
	if e.first == 0 || ts < e.first {
		e.first = ts
	}
	if ts > e.last {
		e.last = ts
	}
	if ts < e.prevTS {
		c.TimeStepsBack++
		if us := float64(e.prevTS-ts) / 1e3; us > c.MaxStepBackUS {
			c.MaxStepBackUS = us
		}
	}
	e.prevTS = ts
}

func (e *Engine) analysePacket(p *decode.Packet, ts int64, whole bool) {
	if !e.admit(p, ts, whole) {
		return
	}
	e.flowPacket(p, ts)
	e.tick(ts)
}

// admit counts a decoded packet in the capture-level counters (the
// per-packet-global part of the analysis: encapsulations, truncation,
// fragment reassembly, the filter, mirror sessions) and reports whether
// it goes on to its flow. In a parallel run (parallel.go) the reader
// runs it, once per frame, in frame order.
func (e *Engine) admit(p *decode.Packet, ts int64, whole bool) bool {
	c := &e.capt
	if int(p.Encap) < len(e.encap) {
		e.encap[p.Encap]++
	}
	if p.IPVersion == 0 {
		c.NonIPPackets++
		if e.cfg.OnPacket != nil {
			e.emit(ts, p, nil, 0, nil, nil)
		}
		return false
	}
	c.IPPackets++
	if p.Truncated {
		c.TruncatedPackets++
		if whole {
			c.TruncatedUpstream++
		}
	}
	if p.Fragment {
		// A piece of an IP datagram: analysed, as tshark does, at the
		// fragment that completes it (its transport header decoded from
		// the first one). Non-fragments never get here.
		if e.frags == nil {
			e.frags = decode.NewReassembler(decode.DefaultFragConfig())
		}
		if !e.frags.Add(p, ts) {
			if e.cfg.OnPacket != nil {
				e.emit(ts, p, nil, 0, nil, nil)
			}
			return false
		}
	}
	if e.cfg.Select != nil && !e.cfg.Select(p) {
		c.Unselected++
		if p.Encap != decode.EncapNone {
			e.countSession(p, true)
		}
		if e.cfg.OnPacket != nil {
			e.emit(ts, p, nil, 0, nil, nil)
		}
		return false
	}
	if e.cfg.Accept != nil && !e.cfg.Accept(p) {
		c.Filtered++
		if e.cfg.OnPacket != nil {
			e.emit(ts, p, nil, 0, nil, nil)
		}
		return false
	}
	if p.Encap != decode.EncapNone {
		e.countSession(p, false)
	}
	return true
}

// flowPacket runs an admitted packet through its flow: lookup, TCP
// analysis, diagnosis. It touches only the packet's own flow (and the
// memory budget), so flows can be split over engines by key.
func (e *Engine) flowPacket(p *decode.Packet, ts int64) {
	if e.par != nil {
		// Flow ids are provisional in a parallel worker: the frame
		// number, which orders them as the creation order does.
		e.table.SetNextID(e.frame)
	}
	f, d := e.table.Lookup(p, ts)
	st, _ := f.Ext.(*flowState)
	if st == nil {
		st = e.newFlowState(f, p)
		f.Ext = st
		if e.par != nil {
			e.par.created(f, p)
		} else if p.Encap != decode.EncapNone && e.lastSess != nil {
			e.lastSess.s.Flows++
		}
	}
	r := e.analyse(f, st, ts, d, p)
	if e.budget > 0 && e.mem > e.budget {
		e.shed()
	}
	if e.cfg.OnPacket != nil {
		e.emit(ts, p, f, d, r, nil)
	}
}

// tick ends idle flows once per second of capture time, after a packet
// that reached its flow: that keeps the table bounded in long captures
// without scanning per packet. It reports whether it expired.
func (e *Engine) tick(ts int64) bool {
	if ts-e.lastExpire > int64(time.Second) {
		e.lastExpire = ts
		e.table.Expire()
		if e.frags != nil {
			e.frags.Expire(ts)
		}
		return true
	}
	return false
}

// sessionKey is what keeps the report's mirror sessions apart.
func sessionKey(p *decode.Packet) flow.SessionKey {
	return flow.SessionKey{OuterSrc: p.Session.OuterSrc, VNI: p.Session.VNI, HasVNI: p.Session.HasVNI, GWLBEndpointID: p.Session.GWLBEndpointID}
}

func (e *Engine) countSession(p *decode.Packet, unselected bool) {
	s := e.lastSess
	// Field by field, cheapest first: comparing the key structs whole
	// went through the runtime's generic equality (a call per packet).
	ps, lk := &p.Session, &e.lastSessKey
	if s == nil || ps.VNI != lk.VNI || ps.GWLBEndpointID != lk.GWLBEndpointID || ps.HasVNI != lk.HasVNI || ps.OuterSrc != lk.OuterSrc {
		k := sessionKey(p)
		s = e.sessions[k]
		if s == nil {
			if unselected && len(e.sessions) >= maxUnselectedSessions {
				// Bounded: a stream with many sessions left out
				// still counts its packets in Capture.Unselected.
				return
			}
			s = &sessionAcc{s: result.Session{
				OuterSrc: addrString(p.Session.OuterSrc),
				OuterDst: addrString(p.Session.OuterDst),
				VNI:      p.Session.VNI,
				Encap:    p.Encap.String(),
			}}
			if p.Session.HasGWLB {
				s.s.GWLBEndpointID = fmt.Sprintf("%016x", p.Session.GWLBEndpointID)
				s.s.GWLBAttachmentID = fmt.Sprintf("%016x", p.Session.GWLBAttachmentID)
			}
			s.unselected = unselected
			e.sessions[k] = s
		}
		e.lastSessKey, e.lastSess = k, s
	}
	s.s.Packets++
	s.s.Bytes += uint64(p.FrameLen)
	if p.Truncated {
		s.s.Truncated++
	}
}

// flowEnded turns an ended flow into its report entry and keeps the
// largest MaxReportFlows of them.
func (e *Engine) flowEnded(f *flow.Flow) {
	switch f.Key.Proto {
	case 6:
		e.protoFlows[0]++
	case 17:
		e.protoFlows[1]++
	case 1, 58:
		e.protoFlows[2]++
	default:
		e.protoFlows[3]++
	}
	rf := buildFlow(f)
	if st, ok := f.Ext.(*flowState); ok {
		e.finish(f, st, rf)
		if st.diag != nil {
			e.diagLive--
		}
		e.mem -= st.acct
	}
	f.Ext = nil
	if e.cfg.OnFlowEnd != nil {
		e.cfg.OnFlowEnd(rf)
	}
	if len(e.kept) < e.cfg.MaxReportFlows {
		heap.Push(&e.kept, rf)
		return
	}
	e.unlisted++
	if e.kept[0].Bytes < rf.Bytes {
		e.kept[0] = rf
		heap.Fix(&e.kept, 0)
	}
}

// Snapshot returns report entries for the flows still in the table,
// without ending them (listen's /api/flows and periodic reports of long
// flows). The TCP analysis in them is as of now.
func (e *Engine) Snapshot(max int) []result.Flow {
	var out []result.Flow
	e.table.Range(func(f *flow.Flow) bool {
		rf := buildFlow(f)
		if st, ok := f.Ext.(*flowState); ok {
			e.snapshot(f, st, rf)
		}
		out = append(out, *rf)
		return max <= 0 || len(out) < max
	})
	return out
}

// shed ends the least recently active flows until the live flows fit the
// memory budget again. The flow of the current packet is the most
// recently active, so it goes last; one flow always stays.
func (e *Engine) shed() {
	for e.mem > e.budget && e.table.Len() > 1 {
		e.table.EvictOldest()
	}
}

// MemBytes returns the estimated bytes held by the live flows' state.
func (e *Engine) MemBytes() int { return e.mem }

// SnapshotStartedBefore returns report entries for at most max live
// flows (the most recently active first) that started at or before
// before (ns), without ending them: listen's interim reports of long
// flows. Only those entries are built, so a tick over a million short
// flows costs a walk of the table, not a million entries.
func (e *Engine) SnapshotStartedBefore(before int64, max int) []result.Flow {
	var out []result.Flow
	e.table.Range(func(f *flow.Flow) bool {
		if f.First > before {
			return true
		}
		rf := buildFlow(f)
		if st, ok := f.Ext.(*flowState); ok {
			e.snapshot(f, st, rf)
		}
		out = append(out, *rf)
		return len(out) < max
	})
	return out
}

// MaxReportFlows is the cap on flows listed in the report, after the
// memory budget.
func (e *Engine) MaxReportFlows() int { return e.cfg.MaxReportFlows }

// Expire ends flows idle past the idle timeout as of now (ns); live
// sources call it on a timer, since no packet may come to advance the
// capture clock.
func (e *Engine) Expire(now int64) {
	e.table.Advance(now)
	e.table.Expire()
}

// AddInput records an input file's summary for the report.
func (e *Engine) AddInput(in result.Input) { e.inputs = append(e.inputs, in) }

// Frames returns the number of frames given to Packet so far.
func (e *Engine) Frames() uint64 { return e.frame }

// Finish ends every live flow and returns the report. The Engine must not
// be used afterwards.
func (e *Engine) Finish() *result.Report {
	e.table.Flush("end_of_capture")
	return e.report(e.table.Stats())
}

// report builds the report from the engine's counters, the table's
// statistics ts and the kept flows, and derives the findings.
func (e *Engine) report(ts flow.Stats) *result.Report {
	c := &e.capt
	if e.first != 0 {
		c.First = formatTS(e.first)
		c.Last = formatTS(e.last)
		c.DurationS = float64(e.last-e.first) / 1e9
	}
	if e.frags != nil {
		fs := e.frags.Stats()
		c.Fragments = &result.Fragments{Fragments: fs.Fragments, Reassembled: fs.Reassembled,
			TimedOut: fs.TimedOut, Evicted: fs.Evicted, Invalid: fs.Invalid, Incomplete: uint64(e.frags.Pending())}
	}
	for i, n := range e.errKinds {
		if n > 0 {
			if c.DecodeErrorKinds == nil {
				c.DecodeErrorKinds = map[string]uint64{}
			}
			c.DecodeErrorKinds[decode.Error(i).Name()] = n
		}
	}
	c.Encapsulation = map[string]uint64{}
	for i, n := range e.encap {
		if n > 0 {
			c.Encapsulation[decode.Encap(i).String()] = n
		}
	}
	c.Sessions = make([]result.Session, 0, len(e.sessions))
	for _, s := range e.sessions {
		if s.unselected {
			c.UnselectedSessions = append(c.UnselectedSessions, s.s)
		} else {
			c.Sessions = append(c.Sessions, s.s)
		}
	}
	sortSessions(c.Sessions)
	sortSessions(c.UnselectedSessions)
	c.FlowCounts = result.FlowCounts{
		Total:       ts.Created,
		TCP:         e.protoFlows[0],
		UDP:         e.protoFlows[1],
		ICMP:        e.protoFlows[2],
		Other:       e.protoFlows[3],
		Evicted:     ts.Evicted,
		IdleEnd:     ts.Idle,
		Listed:      uint64(len(e.kept)),
		Unlisted:    e.unlisted,
		Undiagnosed: e.diagSkipped,
	}
	flows := make([]result.Flow, len(e.kept))
	for i, rf := range e.kept {
		flows[i] = *rf
	}
	sort.Slice(flows, func(i, j int) bool {
		if flows[i].Bytes != flows[j].Bytes {
			return flows[i].Bytes > flows[j].Bytes
		}
		return flows[i].ID < flows[j].ID
	})
	r := &result.Report{
		SchemaVersion: result.SchemaVersion,
		Tool:          e.cfg.Tool,
		Inputs:        e.inputs,
		Capture:       *c,
		Flows:         flows,
	}
	r.Findings = findings(r)
	if r.Inputs == nil {
		r.Inputs = []result.Input{}
	}
	return r
}

func buildFlow(f *flow.Flow) *result.Flow {
	rf := &result.Flow{
		ID:        f.ID,
		Proto:     protoName(f.Key.Proto),
		Client:    endpointString(f.Client, f.Key.Proto),
		Server:    endpointString(f.Server, f.Key.Proto),
		RolesFrom: f.Roles.String(),
		Encap:     f.Encap.String(),
		Start:     formatTS(f.First),
		End:       formatTS(f.Last),
		DurationS: float64(f.Duration()) / 1e9,
		Packets:   f.Packets(),
		Bytes:     f.Bytes(),
		EndReason: f.EndReason,
		C2S:       direction(&f.Dir[0]),
		S2C:       direction(&f.Dir[1]),
		StartNS:   f.First,
		EndNS:     f.Last,
	}
	if f.Encap != decode.EncapNone {
		rf.Session = &result.SessionRef{
			OuterSrc: addrString(f.Session.OuterSrc),
			OuterDst: addrString(f.Session.OuterDst),
			VNI:      f.Session.VNI,
		}
		if f.Session.HasGWLB {
			rf.Session.GWLBEndpointID = fmt.Sprintf("%016x", f.Session.GWLBEndpointID)
		}
		if f.Session.HasOverlay {
			v := f.Session.OverlayVNI
			rf.Session.OverlayVNI = &v
		}
	}
	if d := f.Duration(); d > 0 {
		rf.ThroughputBPS = float64(f.Bytes()) * 8 / (float64(d) / 1e9)
	}
	return rf
}

func direction(d *flow.DirStats) result.Direction {
	out := result.Direction{
		Packets:      d.Packets,
		Bytes:        d.Bytes,
		PayloadBytes: d.PayloadBytes,
		Truncated:    d.Truncated,
	}
	if dur := d.Last - d.First; dur > 0 {
		out.ThroughputBPS = float64(d.Bytes) * 8 / (float64(dur) / 1e9)
	}
	return out
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return fmt.Sprintf("ip-%d", p)
}

func endpointString(ap netip.AddrPort, proto uint8) string {
	if proto == 6 || proto == 17 || proto == 132 {
		return ap.String()
	}
	return ap.Addr().String()
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func formatTS(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// flowHeap is a min-heap of flows by bytes (the smallest is dropped first).
type flowHeap []*result.Flow

func (h flowHeap) Len() int { return len(h) }
func (h flowHeap) Less(i, j int) bool {
	if h[i].Bytes != h[j].Bytes {
		return h[i].Bytes < h[j].Bytes
	}
	return h[i].ID > h[j].ID
}
func (h flowHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flowHeap) Push(x any)   { *h = append(*h, x.(*result.Flow)) }
func (h *flowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (e *Engine) emit(ts int64, p *decode.Packet, f *flow.Flow, d flow.Dir, r *tcpseq.Result, err error) {
	e.ev = result.PacketEvent{Frame: e.frame, TS: ts, Packet: p, Flow: f, Dir: d, TCP: r, Err: err,
		Data: e.raw.data, OrigLen: e.raw.orig, Link: e.raw.link, Iface: e.raw.iface}
	e.cfg.OnPacket(&e.ev)
}

// maxUnselectedSessions bounds the sessions kept for a finding when
// Config.Select leaves them out.
const maxUnselectedSessions = 64

// sortSessions orders sessions by packets, most first, then by outer
// source and VNI, so reports do not depend on map order.
func sortSessions(ss []result.Session) {
	sort.Slice(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if a.Packets != b.Packets {
			return a.Packets > b.Packets
		}
		if a.OuterSrc != b.OuterSrc {
			return a.OuterSrc < b.OuterSrc
		}
		return a.VNI < b.VNI
	})
}
