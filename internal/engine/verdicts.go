package engine

import (
	"fmt"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// verdictFindings turns each flow's diagnosis into a finding, largest flows
// first, so the report leads with what limits the traffic, and adds what to
// check next in AWS terms.
func verdictFindings(r *report.Report) []report.Finding {
	var out []report.Finding
	for i := range r.Flows {
		f := &r.Flows[i]
		d, ok := f.Diagnosis.(*diagnose.Diagnosis)
		if !ok || d == nil {
			continue
		}
		sev, next := verdictAdvice(d)
		if sev == "" {
			continue
		}
		out = append(out, report.Finding{
			Severity: sev,
			Kind:     "verdict_" + d.Verdict,
			Flows:    []uint64{f.ID},
			Summary:  fmt.Sprintf("flow #%d %s -> %s: %s", f.ID, f.Client, f.Server, d.Summary),
			Evidence: d.Evidence,
			Next:     next,
		})
	}
	return out
}

const fiveGbps = 5e9

func verdictAdvice(d *diagnose.Diagnosis) (string, []string) {
	ena := "on both instances, read the ENA counters (ethtool -S eth0): bw_in_allowance_exceeded, bw_out_allowance_exceeded, pps_allowance_exceeded; a rising count means the instance's allowance shaped or dropped the traffic"
	var next []string
	sev := "warning"
	switch d.Verdict {
	case "policer":
		next = []string{
			ena,
			"compare the rate with the instance type's baseline bandwidth (\"up to\" types burst on credits, then fall back to the baseline)",
			"look for a policer on the path (NAT, firewall or appliance rate limits) if the ENA counters stay flat",
		}
	case "shaper":
		next = []string{
			ena,
			"a flat rate with queueing delay is a shaper or a saturated link: compare the rate with the instance's baseline bandwidth and the path's narrowest link",
		}
	case "receiver_window":
		next = []string{"raise the receiver's buffer (net.ipv4.tcp_rmem, net.core.rmem_max) or the application's SO_RCVBUF; window scaling must be on"}
		sev = "info"
	case "application":
		next = []string{"the sender had nothing to send: look at the application (request pacing, disk, CPU), not the network"}
		sev = "info"
	case "random_loss":
		next = []string{
			"loss without a rate limit or queueing: check the path for errors (interface errors, a faulty link or middlebox)",
			"if the capture is a mirror, rule out mirror loss first: NetworkSkipMirrorIn/Out on the source instance (CloudWatch AWS/EC2)",
		}
	case "reordering":
		next = []string{"packets overtake each other on the path (multipath, ECMP or load balancer); mirror targets behind an NLB or GWLB may also see reordering that the hosts do not"}
		sev = "info"
	case "congestion":
		next = []string{"loss follows rising RTT: a queue fills on the path (a shared bottleneck); check other traffic on the same instances and links"}
		sev = "info"
	default:
		return "", nil
	}
	if d.RateBps >= 0.9*fiveGbps && d.RateBps <= 1.05*fiveGbps {
		next = append(next, "the rate is near 5 Gbit/s, AWS's limit for a single flow outside a cluster placement group: use several flows")
	}
	return sev, next
}

// mirrorLossFindings: data the receiver acknowledged but the capture never
// saw did reach the receiver, so it was lost between the source and the
// capture (mirror loss or capture drops), not in the network.
func mirrorLossFindings(r *report.Report) []report.Finding {
	var out []report.Finding
	for i := range r.Flows {
		f := &r.Flows[i]
		st, ok := f.TCP.(*tcpseq.Stats)
		if !ok || st == nil {
			continue
		}
		n := st.Flags["ack_lost_segment"]
		if n == 0 {
			continue
		}
		where := "the capture"
		next := []string{"check the capture host for kernel drops (tcpdump's \"dropped by kernel\")"}
		if f.Session != nil {
			where = "the mirror session"
			next = []string{
				"NetworkSkipMirrorIn/Out and NetworkPacketsSkipMirrorIn/Out of the source instance (CloudWatch AWS/EC2): AWS drops mirrored copies first when the source is congested",
				"the target's ENA counters bw_in_allowance_exceeded and pps_allowance_exceeded, and its socket drops (mirrorscope listen reports them)",
			}
		}
		out = append(out, report.Finding{
			Severity: "warning",
			Kind:     "capture_loss",
			Flows:    []uint64{f.ID},
			Summary: fmt.Sprintf("flow #%d: %d times the receiver acknowledged data that never reached %s: those packets were lost before the capture point, not in the network",
				f.ID, n, where),
			Evidence: []string{fmt.Sprintf("%d ACKs of unseen segments (Wireshark: tcp.analysis.ack_lost_segment)", n)},
			Next:     next,
		})
	}
	return out
}
