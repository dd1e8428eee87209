package engine

import (
	"unsafe"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// flowState is the per-flow analysis state the engine keeps in Flow.Ext.
// It lives exactly as long as the flow is in the table.
//
// A TCP flow starts cheap: its first TCP packet is analysed on the
// engine's scratch Conn and only the fields the analyses read are kept
// (first). The flow's own Conn (~1.3 KB) and diagnosis (~54 KB) are built
// at its second TCP packet, by replaying the first one into them, which
// gives the same results as if they had been there from the start. A SYN
// scan or a flood of one-packet flows so costs the flow entry and this
// struct, not a Conn each.
type flowState struct {
	tcp  *tcpseq.Conn
	diag *diagnose.Flow

	first    firstPacket
	hasFirst bool
	// acct is what this flow counts in Engine.mem; tcpPkts paces the
	// re-accounting of growing Conns and diagnoses.
	acct    int
	tcpPkts uint32
}

// firstPacket is what tcpseq.Conn.Analyze and diagnose.Flow.Observe read
// of a packet, less what the flow itself knows (addresses, ports from the
// direction; the session).
type firstPacket struct {
	tcp        decode.TCP
	ts         int64
	payloadLen uint32
	frameLen   uint32
	stream     uint32
	tos        uint8
	ipVersion  uint8
	fragment   bool
	truncated  bool
	dir        flow.Dir
}

// Estimated bytes of a flow in the table before any analysis state: the
// flow.Flow, its map slot (key and pointer, at the map's typical load)
// and the flowState.
const flowBaseBytes = int(unsafe.Sizeof(flow.Flow{})) + 2*int(unsafe.Sizeof(flow.Key{})+8) + int(unsafe.Sizeof(flowState{}))

func (e *Engine) newFlowState(f *flow.Flow, p *decode.Packet) *flowState {
	s := &flowState{acct: flowBaseBytes}
	e.mem += flowBaseBytes
	return s
}

// tcpAnalysed says whether the flow's TCP packets are analysed at all.
func (e *Engine) tcpAnalysed(f *flow.Flow) bool {
	return f.Key.Proto == 6 && !e.cfg.FlowsOnly
}

// analyse runs the per-flow analyses on one packet of the flow. It returns
// the TCP analysis result, or nil when the packet is not TCP.
func (e *Engine) analyse(f *flow.Flow, s *flowState, ts int64, d flow.Dir, p *decode.Packet) *tcpseq.Result {
	if !p.HasTCP() || !e.tcpAnalysed(f) {
		return nil
	}
	r := &e.res
	if s.tcp == nil {
		if !s.hasFirst {
			// First TCP packet: analyse it on the scratch Conn, under the
			// next stream index, and keep what a replay needs.
			e.scratch.Reset(tcpseq.Config{Streams: &e.streams, ReusedPorts: f.ReusedPorts})
			e.scratch.Analyze(p, ts, r)
			s.hasFirst = true
			s.first = firstPacket{tcp: p.TCP, ts: ts, payloadLen: p.PayloadLen, frameLen: p.FrameLen,
				stream: r.Stream, tos: p.TOS, ipVersion: p.IPVersion, fragment: p.Fragment, truncated: p.Truncated, dir: d}
			return r
		}
		e.materialize(f, s)
	}
	s.tcp.Analyze(p, ts, r)
	if s.diag != nil {
		s.diag.Observe(ts, int(d), p, r)
	}
	// Conns and diagnoses grow most in a flow's first packets (RTT
	// histograms, timestamp tables, segment lists): re-account at every
	// power of two, then every 256 packets.
	if s.tcpPkts++; s.tcpPkts&(s.tcpPkts-1) == 0 || s.tcpPkts&255 == 0 {
		e.account(s)
	}
	return r
}

// replayPacket rebuilds the flow's first TCP packet in e.replay.
func (e *Engine) replayPacket(f *flow.Flow, s *flowState) *decode.Packet {
	fp := &s.first
	p := &e.replay
	*p = decode.Packet{Encap: f.Encap, Session: f.Session, IPVersion: fp.ipVersion, Proto: 6, L4: true,
		TOS: fp.tos, Fragment: fp.fragment, TCP: fp.tcp, PayloadLen: fp.payloadLen, FrameLen: fp.frameLen, Truncated: fp.truncated}
	src, dst := f.Client, f.Server
	if fp.dir == flow.ServerToClient {
		src, dst = dst, src
	}
	p.Src, p.SrcPort, p.Dst, p.DstPort = src.Addr(), src.Port(), dst.Addr(), dst.Port()
	return p
}

// materialize gives a flow its own Conn (and diagnosis, within the cap)
// at its second TCP packet, replaying the first.
func (e *Engine) materialize(f *flow.Flow, s *flowState) {
	p := e.replayPacket(f, s)
	streams := tcpseq.StreamAt(s.first.stream)
	s.tcp = tcpseq.NewConn(tcpseq.Config{Streams: &streams, ReusedPorts: f.ReusedPorts})
	s.tcp.Analyze(p, s.first.ts, &e.replayRes)
	s.tcp.SetStreams(&e.streams)
	if !e.cfg.NoDiagnose {
		// The diagnosis keeps ~54 KB of fixed per-flow state (rate bins,
		// rings) and a capped record buffer: cap how many live flows carry
		// it, so a capture of very many concurrent connections stays
		// bounded in memory. The rest are counted.
		if e.diagLive < e.maxDiag {
			s.diag = diagnose.NewFlow(e.cfg.Diagnose)
			s.diag.Observe(s.first.ts, int(s.first.dir), p, &e.replayRes)
			e.diagLive++
		} else {
			e.diagSkipped++
		}
	}
	s.hasFirst = false
	e.account(s)
}

// account brings the flow's share of Engine.mem up to date.
func (e *Engine) account(s *flowState) {
	n := flowBaseBytes
	if s.tcp != nil {
		n += s.tcp.MemBytes()
	}
	if s.diag != nil {
		n += s.diag.MemBytes()
	}
	e.mem += n - s.acct
	s.acct = n
}

// oneShotStats returns the TCP statistics of a flow that carried a single
// TCP packet, by replaying it on the scratch Conn.
func (e *Engine) oneShotStats(f *flow.Flow, s *flowState) *tcpseq.Stats {
	p := e.replayPacket(f, s)
	streams := tcpseq.StreamAt(s.first.stream)
	e.scratch.Reset(tcpseq.Config{Streams: &streams})
	e.scratch.Analyze(p, s.first.ts, &e.replayRes)
	st := e.scratch.Stats()
	return &st
}

// snapshot adds the analyses' results so far, leaving the state usable.
func (e *Engine) snapshot(f *flow.Flow, s *flowState, rf *result.Flow) {
	switch {
	case s.tcp != nil:
		st := s.tcp.Stats()
		rf.TCP = &st
	case s.hasFirst:
		rf.TCP = e.oneShotStats(f, s)
	}
}

// finish adds the analyses' results to the flow's report entry. A flow
// that carried one TCP packet has TCP statistics but no diagnosis (there
// is nothing to diagnose in one packet).
func (e *Engine) finish(f *flow.Flow, s *flowState, rf *result.Flow) {
	e.snapshot(f, s, rf)
	if s.diag != nil {
		rf.Diagnosis = s.diag.Finish()
	}
}
