package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "FLEET  %d partitions, %d records (%d duplicates skipped, %d undecodable)\n",
		r.Partitions, r.Records, r.Duplicates, r.Undecodable)
	if len(r.Targets) > 0 {
		fmt.Fprintf(&b, "\nTARGETS (%d, from their last summary)\n", len(r.Targets))
		for _, t := range r.Targets {
			fmt.Fprintf(&b, "  %-24s datagrams %d  kernel drops %d  flows %d\n", t.Target, t.Datagrams, t.KernelDrops, t.FlowsEnded)
		}
	}
	fmt.Fprintf(&b, "\nSOURCES (%d)\n", len(r.Sources))
	for _, s := range r.Sources {
		id := s.Key
		if s.KeyKind != "" {
			id += " (" + s.KeyKind + ")"
		}
		fmt.Fprintf(&b, "  %s: %d flows, %d TCP, %d half; %d series packets; peak %.2f Mbit/s", id, s.Total.Flows, s.Total.TCPFlows,
			s.Total.HalfFlows, s.Total.SeriesPackets, s.PeakBPS/1e6)
		if s.PolicedRateBps > 0 {
			fmt.Fprintf(&b, "; policed at %.2f Mbit/s", s.PolicedRateBps/1e6)
		}
		b.WriteString("\n")
		if len(s.ENIs) > 0 {
			fmt.Fprintf(&b, "      ENIs: %s\n", strings.Join(s.ENIs, ", "))
		}
		targets := make([]string, 0, len(s.Targets))
		for t := range s.Targets {
			targets = append(targets, t)
		}
		sort.Strings(targets)
		for _, t := range targets {
			c := s.Targets[t]
			fmt.Fprintf(&b, "      on %s: %d flows (%d half of %d TCP), %d series packets\n", t, c.Flows, c.HalfFlows, c.TCPFlows, c.SeriesPackets)
		}
		if len(s.Verdicts) > 0 {
			vs := make([]string, 0, len(s.Verdicts))
			for v, n := range s.Verdicts {
				vs = append(vs, fmt.Sprintf("%s %d", v, n))
			}
			sort.Strings(vs)
			fmt.Fprintf(&b, "      verdicts: %s\n", strings.Join(vs, ", "))
		}
	}
	fmt.Fprintf(&b, "\nFLEET FINDINGS (%d)\n", len(r.Findings))
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %-8s %s: %s\n", strings.ToUpper(f.Severity), f.Kind, f.Summary)
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "           %s\n", e)
		}
		for _, n := range f.Next {
			fmt.Fprintf(&b, "           next: %s\n", n)
		}
	}
	fmt.Fprintf(&b, "\nTARGET FINDINGS (%d)\n", len(r.TargetFindings))
	for _, f := range r.TargetFindings {
		fmt.Fprintf(&b, "  %-8s [%s] %s: %s\n", strings.ToUpper(f.Severity), f.Target, f.Kind, f.Summary)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
