package diagnose

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
)

// FlowRef is one finished flow as Correlate sees it.
type FlowRef struct {
	// ID is the flow's id in the report (SharedLimiter.Flows).
	ID     uint64
	Client string // ip:port of the connection's initiator
	Server string // ip:port of the other end
	// Session identifies the mirror session (zero for plain captures).
	OuterSrc  string
	VNI       uint32
	HasVNI    bool
	Diagnosis *Diagnosis
	StartNS   int64
	EndNS     int64
	Bytes     uint64
}

// Finding is a cross-flow conclusion.
type Finding struct {
	Severity string   `json:"severity"` // info | warning | critical
	Kind     string   `json:"kind"`
	Flows    []int    `json:"flows,omitempty"` // indices into the flows slice
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
	Next     []string `json:"next_steps,omitempty"`
}

// Finding kinds.
const (
	KindSharedCeiling   = "shared_ceiling"
	KindSingleFlowLimit = "single_flow_limit"
	KindSetupDelay      = "setup_delay"
	KindSlowSetup       = "slow_setup"
	KindCaptureLoss     = "capture_loss"
)

// singleFlowLimitBps is EC2's per-flow limit outside a cluster placement
// group (5 Gbit/s).
const singleFlowLimitBps = 5e9

func hostOf(ap string) string {
	if a, err := netip.ParseAddrPort(ap); err == nil {
		return a.Addr().String()
	}
	if i := strings.LastIndexByte(ap, ':'); i > 0 {
		return ap[:i]
	}
	return ap
}

func limited(d *Diagnosis) bool {
	return d != nil && (d.Verdict == VerdictPolicer || d.Verdict == VerdictShaper || d.Verdict == VerdictCongestion) && d.RateBps > 0
}

func overlaps(a, b *FlowRef) bool { return a.StartNS < b.EndNS && b.StartNS < a.EndNS }

// Correlate returns cross-flow findings: ceilings shared by several flows
// of one endpoint pair or mirror session (with the summed rate), flows at
// the EC2 single-flow limit, session-setup delay per endpoint pair with
// outliers, and flows that lost data in the capture or mirror.
func Correlate(flows []FlowRef) []Finding {
	var out []Finding
	for _, sl := range SharedLimiters(flows) {
		var idx []int
		var ev []string
		for i := range flows {
			if d := flows[i].Diagnosis; d != nil && d.SharedLimiter == sl {
				idx = append(idx, i)
				ev = append(ev, fmt.Sprintf("flow #%d %s -> %s", flows[i].ID, flows[i].Client, flows[i].Server))
			}
		}
		d := flows[idx[0]].Diagnosis
		out = append(out, Finding{
			Severity: "warning", Kind: KindSharedCeiling, Flows: idx,
			Summary:  fmt.Sprintf("%d concurrent flows share one %s: %s", len(idx), sl.Verdict, d.Summary),
			Evidence: append(ev, sl.Evidence...),
			Next: []string{
				"on the instances involved, read the ENA counters (ethtool -S): bw_in_allowance_exceeded / bw_out_allowance_exceeded (aggregate bandwidth over the instance maximum), pps_allowance_exceeded",
				"compare the summed rate with the instance type's baseline bandwidth, and with any rate limit on the path (NAT gateway, Transit Gateway, an appliance or on-premises device)",
			},
		})
	}
	out = append(out, sharedCeilings(flows)...)
	for i := range flows {
		d := flows[i].Diagnosis
		if d == nil {
			continue
		}
		if d.RateBps >= 0.9*singleFlowLimitBps && d.RateBps <= 1.1*singleFlowLimitBps {
			out = append(out, Finding{
				Severity: "warning", Kind: KindSingleFlowLimit, Flows: []int{i},
				Summary:  fmt.Sprintf("%s -> %s runs at %s, the EC2 single-flow limit (5 Gbit/s outside a cluster placement group)", flows[i].Client, flows[i].Server, mbps(d.RateBps)),
				Evidence: []string{d.Summary},
				Next: []string{
					"spread the transfer over several connections (each 5-tuple is limited separately)",
					"inside a cluster placement group the per-flow limit is 10 Gbit/s, 25 Gbit/s with ENA Express",
				},
			})
		}
		gaps := d.Measurements.ClientToServer.CaptureGaps + d.Measurements.ServerToClient.CaptureGaps
		if gaps > 0 {
			f := Finding{
				Severity: "warning", Kind: KindCaptureLoss, Flows: []int{i},
				Summary:  fmt.Sprintf("%s -> %s: %d segments acknowledged by the receiver were never captured", flows[i].Client, flows[i].Server, gaps),
				Evidence: []string{"the receiver's ACKs cover sequence ranges that never reached this capture point, and no retransmission followed, so the network delivered them"},
				Next:     []string{"check the capture host for kernel drops (tcpdump 'dropped by kernel', ring size)"},
			}
			if flows[i].HasVNI {
				f.Next = append(f.Next,
					fmt.Sprintf("mirror session VNI %d from %s: check CloudWatch NetworkSkipMirrorIn/NetworkSkipMirrorOut (and NetworkPacketsSkipMirror*) on the source instance: production traffic has priority and mirrored packets are dropped under congestion", flows[i].VNI, flows[i].OuterSrc),
					"mirrored traffic counts toward the source instance's bandwidth: compare NetworkMirrorIn/Out with its allowance")
			}
			out = append(out, f)
		}
	}
	out = append(out, setupDelays(flows)...)
	return out
}

func sharedCeilings(flows []FlowRef) []Finding {
	type group struct {
		key   string
		what  string
		idx   []int
		convs map[string]bool
	}
	pairs := map[string]*group{}
	sessions := map[string]*group{}
	var order []*group
	for i := range flows {
		fr := &flows[i]
		if !limited(fr.Diagnosis) || fr.Diagnosis.SharedLimiter != nil {
			continue
		}
		// one limiter per direction: the data of a bidirectional pair
		// goes through two
		a, b := hostOf(fr.Client), hostOf(fr.Server)
		if fr.Diagnosis.Direction == "server_to_client" {
			a, b = b, a
		}
		k := a + " -> " + b
		if pairs[k] == nil {
			pairs[k] = &group{key: k, what: "from " + k, convs: map[string]bool{}}
			order = append(order, pairs[k])
		}
		// The same conversation seen through two mirror sessions (both
		// ENIs mirrored) is one flow on the wire, not two sharing a
		// ceiling: count it once.
		if conv := fr.Client + " " + fr.Server; !pairs[k].convs[conv] {
			pairs[k].convs[conv] = true
			pairs[k].idx = append(pairs[k].idx, i)
		}
		if fr.HasVNI {
			sk := fmt.Sprintf("%s/%d %s", fr.OuterSrc, fr.VNI, k)
			if sessions[sk] == nil {
				sessions[sk] = &group{key: sk, what: fmt.Sprintf("in mirror session VNI %d from %s", fr.VNI, fr.OuterSrc)}
				order = append(order, sessions[sk])
			}
			sessions[sk].idx = append(sessions[sk].idx, i)
		}
	}
	var out []Finding
	reported := map[string]bool{}
	for _, g := range order {
		// concurrent flows only: a ceiling is shared when the flows ran at
		// the same time.
		idx := concurrent(flows, g.idx)
		if len(idx) < 2 {
			continue
		}
		sig := fmt.Sprint(idx)
		if reported[sig] {
			continue // the session group holds exactly the pair's flows
		}
		reported[sig] = true
		var sum float64
		kinds := map[string]int{}
		var ev []string
		for _, i := range idx {
			d := flows[i].Diagnosis
			sum += d.RateBps
			kinds[d.Verdict]++
			ev = append(ev, fmt.Sprintf("%s -> %s: %s", flows[i].Client, flows[i].Server, d.Summary))
		}
		// the most common limiter names the ceiling (ties: policer, then
		// shaper, then congestion)
		kind := VerdictPolicer
		for _, k := range []string{VerdictShaper, VerdictCongestion} {
			if kinds[k] > kinds[kind] {
				kind = k
			}
		}
		var caps []float64
		for _, i := range idx {
			if c := flows[i].Diagnosis.BottleneckBps; c > 0 {
				caps = append(caps, c)
			}
		}
		if len(caps) > 0 {
			sort.Float64s(caps)
			ev = append(ev, fmt.Sprintf("packet dispersion of the congested flows puts the shared bottleneck at ~%s (median of %d flows)", mbps(quantileSorted(caps, 0.5)), len(caps)))
		}
		rates := make([]float64, 0, len(idx))
		for _, i := range idx {
			rates = append(rates, flows[i].Diagnosis.RateBps)
		}
		m, sd := meanStd(rates)
		ev = append(ev, fmt.Sprintf("per-flow rates: mean %s, CV %.2f; summed %s", mbps(m), sd/math.Max(m, 1), mbps(sum)))
		out = append(out, Finding{
			Severity: "warning", Kind: KindSharedCeiling, Flows: idx,
			Summary:  fmt.Sprintf("%d concurrent flows %s are %s-limited together: one ceiling of about %s summed", len(idx), g.what, kind, mbps(sum)),
			Evidence: ev,
			Next: []string{
				"on the instances involved, read the ENA counters (ethtool -S): bw_in_allowance_exceeded / bw_out_allowance_exceeded (aggregate bandwidth over the instance maximum), pps_allowance_exceeded",
				"compare the summed rate with the instance type's baseline bandwidth: instances with 16 vCPUs or fewer burst on network I/O credits and fall back to baseline",
				"if the counters stay flat, look for a policer or shaper on the path (NAT gateway PacketsDropCount, Transit Gateway PacketDropCount*, an on-premises device)",
			},
		})
	}
	return out
}

// concurrent keeps the flows of idx that overlap in time with at least
// one other flow of idx.
func concurrent(flows []FlowRef, idx []int) []int {
	var out []int
	for _, i := range idx {
		for _, j := range idx {
			if i != j && overlaps(&flows[i], &flows[j]) {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

func setupDelays(flows []FlowRef) []Finding {
	type pair struct {
		key string
		idx []int
		ms  []float64
	}
	groups := map[string]*pair{}
	var order []*pair
	var all []float64
	for i := range flows {
		d := flows[i].Diagnosis
		if d == nil || d.Measurements.SetupMS <= 0 {
			continue
		}
		k := hostOf(flows[i].Client) + " -> " + flows[i].Server
		if groups[k] == nil {
			groups[k] = &pair{key: k}
			order = append(order, groups[k])
		}
		g := groups[k]
		g.idx = append(g.idx, i)
		g.ms = append(g.ms, d.Measurements.SetupMS)
		all = append(all, d.Measurements.SetupMS)
	}
	if len(all) == 0 {
		return nil
	}
	sort.Float64s(all)
	globalMed := quantileSorted(all, 0.5)
	var out []Finding
	for _, g := range order {
		s := append([]float64(nil), g.ms...)
		sort.Float64s(s)
		med, p90 := quantileSorted(s, 0.5), quantileSorted(s, 0.9)
		out = append(out, Finding{
			Severity: "info", Kind: KindSetupDelay, Flows: g.idx,
			Summary:  fmt.Sprintf("%s: session setup (SYN to first response byte) median %.1f ms, p90 %.1f ms over %d connections", g.key, med, p90, len(g.idx)),
			Evidence: []string{fmt.Sprintf("setup times ms: min %.1f, median %.1f, max %.1f", s[0], med, s[len(s)-1])},
		})
		// outliers: 3x the median of all pairs and at least 100 ms more
		var slow []int
		var ev []string
		for k, i := range g.idx {
			if v := g.ms[k]; v > 3*globalMed && v > globalMed+100 {
				slow = append(slow, i)
				ev = append(ev, fmt.Sprintf("flow %d %s -> %s: setup %.1f ms (median of all connections %.1f ms)", i, flows[i].Client, flows[i].Server, v, globalMed))
			}
		}
		if len(slow) > 0 {
			out = append(out, Finding{
				Severity: "warning", Kind: KindSlowSetup, Flows: slow,
				Summary:  fmt.Sprintf("%s: %d of %d connections took much longer to set up than usual", g.key, len(slow), len(g.idx)),
				Evidence: ev,
				Next: []string{
					"a setup near 1 s or 3 s means a lost SYN: check ENA conntrack_allowance_exceeded (and conntrack_allowance_available) on both instances",
					"check the server's accept queue and application start-up time (the first response byte waits for the application)",
					"check security-group connection tracking limits for untracked vs tracked flows",
				},
			})
		}
	}
	return out
}
