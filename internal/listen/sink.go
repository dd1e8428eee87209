package listen

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"

	"github.com/mirrorscope/mirrorscope/internal/report"
)

// sink writes the JSON lines and keeps what /api serves of the past. All
// methods are safe for concurrent use (shards end flows concurrently).
type sink struct {
	mu  sync.Mutex
	out LineWriter
	buf bytes.Buffer
	enc *json.Encoder
	err error

	recent     []report.Flow // ring of ended flows
	recentNext int
	findings   []report.Finding // ring
	findNext   int
	byKind     map[string]uint64
	maxRecent  int
	maxFinding int

	// q, when started, carries lines to the sink's own goroutine: a
	// flow's JSON line costs tens of microseconds to encode, and with
	// inline analysis the goroutine ending the flow is the one reading
	// its socket. Order is kept (one queue); flush waits for it.
	q    chan sinkOp
	done chan struct{}
}

type sinkOp struct {
	kind    uint8
	interim bool
	flow    report.Flow
	finding report.Finding
	sum     *Summary
	flushed chan error
}

const (
	opFlow = iota
	opFinding
	opSummary
	opFlush
)

// start runs the writing goroutine; stop (after the last line) ends it.
func (s *sink) start() {
	s.q = make(chan sinkOp, 1024)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for op := range s.q {
			switch op.kind {
			case opFlow:
				s.doFlow(&op.flow, op.interim)
			case opFinding:
				s.doFinding(&op.finding)
			case opSummary:
				s.doSummary(op.sum)
			case opFlush:
				op.flushed <- s.doFlush()
			}
		}
	}()
}

func (s *sink) stop() {
	if s.q != nil {
		close(s.q)
		<-s.done
	}
}

func newSink(out LineWriter, maxRecent, maxFinding int) *sink {
	s := &sink{out: out, byKind: map[string]uint64{}, maxRecent: maxRecent, maxFinding: maxFinding}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

// flowLine is a flow as a JSON line: report.Flow's fields plus the type.
type flowLine struct {
	Type string `json:"type"`
	// Interim marks a report of a flow still open (--report-interval);
	// the flow is reported again when it ends.
	Interim bool `json:"interim,omitempty"`
	*report.Flow
}

type findingLine struct {
	Type string `json:"type"`
	*report.Finding
}

// flow writes one flow line; ended flows are also kept for /api/flows.
// rf is read during the call only.
func (s *sink) flow(rf *report.Flow, interim bool) {
	if s.q != nil {
		s.q <- sinkOp{kind: opFlow, flow: *rf, interim: interim}
		return
	}
	s.doFlow(rf, interim)
}

func (s *sink) finding(f *report.Finding) {
	if s.q != nil {
		s.q <- sinkOp{kind: opFinding, finding: *f}
		return
	}
	s.doFinding(f)
}

func (s *sink) summary(sum *Summary) {
	if s.q != nil {
		s.q <- sinkOp{kind: opSummary, sum: sum}
		return
	}
	s.doSummary(sum)
}

func (s *sink) flush() error {
	if s.q != nil {
		c := make(chan error, 1)
		s.q <- sinkOp{kind: opFlush, flushed: c}
		return <-c
	}
	return s.doFlush()
}

func (s *sink) doFlow(rf *report.Flow, interim bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(flowLine{Type: "flow", Interim: interim, Flow: rf})
	if interim || s.maxRecent <= 0 {
		return
	}
	if len(s.recent) < s.maxRecent {
		s.recent = append(s.recent, *rf)
		return
	}
	s.recent[s.recentNext] = *rf
	s.recentNext = (s.recentNext + 1) % s.maxRecent
}

func (s *sink) doFinding(f *report.Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(findingLine{Type: "finding", Finding: f})
	s.byKind[f.Kind]++
	if s.maxFinding <= 0 {
		return
	}
	if len(s.findings) < s.maxFinding {
		s.findings = append(s.findings, *f)
		return
	}
	s.findings[s.findNext] = *f
	s.findNext = (s.findNext + 1) % s.maxFinding
}

func (s *sink) doSummary(sum *Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(sum)
}

// write encodes v as one line and hands it to out in one Write, so a
// rotating writer only ever cuts between lines.
func (s *sink) write(v any) {
	if s.out == nil || s.err != nil {
		return
	}
	s.buf.Reset()
	if err := s.enc.Encode(v); err != nil {
		s.err = err
		return
	}
	if _, err := s.out.Write(s.buf.Bytes()); err != nil {
		s.err = err
	}
}

func (s *sink) doFlush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.out.(interface{ Flush() error }); ok && s.err == nil {
		s.err = f.Flush()
	}
	return s.err
}

func (s *sink) recentFlows() []report.Flow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Flow(nil), s.recent...)
}

// recentFindings returns the kept findings, oldest first.
func (s *sink) recentFindings() []report.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]report.Finding, 0, len(s.findings))
	if len(s.findings) == s.maxFinding {
		out = append(out, s.findings[s.findNext:]...)
		out = append(out, s.findings[:s.findNext]...)
	} else {
		out = append(out, s.findings...)
	}
	return out
}

func (s *sink) kinds() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]uint64, len(s.byKind))
	for k, v := range s.byKind {
		m[k] = v
	}
	return m
}

func sortFlowsByBytes(fs []report.Flow) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Bytes != fs[j].Bytes {
			return fs[i].Bytes > fs[j].Bytes
		}
		return fs[i].ID < fs[j].ID
	})
}
