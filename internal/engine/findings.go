package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// findings derives the capture-level findings from a finished report.
func findings(r *result.Report) []result.Finding {
	out := []result.Finding{}
	out = append(out, verdictFindings(r)...)
	out = append(out, correlateFindings(r)...)
	c := &r.Capture
	if c.DecodeErrors > 0 {
		kinds := make([]string, 0, len(c.DecodeErrorKinds))
		for k, n := range c.DecodeErrorKinds {
			kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
		}
		sort.Strings(kinds)
		out = append(out, result.Finding{
			Severity: "warning",
			Kind:     "decode_errors",
			Summary:  fmt.Sprintf("%d of %d packets could not be decoded and were skipped", c.DecodeErrors, c.Packets),
			Evidence: kinds,
		})
	}
	if c.TruncatedUpstream > 0 {
		out = append(out, result.Finding{
			Severity: "warning",
			Kind:     "truncated_upstream",
			Summary: fmt.Sprintf("%d packets arrived shorter than their IP length although the capture kept whole frames: "+
				"they were cut before the capture point", c.TruncatedUpstream),
			Evidence: []string{fmt.Sprintf("%d truncated packets in all, %d of them captured whole", c.TruncatedPackets, c.TruncatedUpstream)},
			Next: []string{
				"check the mirror session's PacketLength (aws ec2 describe-traffic-mirror-sessions)",
				"keep the source MTU 54 bytes (IPv4) or 74 bytes (IPv6) below the target's MTU; AWS truncates larger mirrored packets",
			},
		})
	} else if c.TruncatedPackets > 0 {
		out = append(out, result.Finding{
			Severity: "info",
			Kind:     "snaplen",
			Summary:  fmt.Sprintf("%d packets were cut by the capture's snapshot length; headers are intact, payload is not kept", c.TruncatedPackets),
		})
	}
	if c.Unselected > 0 && c.Unselected == c.IPPackets {
		f := result.Finding{
			Severity: "warning",
			Kind:     "selection_empty",
			Summary:  fmt.Sprintf("no packet is in the selected mirror sessions (--vni/--outer-src): all %d IP packets were left out", c.Unselected),
		}
		if len(c.UnselectedSessions) == 0 {
			f.Evidence = []string{"the capture has no VXLAN/GENEVE mirror sessions: it is not a mirror stream"}
			f.Next = []string{"drop --vni/--outer-src to analyse the capture as it is"}
		} else {
			for _, s := range c.UnselectedSessions {
				f.Evidence = append(f.Evidence, fmt.Sprintf("the capture has VNI %d from %s (%s): %d packets", s.VNI, s.OuterSrc, s.Encap, s.Packets))
			}
			f.Next = []string{fmt.Sprintf("select one of them, e.g. --vni %d", c.UnselectedSessions[0].VNI)}
		}
		out = append(out, f)
	}
	if c.Filtered > 0 && c.Filtered == c.IPPackets {
		out = append(out, result.Finding{
			Severity: "warning",
			Kind:     "filter_rejects_all",
			Summary:  fmt.Sprintf("the mirror filter rejected all %d IP packets: with these rules AWS would mirror nothing of this traffic", c.Filtered),
			Next: []string{
				"run `mirrorscope filter test` with the same rules to see which rule (or no rule) each packet meets",
				"on a capture taken on the source host, give --eni-ip so each packet's direction (ingress/egress) is known",
				"a direction with no rules mirrors nothing in that direction",
			},
		})
	}
	if c.FlowCounts.Evicted > 0 {
		out = append(out, result.Finding{
			Severity: "warning",
			Kind:     "flows_evicted",
			Summary:  fmt.Sprintf("%d flows were ended early because the flow table was full; their counts are split", c.FlowCounts.Evicted),
			Next:     []string{"raise --max-flows"},
		})
	}
	if c.FlowCounts.Undiagnosed > 0 {
		out = append(out, result.Finding{
			Severity: "info",
			Kind:     "flows_undiagnosed",
			Summary: fmt.Sprintf("%d TCP flows have the TCP analysis but no limiter diagnosis: more than --max-diagnosed-flows were open at once",
				c.FlowCounts.Undiagnosed),
			Next: []string{"raise --max-diagnosed-flows (each diagnosed flow keeps about 50 kB while open), or narrow the capture with --vni/--filter"},
		})
	}
	if c.FlowCounts.Unlisted > 0 {
		out = append(out, result.Finding{
			Severity: "info",
			Kind:     "flows_unlisted",
			Summary:  fmt.Sprintf("%d small flows are counted but not listed (--max-report-flows %d)", c.FlowCounts.Unlisted, c.FlowCounts.Listed),
		})
	}
	if c.MaxStepBackUS > 0 {
		out = append(out, result.Finding{
			Severity: "info",
			Kind:     "timestamps_not_monotonic",
			Summary: fmt.Sprintf("%d timestamps step backwards, by up to %.1f µs (capture on several CPUs); durations and rates use the true span",
				c.TimeStepsBack, c.MaxStepBackUS),
		})
	}
	out = append(out, duplicateMirrors(r)...)
	return out
}

// duplicateMirrors finds conversations seen through more than one mirror
// session: both ENIs of a conversation mirrored, so every packet arrives
// twice. Each session keeps its own flow; this finding ties them.
func duplicateMirrors(r *result.Report) []result.Finding {
	type inner struct{ proto, a, b string }
	groups := map[inner][]int{}
	var order []inner
	for i := range r.Flows {
		f := &r.Flows[i]
		if f.Session == nil {
			continue
		}
		a, b := f.Client, f.Server
		if b < a {
			a, b = b, a
		}
		k := inner{f.Proto, a, b}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var out []result.Finding
	for _, k := range order {
		idx := groups[k]
		sessions := map[string]bool{}
		for _, i := range idx {
			s := r.Flows[i].Session
			sessions[fmt.Sprintf("%s/%d", s.OuterSrc, s.VNI)] = true
		}
		if len(sessions) < 2 {
			continue
		}
		names := make([]string, 0, len(sessions))
		for s := range sessions {
			names = append(names, s)
		}
		sort.Strings(names)
		ids := make([]uint64, len(idx))
		var ev []string
		for j, i := range idx {
			f := &r.Flows[i]
			ids[j] = f.ID
			ev = append(ev, fmt.Sprintf("flow %d via %s VNI %d: %d packets", f.ID, f.Session.OuterSrc, f.Session.VNI, f.Packets))
		}
		out = append(out, result.Finding{
			Severity: "info",
			Kind:     "mirrored_twice",
			Flows:    ids,
			Summary: fmt.Sprintf("%s %s <-> %s is mirrored by %d sessions (%s): each packet arrives once per session; flows are kept per session",
				k.proto, k.a, k.b, len(sessions), strings.Join(names, ", ")),
			Evidence: ev,
			Next:     []string{"mirror only one ENI of the conversation, or select one session (--vni) to avoid paying for the copy twice"},
		})
	}
	return out
}
