package aws

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Check statuses.
const (
	StatusOK   = "ok"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// Check is one doctor finding: what was checked on which resource, the
// evidence, and the fix when it is not ok.
type Check struct {
	Name     string `json:"check"`
	Status   string `json:"status"`
	Resource string `json:"resource"`
	Evidence string `json:"evidence"`
	Fix      string `json:"fix,omitempty"`
}

// DoctorInput says what to check. Sources are ENI or instance ids; the
// target is a tmt-... id or, when TargetID is empty, the mirror target of
// TargetENI (this instance's, from IMDS).
type DoctorInput struct {
	Sources             []string
	TargetID, TargetENI string
	Now                 time.Time
	// TargetMTU is the target interface's MTU (0 = not known: the MTU
	// check is skipped); SourceMTU the sources' (0 = 9001, the VPC's
	// jumbo default).
	TargetMTU, SourceMTU int
	// GENEVE says the target is a Gateway Load Balancer appliance: UDP
	// 6081 from the GWLB's network interfaces is checked too.
	GENEVE bool
}

// vxlanOverhead is what VXLAN encapsulation adds to a mirrored packet:
// outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) + 4 bytes
// the AWS documentation counts: 54.
const vxlanOverhead = 54

// Instance families where mirroring is not available (aws-mirroring.md
// section 4; the list grows over time) and the only Xen families where
// it is.
var (
	noMirrorFamilies  = []string{"m6i", "c6i", "r6i", "m7g", "m7i", "c7g", "i4i", "t2"}
	xenMirrorFamilies = []string{"c4", "d2", "g3", "g3s", "h1", "i3", "m4", "p2", "p3", "r4", "x1", "x1e"}
)

type source struct {
	eni, instance, typ, ip string
	groups                 []string
}

// Doctor runs every check. An error means the checks could not run (an
// API call failed); failed checks are in the result.
func Doctor(ctx context.Context, c *Client, in DoctorInput) ([]Check, error) {
	var checks []Check
	var srcs []source
	for _, s := range in.Sources {
		src := source{}
		if strings.HasPrefix(s, "i-") {
			ins, err := c.DescribeInstances(ctx, s)
			if err != nil {
				return nil, err
			}
			if len(ins) != 1 || len(ins[0].Interfaces) == 0 {
				return nil, fmt.Errorf("%s: no such instance", s)
			}
			ni := ins[0].Interfaces[0]
			src = source{eni: ni.ID, instance: s, typ: ins[0].Type, ip: ni.PrivateIP, groups: ni.Groups}
		} else {
			nis, err := c.DescribeNetworkInterfaces(ctx, s)
			if err != nil {
				return nil, err
			}
			if len(nis) != 1 {
				return nil, fmt.Errorf("%s: no such network interface", s)
			}
			src = source{eni: s, instance: nis[0].InstanceID, ip: nis[0].PrivateIP, groups: nis[0].Groups}
			if src.instance != "" {
				ins, err := c.DescribeInstances(ctx, src.instance)
				if err != nil {
					return nil, err
				}
				if len(ins) == 1 {
					src.typ = ins[0].Type
				}
			}
		}
		srcs = append(srcs, src)
	}
	ck, err := checkTypes(ctx, c, srcs)
	if err != nil {
		return nil, err
	}
	checks = append(checks, ck...)

	// The target.
	var target *MirrorTarget
	var tfs []Filter
	switch {
	case in.TargetID != "":
		tfs = []Filter{{"traffic-mirror-target-id", []string{in.TargetID}}}
	case in.TargetENI != "":
		tfs = []Filter{{"network-interface-id", []string{in.TargetENI}}}
	}
	if tfs != nil {
		ts, err := c.DescribeTargets(ctx, tfs...)
		if err != nil {
			return nil, err
		}
		if len(ts) > 0 {
			target = &ts[0]
		}
	}
	targetENI := in.TargetENI
	if target != nil && target.NetworkInterfaceID != "" {
		targetENI = target.NetworkInterfaceID
	}
	if targetENI != "" && len(srcs) > 0 {
		ck, err := checkTargetPath(ctx, c, targetENI, srcs, 4789, "VXLAN")
		if err != nil {
			return nil, err
		}
		checks = append(checks, ck...)
	}
	if in.GENEVE && targetENI != "" {
		// This instance is a Gateway Load Balancer appliance: GENEVE
		// arrives from the GWLB's own ENIs in the VPC.
		gw, err := c.DescribeNetworkInterfacesWhere(ctx, Filter{"interface-type", []string{"gateway_load_balancer"}})
		if err != nil {
			return nil, err
		}
		var gs []source
		for _, ni := range gw {
			gs = append(gs, source{eni: ni.ID, ip: ni.PrivateIP, groups: ni.Groups})
		}
		if len(gs) == 0 {
			checks = append(checks, Check{Name: "target_security_group", Status: StatusWarn, Resource: targetENI,
				Evidence: "--geneve: no Gateway Load Balancer network interface is visible in this account and region",
				Fix:      "check the region, or that the GWLB and this appliance are in the same account"})
		} else {
			ck, err := checkTargetPath(ctx, c, targetENI, gs, 6081, "GENEVE")
			if err != nil {
				return nil, err
			}
			checks = append(checks, ck...)
		}
	}
	if target != nil {
		ck, err := checkTargetSources(ctx, c, target, in)
		if err != nil {
			return nil, err
		}
		checks = append(checks, ck...)
		if target.NetworkLoadBalancer != "" {
			ck, err := checkNLB(ctx, c, target.NetworkLoadBalancer)
			if err != nil {
				return nil, err
			}
			checks = append(checks, ck...)
		}
	}
	ck, err = checkSessions(ctx, c, srcs)
	if err != nil {
		return nil, err
	}
	checks = append(checks, ck...)

	var instances []string
	for _, s := range srcs {
		if s.instance != "" && !slices.Contains(instances, s.instance) {
			instances = append(instances, s.instance)
		}
	}
	if len(instances) > 0 {
		ck, err := checkSkip(ctx, c, instances, in.Now)
		if err != nil {
			return nil, err
		}
		checks = append(checks, ck...)
	}
	return checks, nil
}

func family(typ string) string {
	f, _, _ := strings.Cut(typ, ".")
	return f
}

func checkTypes(ctx context.Context, c *Client, srcs []source) ([]Check, error) {
	var types []string
	for _, s := range srcs {
		if s.typ != "" && !slices.Contains(types, s.typ) {
			types = append(types, s.typ)
		}
	}
	if len(types) == 0 {
		return nil, nil
	}
	its, err := c.DescribeInstanceTypes(ctx, types...)
	if err != nil {
		return nil, err
	}
	info := map[string]InstanceType{}
	for _, it := range its {
		info[it.Type] = it
	}
	var out []Check
	for _, s := range srcs {
		if s.typ == "" {
			continue
		}
		it := info[s.typ]
		ck := Check{Name: "source_instance_type", Status: StatusOK, Resource: s.instance,
			Evidence: fmt.Sprintf("%s (%s hypervisor) supports traffic mirroring as a source", s.typ, it.Hypervisor)}
		fam := family(s.typ)
		switch {
		case it.BareMetal || strings.HasSuffix(s.typ, ".metal"):
			ck.Status, ck.Evidence = StatusFail, s.typ+" is bare metal: traffic mirroring is not available on bare metal"
		case slices.Contains(noMirrorFamilies, fam):
			ck.Status, ck.Evidence = StatusFail, fmt.Sprintf("%s: the %s family does not support traffic mirroring as a source", s.typ, fam)
		case it.Hypervisor == "xen" && !slices.Contains(xenMirrorFamilies, fam):
			ck.Status, ck.Evidence = StatusFail, fmt.Sprintf("%s is a Xen type; the only non-Nitro types that support mirroring are %s", s.typ, strings.Join(xenMirrorFamilies, ", "))
		}
		if ck.Status == StatusFail {
			ck.Fix = "capture on the instance itself (mirrorscope listen --iface) or move the workload to a supported type (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-limits.html)"
		}
		out = append(out, ck)
	}
	return out, nil
}

func protoMatches(p string, port int, from, to int) bool {
	switch strings.ToLower(p) {
	case "-1", "all":
		return true
	case "udp", "17":
		return from <= port && port <= to
	}
	return false
}

func cidrHas(cidr, ip string) bool {
	p, err := netip.ParsePrefix(cidr)
	a, err2 := netip.ParseAddr(ip)
	return err == nil && err2 == nil && p.Contains(a)
}

// checkTargetPath: the target ENI's security groups and subnet ACL must
// let the mirror stream in from every source: VXLAN (UDP 4789) from the
// source ENIs, or GENEVE (UDP 6081) from a Gateway Load Balancer's ENIs.
func checkTargetPath(ctx context.Context, c *Client, targetENI string, srcs []source, port int, proto string) ([]Check, error) {
	nis, err := c.DescribeNetworkInterfaces(ctx, targetENI)
	if err != nil {
		return nil, err
	}
	if len(nis) != 1 {
		return nil, fmt.Errorf("target %s: no such network interface", targetENI)
	}
	ni := nis[0]
	var out []Check
	if len(ni.Groups) > 0 {
		sgs, err := c.DescribeSecurityGroups(ctx, ni.Groups...)
		if err != nil {
			return nil, err
		}
		for _, s := range srcs {
			var by string
			for _, g := range sgs {
				for _, p := range g.Inbound {
					if !protoMatches(p.Protocol, port, p.FromPort, p.ToPort) {
						continue
					}
					for _, cidr := range p.CIDRs {
						if by == "" && cidrHas(cidr, s.ip) {
							by = g.ID + " allows " + cidr
						}
					}
					for _, sg := range p.Groups {
						if by == "" && slices.Contains(s.groups, sg) {
							by = g.ID + " allows group " + sg
						}
					}
				}
			}
			ck := Check{Name: "target_security_group", Status: StatusOK, Resource: targetENI,
				Evidence: fmt.Sprintf("UDP %d (%s) from %s (%s): %s", port, proto, s.eni, s.ip, by)}
			if by == "" {
				ck.Status = StatusFail
				ck.Evidence = fmt.Sprintf("no inbound rule of %s allows UDP %d (%s) from %s (%s): its mirrored packets are dropped at the target", strings.Join(ni.Groups, ", "), port, proto, s.eni, s.ip)
				ck.Fix = fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id %s --protocol udp --port %d --cidr %s/32", ni.Groups[0], port, s.ip)
			}
			out = append(out, ck)
		}
	}
	acls, err := c.DescribeSubnetACLs(ctx, ni.SubnetID)
	if err != nil {
		return nil, err
	}
	for _, acl := range acls {
		var in []ACLEntry
		for _, e := range acl.Entries {
			if !e.Egress {
				in = append(in, e)
			}
		}
		sort.Slice(in, func(i, j int) bool { return in[i].Number < in[j].Number })
		for _, s := range srcs {
			ck := Check{Name: "target_network_acl", Status: StatusFail, Resource: acl.ID,
				Evidence: fmt.Sprintf("no inbound entry matches UDP %d from %s (%s): denied by default", port, s.eni, s.ip)}
			for _, e := range in {
				from, to := 0, 65535
				if e.From != nil && e.To != nil {
					from, to = *e.From, *e.To
				}
				if !protoMatches(e.Protocol, port, from, to) || !cidrHas(e.CIDR, s.ip) {
					continue
				}
				ck.Evidence = fmt.Sprintf("inbound rule %d (%s %s) decides UDP %d from %s (%s)", e.Number, e.Action, e.CIDR, port, s.eni, s.ip)
				if e.Action == "allow" {
					ck.Status = StatusOK
				}
				break
			}
			if ck.Status == StatusFail {
				ck.Fix = fmt.Sprintf("add an inbound allow entry for UDP %d from %s/32 below the denying rule of %s", port, s.ip, acl.ID)
			}
			out = append(out, ck)
		}
	}
	return out, nil
}

func checkTargetSources(ctx context.Context, c *Client, t *MirrorTarget, in DoctorInput) ([]Check, error) {
	if t.Type != "" && t.Type != "network-interface" {
		return []Check{{Name: "target_sources_quota", Status: StatusOK, Resource: t.ID, Evidence: t.Type + " targets have no sources quota"}}, nil
	}
	ss, err := c.DescribeSessions(ctx, Filter{"traffic-mirror-target-id", []string{t.ID}})
	if err != nil {
		return nil, err
	}
	srcs := map[string]bool{}
	for _, s := range ss {
		srcs[s.NetworkInterfaceID] = true
	}
	ck := Check{Name: "target_sources_quota", Status: StatusOK, Resource: t.ID,
		Evidence: fmt.Sprintf("%d source ENI(s) of at most %d (100 on the largest instance sizes)", len(srcs), SourcesPerENITarget)}
	if len(srcs) >= SourcesPerENITarget {
		ck.Status = StatusWarn
		ck.Fix = "no further source fits unless the target is one of the largest sizes; use an NLB or GWLB endpoint target for more"
	}
	out := []Check{ck}
	if in.TargetMTU > 0 {
		smtu := in.SourceMTU
		if smtu == 0 {
			smtu = 9001
		}
		fit := in.TargetMTU - vxlanOverhead
		var long []string
		for _, s := range ss {
			if s.PacketLength == 0 && smtu > fit || s.PacketLength > fit {
				long = append(long, s.ID)
			}
		}
		mk := Check{Name: "target_mtu", Status: StatusOK, Resource: t.ID,
			Evidence: fmt.Sprintf("target MTU %d holds mirrored packets of up to %d bytes; every session's packets fit (source MTU %d or PacketLength)", in.TargetMTU, fit, smtu)}
		if len(long) > 0 {
			mk.Status = StatusFail
			mk.Evidence = fmt.Sprintf("target MTU %d < source MTU %d + %d bytes of encapsulation: packets longer than %d bytes from %s are truncated",
				in.TargetMTU, smtu, vxlanOverhead, fit, strings.Join(long, ", "))
			mk.Fix = fmt.Sprintf("raise the target's MTU to %d, or set the sessions' PacketLength to at most %d (mirrorscope needs only the headers: 128)", smtu+vxlanOverhead, fit)
		}
		out = append(out, mk)
	}
	return out, nil
}

// checkNLB: an NLB target's target groups must keep both directions of
// a connection on one target (source_ip stickiness) and health-check
// mirrorscope's /healthz.
func checkNLB(ctx context.Context, c *Client, lb string) ([]Check, error) {
	tgs, err := c.DescribeTargetGroups(ctx, lb)
	if err != nil {
		return nil, err
	}
	var out []Check
	for _, tg := range tgs {
		attrs, err := c.TargetGroupAttributes(ctx, tg.ARN)
		if err != nil {
			return nil, err
		}
		st := Check{Name: "nlb_stickiness", Status: StatusOK, Resource: tg.ARN, Evidence: "stickiness source_ip: both directions of a connection reach one target"}
		if attrs["stickiness.enabled"] != "true" || attrs["stickiness.type"] != "source_ip" {
			st.Status = StatusFail
			st.Evidence = fmt.Sprintf("stickiness.enabled=%q stickiness.type=%q: the two directions of a connection arrive from different outer source ports and can be split across targets, so no target sees a whole TCP conversation",
				attrs["stickiness.enabled"], attrs["stickiness.type"])
			st.Fix = "aws elbv2 modify-target-group-attributes --target-group-arn " + tg.ARN + " --attributes Key=stickiness.enabled,Value=true Key=stickiness.type,Value=source_ip"
		}
		out = append(out, st)
		hc := Check{Name: "nlb_health_check", Status: StatusOK, Resource: tg.ARN}
		hc.Evidence = fmt.Sprintf("health check %s port %s path %q", tg.HealthCheckProtocol, tg.HealthCheckPort, tg.HealthCheckPath)
		fix := "aws elbv2 modify-target-group --target-group-arn " + tg.ARN + " --health-check-protocol HTTP --health-check-port 9180 --health-check-path /healthz (and run listen with --http 0.0.0.0:9180)"
		switch {
		case tg.HealthCheckPort == "traffic-port" || tg.HealthCheckPort == strconv.Itoa(tg.Port):
			hc.Status, hc.Fix = StatusFail, fix
			hc.Evidence += fmt.Sprintf(": it probes the traffic port %d over %s, where mirrorscope receives UDP and serves nothing", tg.Port, tg.HealthCheckProtocol)
		case (tg.HealthCheckProtocol == "HTTP" || tg.HealthCheckProtocol == "HTTPS") && tg.HealthCheckPath != "/healthz":
			hc.Status, hc.Fix = StatusFail, fix
			hc.Evidence += ": mirrorscope answers health checks at /healthz"
		}
		th, err := c.DescribeTargetHealth(ctx, tg.ARN)
		if err != nil {
			return nil, err
		}
		for _, h := range th {
			if h.State != "healthy" {
				hc.Status = StatusFail
				hc.Evidence += fmt.Sprintf("; target %s is %s (%s)", h.ID, h.State, h.Reason)
				if hc.Fix == "" {
					hc.Fix = "check that mirrorscope listen runs there with --http 0.0.0.0:9180 and that the security group allows the health checks"
				}
			}
		}
		out = append(out, hc)
	}
	return out, nil
}

// accepts reports which directions a filter accepts anything in, and
// whether it accepts all traffic in both.
func accepts(f *MirrorFilter) (in, eg, all bool) {
	allOf := func(rs []FilterRule) (any, every bool) {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Number < rs[j].Number })
		for _, r := range rs {
			if r.Action == "accept" {
				any = true
				if r.Protocol == 0 && r.SrcPorts == nil && r.DstPorts == nil && r.SrcCIDR == "0.0.0.0/0" && r.DstCIDR == "0.0.0.0/0" {
					return true, !every
				}
			} else {
				every = true // a reject before: not everything
			}
		}
		return any, false
	}
	in, ai := allOf(f.Ingress)
	eg, ae := allOf(f.Egress)
	return in, eg, ai && ae
}

func checkSessions(ctx context.Context, c *Client, srcs []source) ([]Check, error) {
	var out []Check
	filters := map[string]*MirrorFilter{}
	for _, s := range srcs {
		ss, err := c.DescribeSessions(ctx, Filter{"network-interface-id", []string{s.eni}})
		if err != nil {
			return nil, err
		}
		ck := Check{Name: "source_session_quota", Status: StatusOK, Resource: s.eni,
			Evidence: fmt.Sprintf("%d of %d mirror sessions used", len(ss), SessionsPerENI)}
		if len(ss) >= SessionsPerENI {
			ck.Status = StatusWarn
			ck.Fix = "the ENI has no free session: 'aws capture' would fail; delete an unused session"
		}
		out = append(out, ck)
		sort.Slice(ss, func(i, j int) bool { return ss[i].SessionNumber < ss[j].SessionNumber })
		for _, se := range ss {
			if _, ok := filters[se.FilterID]; ok {
				continue
			}
			fs, err := c.DescribeFilters(ctx, Filter{"traffic-mirror-filter-id", []string{se.FilterID}})
			if err != nil {
				return nil, err
			}
			if len(fs) == 1 {
				filters[se.FilterID] = &fs[0]
			} else {
				filters[se.FilterID] = nil
			}
		}
		for i, se := range ss {
			for _, lower := range ss[:i] {
				lf := filters[lower.FilterID]
				if lf == nil {
					continue
				}
				if _, _, all := accepts(lf); all {
					out = append(out, Check{Name: "session_shadowed", Status: StatusFail, Resource: se.ID,
						Evidence: fmt.Sprintf("on %s, session %s (number %d) accepts all traffic in both directions with filter %s, so session %s (number %d) never gets a packet: a packet goes to the lowest-numbered session whose filter accepts it",
							s.eni, lower.ID, lower.SessionNumber, lf.ID, se.ID, se.SessionNumber),
						Fix: fmt.Sprintf("narrow the filter of %s, or delete one of the two sessions", lower.ID)})
					break
				}
			}
		}
	}
	ids := make([]string, 0, len(filters))
	for id := range filters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		f := filters[id]
		if f == nil {
			continue
		}
		in, eg, _ := accepts(f)
		ck := Check{Name: "filter_directions", Status: StatusOK, Resource: id, Evidence: "accepts traffic in both directions"}
		switch {
		case !in && !eg:
			ck.Status, ck.Evidence = StatusFail, "no accept rule in either direction: the sessions using it mirror nothing"
			ck.Fix = "aws ec2 create-traffic-mirror-filter-rule --traffic-mirror-filter-id " + id + " --traffic-direction ingress --rule-number 100 --rule-action accept --protocol 6 --source-cidr-block 0.0.0.0/0 --destination-cidr-block 0.0.0.0/0 (and the same for egress)"
		case !in || !eg:
			missing := "ingress"
			if !eg {
				missing = "egress"
			}
			ck.Status, ck.Evidence = StatusFail, "accepts only one direction (no "+missing+" accept rule): TCP analysis needs both halves of a connection"
			ck.Fix = "aws ec2 create-traffic-mirror-filter-rule --traffic-mirror-filter-id " + id + " --traffic-direction " + missing + " --rule-number 100 --rule-action accept --protocol 6 --source-cidr-block 0.0.0.0/0 --destination-cidr-block 0.0.0.0/0"
		}
		out = append(out, ck)
		if in || eg {
			// Not a loss, so never a warning: AWS mirrors queries to the
			// VPC resolver only when the filter asks for them, and users
			// otherwise look for DNS in the capture in vain.
			dns := Check{Name: "filter_amazon_dns", Status: StatusOK, Resource: id,
				Evidence: "amazon-dns network service on: DNS queries to the VPC resolver are mirrored"}
			if !slices.Contains(f.Services, "amazon-dns") {
				dns.Evidence = "no amazon-dns network service: DNS queries to the VPC resolver (169.254.169.253, the VPC base+2) are not mirrored; add it if DNS matters: " +
					"aws ec2 modify-traffic-mirror-filter-network-services --traffic-mirror-filter-id " + id + " --add-network-services amazon-dns"
			}
			out = append(out, dns)
		}
	}
	return out, nil
}

func checkSkip(ctx context.Context, c *Client, instances []string, now time.Time) ([]Check, error) {
	set, err := FetchMetrics(ctx, c, instances, now.Add(-time.Hour), now)
	if err != nil {
		return nil, err
	}
	sums := map[string]float64{}
	for _, se := range set.Series {
		if strings.HasPrefix(se.Metric, "NetworkSkipMirror") || strings.HasPrefix(se.Metric, "NetworkPacketsSkipMirror") {
			inst := strings.TrimSpace(strings.TrimPrefix(se.Label, se.Metric))
			for _, p := range se.Points {
				sums[inst+" "+se.Metric] += p.Value
			}
		}
	}
	var out []Check
	for _, in := range instances {
		ck := Check{Name: "skip_mirror_last_hour", Status: StatusOK, Resource: in, Evidence: "NetworkSkipMirror* stayed 0 (or absent) in the last hour"}
		var ev []string
		for _, m := range []string{"NetworkSkipMirrorIn", "NetworkSkipMirrorOut", "NetworkPacketsSkipMirrorIn", "NetworkPacketsSkipMirrorOut"} {
			if v := sums[in+" "+m]; v > 0 {
				ev = append(ev, m+"="+strconv.FormatFloat(v, 'f', -1, 64))
			}
		}
		if len(ev) > 0 {
			ck.Status = StatusFail
			ck.Evidence = "AWS skipped mirroring in the last hour (production traffic had priority): " + strings.Join(ev, ", ")
			ck.Fix = "mirror less (narrower filter rules, --packet-length 128) or use a larger source instance; see docs/counters.md"
		}
		out = append(out, ck)
	}
	return out, nil
}
