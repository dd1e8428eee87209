package report

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// TextOptions tunes the terminal report.
type TextOptions struct {
	// Color adds ANSI colours (only when the output is a terminal).
	Color bool
	// MaxFlows caps the flows printed (0 = 20). The JSON has them all.
	MaxFlows int
}

// TextSection lets other packages add a per-flow section to the text
// report (the TCP analysis and the diagnosis format themselves). It
// returns lines without indentation, or nil.
type TextSection func(f *result.Flow) []string

// WriteText writes the human report: capture summary, flows by bytes,
// findings. It fits 80 columns.
func WriteText(w io.Writer, r *result.Report, o TextOptions, sections ...TextSection) error {
	bw := bufio.NewWriter(w)
	t := &textWriter{w: bw, color: o.Color}
	max := o.MaxFlows
	if max <= 0 {
		max = 20
	}
	t.capture(r)
	t.findings(r)
	t.flows(r, max, sections)
	return bw.Flush()
}

type textWriter struct {
	w     *bufio.Writer
	color bool
}

func (t *textWriter) p(format string, args ...any) { fmt.Fprintf(t.w, format+"\n", args...) }

func (t *textWriter) bold(s string) string {
	if !t.color {
		return s
	}
	return "\033[1m" + s + "\033[0m"
}

func (t *textWriter) sev(s string) string {
	label := fmt.Sprintf("%-8s", strings.ToUpper(s))
	if !t.color {
		return label
	}
	switch s {
	case "critical":
		return "\033[1;31m" + label + "\033[0m"
	case "warning":
		return "\033[33m" + label + "\033[0m"
	}
	return "\033[36m" + label + "\033[0m"
}

func (t *textWriter) capture(r *result.Report) {
	c := &r.Capture
	t.p("%s", t.bold("CAPTURE"))
	names := make([]string, 0, len(r.Inputs))
	for _, in := range r.Inputs {
		names = append(names, in.File)
	}
	if len(names) > 0 {
		t.p("  files      %s", strings.Join(names, ", "))
	}
	for _, in := range r.Inputs {
		if in.Error != "" {
			// A cut or corrupt file: say it here too, not only on
			// standard error, since reports are often read later.
			t.p("  %s cut short: %s; this report covers the %s packets read before it", t.sev("warning"), in.Error, Count(in.Packets))
		}
	}
	t.p("  packets    %s (%s), %s IP, %s other", Count(c.Packets), Bytes(c.Bytes), Count(c.IPPackets), Count(c.NonIPPackets))
	if c.First != "" {
		t.p("  time       %s, %.3f s", c.First, c.DurationS)
	}
	var enc []string
	for _, k := range sortedKeys(c.Encapsulation) {
		enc = append(enc, fmt.Sprintf("%s %s", k, Count(c.Encapsulation[k])))
	}
	if len(enc) > 0 {
		t.p("  encap      %s", strings.Join(enc, ", "))
	}
	if c.DecodeErrors > 0 || c.TruncatedPackets > 0 || c.Filtered > 0 {
		t.p("  problems   %s undecodable, %s truncated (%s before capture), %s filtered out",
			Count(c.DecodeErrors), Count(c.TruncatedPackets), Count(c.TruncatedUpstream), Count(c.Filtered))
	}
	if c.Unselected > 0 {
		t.p("  selection  %s packets left out by --vni/--outer-src (%d other session(s))", Count(c.Unselected), len(c.UnselectedSessions))
	}
	fc := c.FlowCounts
	t.p("  flows      %s: tcp %s, udp %s, icmp %s, other %s", Count(fc.Total), Count(fc.TCP), Count(fc.UDP), Count(fc.ICMP), Count(fc.Other))
	if len(c.Sessions) > 0 {
		t.p("  sessions   %d mirror session(s)", len(c.Sessions))
		for _, s := range c.Sessions {
			id := fmt.Sprintf("%s VNI %d", s.OuterSrc, s.VNI)
			if s.GWLBEndpointID != "" {
				id += " GWLB " + s.GWLBEndpointID
			}
			t.p("    %-32s %s pkts, %s, %d flows", id, Count(s.Packets), Bytes(s.Bytes), s.Flows)
		}
	}
	t.p("")
}

func (t *textWriter) flows(r *result.Report, max int, sections []TextSection) {
	if len(r.Flows) == 0 {
		t.p("%s", t.bold("FLOWS: none"))
		t.p("")
		return
	}
	shown := len(r.Flows)
	if shown > max {
		shown = max
	}
	t.p("%s", t.bold(fmt.Sprintf("FLOWS (%d of %d, by bytes)", shown, len(r.Flows))))
	for i := 0; i < shown; i++ {
		f := &r.Flows[i]
		sess := ""
		if f.Session != nil {
			sess = fmt.Sprintf("  [%s VNI %d]", f.Session.OuterSrc, f.Session.VNI)
		}
		t.p("  #%d %s %s -> %s%s", f.ID, f.Proto, f.Client, f.Server, sess)
		t.p("     %s pkts, %s in %.3f s; end: %s", Count(f.Packets), Bytes(f.Bytes), f.DurationS, f.EndReason)
		t.p("     c->s %s pkts %s %s;  s->c %s pkts %s %s",
			Count(f.C2S.Packets), Bytes(f.C2S.Bytes), Rate(f.C2S.ThroughputBPS),
			Count(f.S2C.Packets), Bytes(f.S2C.Bytes), Rate(f.S2C.ThroughputBPS))
		for _, s := range sections {
			for _, line := range s(f) {
				t.p("     %s", wrap(line, 73, "       "))
			}
		}
	}
	if shown < len(r.Flows) {
		t.p("  ... %d more flows in the JSON report (--format json)", len(r.Flows)-shown)
	}
	t.p("")
}

func (t *textWriter) findings(r *result.Report) {
	if len(r.Findings) == 0 {
		t.p("%s", t.bold("FINDINGS: none"))
		t.p("")
		return
	}
	defer t.p("")
	t.p("%s", t.bold(fmt.Sprintf("FINDINGS (%d)", len(r.Findings))))
	order := map[string]int{"critical": 0, "warning": 1, "info": 2}
	fs := append([]result.Finding(nil), r.Findings...)
	sort.SliceStable(fs, func(i, j int) bool { return order[fs[i].Severity] < order[fs[j].Severity] })
	for _, f := range fs {
		t.p("  %s %s", t.sev(f.Severity), wrap(f.Summary, 68, "           "))
		for _, e := range f.Evidence {
			t.p("           - %s", wrap(e, 64, "             "))
		}
		for _, n := range f.Next {
			t.p("           next: %s", wrap(n, 60, "                 "))
		}
	}
}

// wrap breaks s into lines of at most width runes, continuing with indent.
func wrap(s string, width int, indent string) string {
	words := strings.Fields(s)
	var b strings.Builder
	n := 0
	for i, w := range words {
		l := len([]rune(w))
		if i > 0 {
			if n+1+l > width {
				b.WriteString("\n")
				b.WriteString(indent)
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += l
	}
	return b.String()
}

func sortedKeys(m map[string]uint64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Count formats n with thousands separators.
func Count(n uint64) string {
	s := fmt.Sprintf("%d", n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// Bytes formats a byte count in SI units (kB = 1000 B), as network people
// count.
func Bytes(n uint64) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return fmt.Sprintf("%.2f GB", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.2f MB", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1f kB", f/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// Rate formats bits per second.
func Rate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}
