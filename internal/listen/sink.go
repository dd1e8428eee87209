package listen

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// sink writes the JSON lines and keeps what /api serves of the past. All
// methods are safe for concurrent use (shards end flows concurrently).
type sink struct {
	mu  sync.Mutex
	out LineWriter
	buf bytes.Buffer
	enc *json.Encoder
	err error

	recent   ring[result.Flow] // ended flows
	findings ring[result.Finding]
	byKind   map[string]uint64

	// q, when started, carries lines to the sink's own goroutine: a
	// flow's JSON line costs tens of microseconds to encode, and with
	// inline analysis the goroutine ending the flow is the one reading
	// its socket. Order is kept (one queue); flush waits for it.
	q    chan sinkOp
	done chan struct{}

	taps []Tap
	half *halfFlows // half-flow detection (halfflow.go)
}

type sinkOp struct {
	kind    uint8
	interim bool
	flow    result.Flow
	finding result.Finding
	sum     *Summary
	now     time.Time
	sess    []SessionInfo
	flushed chan error
}

const (
	opFlow = iota
	opFinding
	opSummary
	opFlush
	opSessions
	opReopen
)

// start runs the writing goroutine; stop (after the last line) ends it.
func (s *sink) start() {
	s.q = make(chan sinkOp, 1024)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for op := range s.q {
			s.apply(&op)
		}
	}()
}

// send hands op to the writing goroutine, or applies it at once when the
// sink was not started.
func (s *sink) send(op sinkOp) {
	if s.q != nil {
		s.q <- op
		return
	}
	s.apply(&op)
}

func (s *sink) apply(op *sinkOp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op.kind {
	case opFlow:
		s.write(flowLine{Type: "flow", Interim: op.interim, Flow: &op.flow})
		if !op.interim {
			s.recent.push(op.flow)
		}
		for _, t := range s.taps {
			t.Flow(&op.flow, op.interim)
		}
		if f := s.half.observe(&op.flow, op.interim); f != nil {
			s.applyFinding(f)
		}
	case opFinding:
		s.applyFinding(&op.finding)
	case opSummary:
		s.write(op.sum)
		for _, t := range s.taps {
			t.Summary(op.sum)
		}
	case opSessions:
		for _, t := range s.taps {
			t.Sessions(op.now, op.sess)
		}
	case opReopen:
		var err error
		if f, ok := s.out.(interface{ Reopen() error }); ok {
			err = f.Reopen()
		}
		op.flushed <- err
	case opFlush:
		if f, ok := s.out.(interface{ Flush() error }); ok && s.err == nil {
			s.err = f.Flush()
		}
		op.flushed <- s.err
	}
}

func (s *sink) applyFinding(f *result.Finding) {
	s.write(findingLine{Type: "finding", Finding: f})
	s.byKind[f.Kind]++
	s.findings.push(*f)
	for _, t := range s.taps {
		t.Finding(f)
	}
}

// ring keeps the last max values pushed (none when max <= 0).
type ring[T any] struct {
	max  int
	vals []T
	next int // where the next push goes once full
}

func (r *ring[T]) push(v T) {
	switch {
	case r.max <= 0:
	case len(r.vals) < r.max:
		r.vals = append(r.vals, v)
	default:
		r.vals[r.next] = v
		r.next = (r.next + 1) % r.max
	}
}

// items returns a copy, oldest first.
func (r *ring[T]) items() []T {
	out := make([]T, 0, len(r.vals))
	out = append(out, r.vals[r.next:]...)
	return append(out, r.vals[:r.next]...)
}

func (s *sink) stop() {
	if s.q != nil {
		close(s.q)
		<-s.done
	}
}

func newSink(out LineWriter, maxRecent, maxFinding int) *sink {
	s := &sink{out: out, byKind: map[string]uint64{}}
	s.recent.max, s.findings.max = maxRecent, maxFinding
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
	*result.Flow
}

type findingLine struct {
	Type string `json:"type"`
	*result.Finding
}

// flow writes one flow line; ended flows are also kept for /api/flows.
// rf is read during the call only.
func (s *sink) flow(rf *result.Flow, interim bool) {
	s.send(sinkOp{kind: opFlow, flow: *rf, interim: interim})
}

func (s *sink) finding(f *result.Finding) { s.send(sinkOp{kind: opFinding, finding: *f}) }

func (s *sink) summary(sum *Summary) { s.send(sinkOp{kind: opSummary, sum: sum}) }

// sessions hands the session counters to the taps (none: nothing sent).
func (s *sink) sessions(now time.Time, sess []SessionInfo) {
	if len(s.taps) > 0 {
		s.send(sinkOp{kind: opSessions, now: now, sess: sess})
	}
}

// closeTaps closes every tap after the last line; the first error wins.
func (s *sink) closeTaps() error {
	var first error
	for _, t := range s.taps {
		if err := t.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// flush writes out what is buffered, after every line sent before it.
// reopen reopens the output file, in line order (SIGHUP).
func (s *sink) reopen() error {
	c := make(chan error, 1)
	s.send(sinkOp{kind: opReopen, flushed: c})
	return <-c
}

func (s *sink) flush() error {
	c := make(chan error, 1)
	s.send(sinkOp{kind: opFlush, flushed: c})
	return <-c
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

func (s *sink) recentFlows() []result.Flow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recent.items()
}

// recentFindings returns the kept findings, oldest first.
func (s *sink) recentFindings() []result.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findings.items()
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

func sortFlowsByBytes(fs []result.Flow) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Bytes != fs[j].Bytes {
			return fs[i].Bytes > fs[j].Bytes
		}
		return fs[i].ID < fs[j].ID
	})
}
