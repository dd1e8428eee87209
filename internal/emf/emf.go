package emf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Config configures a Writer.
type Config struct {
	// Namespace is the CloudWatch namespace (default "mirrorscope").
	Namespace string
	// Now stamps the lines written by Summary (default time.Now).
	Now func() time.Time
}

type verdictCount struct {
	flows, bytes uint64
}

type sessionCount struct {
	packets, bytes, drops, truncated uint64
}

// Writer is a listen.Tap writing EMF lines to w.
type Writer struct {
	cfg      Config
	w        *bufio.Writer
	closer   io.Closer
	verdicts map[string]*verdictCount
	last     map[string]sessionCount // cumulative at the previous snapshot
	lastInfo []listen.SessionInfo
	err      error
	lines    uint64
}

var _ listen.Tap = (*Writer)(nil)

// New returns a Writer. If w is an io.Closer, Close closes it.
func New(w io.Writer, cfg Config) *Writer {
	if cfg.Namespace == "" {
		cfg.Namespace = "mirrorscope"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Writer{cfg: cfg, w: bufio.NewWriterSize(w, 32<<10), verdicts: map[string]*verdictCount{}, last: map[string]sessionCount{}}
	if c, ok := w.(io.Closer); ok {
		e.closer = c
	}
	return e
}

// Lines is the number of EMF lines written.
func (e *Writer) Lines() uint64 { return e.lines }

// Flow counts an ended flow by verdict (interim reports are not counted:
// the flow is counted once, when it ends).
func (e *Writer) Flow(f *result.Flow, interim bool) {
	if interim {
		return
	}
	v := "none"
	if d, ok := f.Diagnosis.(*diagnose.Diagnosis); ok && d != nil && d.Verdict != "" {
		v = d.Verdict
	}
	c := e.verdicts[v]
	if c == nil {
		c = &verdictCount{}
		e.verdicts[v] = c
	}
	c.flows++
	c.bytes += f.Bytes
}

// Finding is not turned into metrics: findings are in the JSON lines.
func (e *Writer) Finding(*result.Finding) {}

// Sessions writes the period's lines.
func (e *Writer) Sessions(now time.Time, s []listen.SessionInfo) {
	e.lastInfo = s
	e.emit(now, s)
}

// Summary writes the last period's lines (the flows ended at exit).
func (e *Writer) Summary(s *listen.Summary) {
	infos := e.lastInfo
	if s != nil && s.Listener.Sessions != nil {
		infos = s.Listener.Sessions
	}
	e.emit(e.cfg.Now(), infos)
}

// Close flushes and closes the output; it returns the first write error.
func (e *Writer) Close() error {
	if err := e.w.Flush(); err != nil && e.err == nil {
		e.err = err
	}
	if e.closer != nil {
		if err := e.closer.Close(); err != nil && e.err == nil {
			e.err = err
		}
	}
	if e.err != nil {
		return fmt.Errorf("emf: %w", e.err)
	}
	return nil
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

func (e *Writer) line(ts time.Time, dims [][]string, fields map[string]any, metrics []metric) {
	fields["_aws"] = meta{Timestamp: ts.UnixMilli(), CloudWatchMetrics: []directive{{Namespace: e.cfg.Namespace, Dimensions: dims, Metrics: metrics}}}
	b, err := json.Marshal(fields)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		return
	}
	b = append(b, '\n')
	if _, err := e.w.Write(b); err != nil && e.err == nil {
		e.err = err
	}
	e.lines++
}

func (e *Writer) emit(now time.Time, infos []listen.SessionInfo) {
	var total, policed, shaped, bytes uint64
	verdicts := make([]string, 0, len(e.verdicts))
	for v := range e.verdicts {
		verdicts = append(verdicts, v)
	}
	sort.Strings(verdicts)
	for _, v := range verdicts {
		c := e.verdicts[v]
		if c.flows == 0 {
			continue
		}
		total += c.flows
		bytes += c.bytes
		switch v {
		case diagnose.VerdictPolicer:
			policed += c.flows
		case diagnose.VerdictShaper:
			shaped += c.flows
		}
		e.line(now, [][]string{{"Verdict"}}, map[string]any{"Verdict": v, "Flows": c.flows, "Bytes": c.bytes},
			[]metric{{"Flows", "Count"}, {"Bytes", "Bytes"}})
		*c = verdictCount{}
	}
	if total > 0 {
		e.line(now, [][]string{{}}, map[string]any{"Flows": total, "PolicedFlows": policed, "ShapedFlows": shaped, "FlowBytes": bytes},
			[]metric{{"Flows", "Count"}, {"PolicedFlows", "Count"}, {"ShapedFlows", "Count"}, {"FlowBytes", "Bytes"}})
	}
	for _, s := range infos {
		name := sessionName(s)
		cur := sessionCount{s.Packets, s.Bytes, s.Drops, s.Truncated}
		prev := e.last[name]
		e.last[name] = cur
		d := sessionCount{sub(cur.packets, prev.packets), sub(cur.bytes, prev.bytes), sub(cur.drops, prev.drops), sub(cur.truncated, prev.truncated)}
		if d == (sessionCount{}) {
			continue
		}
		e.line(now, [][]string{{"Session"}}, map[string]any{"Session": name, "Packets": d.packets, "Bytes": d.bytes, "Drops": d.drops, "Truncated": d.truncated},
			[]metric{{"Packets", "Count"}, {"Bytes", "Bytes"}, {"Drops", "Count"}, {"Truncated", "Count"}})
	}
}

// sub is a delta that survives a counter reset (a restarted registry).
func sub(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func sessionName(s listen.SessionInfo) string {
	switch {
	case s.Overflow:
		return "overflow"
	case s.OuterSrc != "":
		return fmt.Sprintf("vni %d from %s", s.VNI, s.OuterSrc)
	}
	return fmt.Sprintf("vni %d", s.VNI)
}
