package engine

import (
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/report"
)

// flowState is the per-flow analysis state the engine keeps in Flow.Ext.
// It lives exactly as long as the flow is in the table.
type flowState struct {
	tcp bool
}

func newFlowState(f *flow.Flow, p *decode.Packet) *flowState {
	return &flowState{tcp: p.Proto == 6}
}

// packet runs the per-flow analyses on one packet of the flow.
func (s *flowState) packet(ts int64, d flow.Dir, p *decode.Packet) {}

// finish adds the analyses' results to the flow's report entry.
func (s *flowState) finish(rf *report.Flow) {}
