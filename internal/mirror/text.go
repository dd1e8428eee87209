package mirror

import (
	"fmt"
	"io"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/report"
)

// WriteText writes the report for people.
func (r *TestReport) WriteText(w io.Writer) error {
	var b strings.Builder
	src := "inferred (busiest address)"
	if !r.ENIInferred {
		src = "given"
	}
	if len(r.ENIAddrs) == 0 {
		src = "from the mirror outer source"
	}
	fmt.Fprintf(&b, "source interface: %s (%s)\n", strings.Join(r.ENIAddrs, ", "), src)
	fmt.Fprintf(&b, "capture: %d packets, %d bytes, %.3f s; ingress %d pkts %d B, egress %d pkts %d B\n",
		r.Total.Packets, r.Total.Bytes, r.DurationSeconds, r.Ingress.Packets, r.Ingress.Bytes, r.Egress.Packets, r.Egress.Bytes)
	if r.UnknownDirection.Packets > 0 {
		fmt.Fprintf(&b, "not the interface's traffic (neither end is its address): %d pkts %d B\n", r.UnknownDirection.Packets, r.UnknownDirection.Bytes)
	}
	if r.DecodeErrors > 0 {
		fmt.Fprintf(&b, "undecodable frames: %d\n", r.DecodeErrors)
	}
	if r.OtherSessions > 0 {
		fmt.Fprintf(&b, "other mirror sessions left out (--vni): %d pkts\n", r.OtherSessions)
	}
	for _, s := range r.Sessions {
		b.WriteString("\n")
		fmt.Fprintf(&b, "session %d", s.Number)
		if s.ID != "" {
			fmt.Fprintf(&b, " %s", s.ID)
		}
		if s.FilterID != "" {
			fmt.Fprintf(&b, " filter %s", s.FilterID)
		}
		if s.VNI != 0 {
			fmt.Fprintf(&b, " vni %d", s.VNI)
		}
		if s.PacketLength > 0 {
			fmt.Fprintf(&b, " packet-length %d", s.PacketLength)
		}
		if s.AmazonDNS {
			b.WriteString(" +amazon-dns")
		}
		b.WriteString("\n")
		if len(s.Rules) == 0 {
			b.WriteString("  no rules: this filter mirrors nothing\n")
		}
		fmt.Fprintf(&b, "  %-48s %10s %12s %6s\n", "rule (filter evaluated alone)", "packets", "bytes", "flows")
		hasIn, hasEg := false, false
		for _, rc := range s.Rules {
			hasIn = hasIn || rc.Direction == "ingress"
			hasEg = hasEg || rc.Direction == "egress"
			fmt.Fprintf(&b, "  %-48s %10d %12d %6d\n", rc.Rule, rc.Packets, rc.Bytes, rc.FlowCount)
			for _, fc := range rc.Flows {
				fmt.Fprintf(&b, "      %-44s %10d %12d  first frame %d\n", fc.Flow, fc.Packets, fc.Bytes, fc.FirstFrame)
			}
			if rc.FlowCount > len(rc.Flows) {
				fmt.Fprintf(&b, "      ... %d more flows\n", rc.FlowCount-len(rc.Flows))
			}
		}
		noIn, noEg := "ingress: no rule matched", "egress: no rule matched"
		if !hasIn {
			noIn = "ingress: no ingress rules"
		}
		if !hasEg {
			noEg = "egress: no egress rules"
		}
		fmt.Fprintf(&b, "  %-48s %10d %12d\n", noIn, s.NoMatchIngress.Packets, s.NoMatchIngress.Bytes)
		fmt.Fprintf(&b, "  %-48s %10d %12d\n", noEg, s.NoMatchEgress.Packets, s.NoMatchEgress.Bytes)
		if s.AmazonDNS {
			fmt.Fprintf(&b, "  %-48s %10d %12d\n", "amazon-dns service", s.AmazonDNSCount.Packets, s.AmazonDNSCount.Bytes)
		}
		fmt.Fprintf(&b, "  mirrored by this session: ingress %d pkts %d B, egress %d pkts %d B, %d truncated, %d B on the wire\n",
			s.MirroredIngress.Packets, s.MirroredIngress.Bytes, s.MirroredEgress.Packets, s.MirroredEgress.Bytes, s.Truncated, s.WireBytes)
	}
	b.WriteString("\n")
	if len(r.Never) > 0 {
		b.WriteString("never mirrored by AWS:\n")
		for _, n := range r.Never {
			fmt.Fprintf(&b, "  %-48s %10d %12d\n", n.Text, n.Packets, n.Bytes)
		}
	}
	fmt.Fprintf(&b, "not mirrored: no matching rule %d pkts %d B, rejected %d pkts %d B\n",
		r.NotMirroredNoMatch.Packets, r.NotMirroredNoMatch.Bytes, r.NotMirroredReject.Packets, r.NotMirroredReject.Bytes)
	fmt.Fprintf(&b, "mirrored: %d pkts %d B of frames; the mirror adds %d B to the source's bandwidth (%d B VXLAN overhead per packet)",
		r.Mirrored.Packets, r.Mirrored.Bytes, r.MirrorWireBytes, r.Overhead)
	if r.MirrorRateBps > 0 {
		fmt.Fprintf(&b, ", %s over %.3f s", report.Rate(r.MirrorRateBps), r.DurationSeconds)
	}
	b.WriteString("\n")
	if r.Mirrored.Packets == 0 && r.Total.Packets > 0 {
		b.WriteString("warning: nothing would be mirrored; check directions (ingress = to the interface), CIDRs and ports above\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
