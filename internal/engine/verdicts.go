package engine

import (
	"fmt"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// verdictFindings turns each flow's diagnosis into a finding, largest flows
// first, so the report leads with what limits the traffic, and adds what to
// check next in AWS terms.
func verdictFindings(r *result.Report) []result.Finding {
	var out []result.Finding
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
		out = append(out, result.Finding{
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
		next = []string{"loss follows rising RTT: a queue fills at a bottleneck shared with other traffic; see the shared-ceiling finding for the flows involved and their summed rate, and check other traffic on the same instances and links"}
		if d.BottleneckBps > 0 {
			next = append(next, fmt.Sprintf("the bottleneck's capacity, from packet spacing, is about %.1f Mbit/s; compare it with the instance's baseline bandwidth and the path's narrowest link", d.BottleneckBps/1e6))
		}
		sev = "info"
	default:
		return "", nil
	}
	return sev, next
}

// correlateFindings asks the diagnosis for cross-flow findings: ceilings
// shared by several flows (a shared policer or instance allowance), flows at
// the single-flow limit, slow session setup, capture or mirror loss.
func correlateFindings(r *result.Report) []result.Finding {
	refs := make([]diagnose.FlowRef, 0, len(r.Flows))
	ids := make([]uint64, 0, len(r.Flows))
	for i := range r.Flows {
		f := &r.Flows[i]
		d, ok := f.Diagnosis.(*diagnose.Diagnosis)
		if !ok || d == nil {
			continue
		}
		ref := diagnose.FlowRef{ID: f.ID, Client: f.Client, Server: f.Server, Diagnosis: d, StartNS: f.StartNS, EndNS: f.EndNS, Bytes: f.Bytes}
		if f.Session != nil {
			ref.OuterSrc, ref.VNI, ref.HasVNI = f.Session.OuterSrc, f.Session.VNI, true
		}
		refs = append(refs, ref)
		ids = append(ids, f.ID)
	}
	var out []result.Finding
	for _, cf := range diagnose.Correlate(refs) {
		rf := result.Finding{Severity: cf.Severity, Kind: cf.Kind, Summary: cf.Summary, Evidence: cf.Evidence, Next: cf.Next}
		for _, i := range cf.Flows {
			if i >= 0 && i < len(ids) {
				rf.Flows = append(rf.Flows, ids[i])
			}
		}
		out = append(out, rf)
	}
	return out
}
