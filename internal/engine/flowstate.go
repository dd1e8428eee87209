package engine

import (
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// flowState is the per-flow analysis state the engine keeps in Flow.Ext.
// It lives exactly as long as the flow is in the table.
type flowState struct {
	tcp  *tcpseq.Conn
	diag *diagnose.Flow
}

func (e *Engine) newFlowState(f *flow.Flow, p *decode.Packet) *flowState {
	s := &flowState{}
	if p.Proto == 6 && !e.cfg.FlowsOnly {
		s.tcp = tcpseq.NewConn(tcpseq.Config{Streams: &e.streams, ReusedPorts: f.ReusedPorts})
		if !e.cfg.NoDiagnose {
			// The diagnosis keeps ~50 KB of fixed per-flow state (rate
			// bins, rings) and a capped record buffer: cap how many live
			// flows carry it, so a capture of very many concurrent
			// connections stays bounded in memory. The rest are counted.
			if e.diagLive < e.cfg.MaxDiagnosedFlows {
				s.diag = diagnose.NewFlow(e.cfg.Diagnose)
				e.diagLive++
			} else {
				e.diagSkipped++
			}
		}
	}
	return s
}

// packet runs the per-flow analyses on one packet of the flow. It returns
// the TCP analysis result, or nil when the packet is not TCP.
func (e *Engine) analyse(s *flowState, ts int64, d flow.Dir, p *decode.Packet) *tcpseq.Result {
	if s.tcp == nil || !p.HasTCP() {
		return nil
	}
	r := &e.res
	s.tcp.Analyze(p, ts, r)
	if s.diag != nil {
		s.diag.Observe(ts, int(d), p, r)
	}
	return r
}

// snapshot adds the analyses' results so far, leaving the state usable.
func (s *flowState) snapshot(rf *report.Flow) {
	if s.tcp != nil {
		st := s.tcp.Stats()
		rf.TCP = &st
	}
}

// finish adds the analyses' results to the flow's report entry.
func (s *flowState) finish(rf *report.Flow) {
	if s.tcp != nil {
		st := s.tcp.Stats()
		rf.TCP = &st
	}
	if s.diag != nil {
		rf.Diagnosis = s.diag.Finish()
	}
}
