package aws

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/aws/awsfake"
)

var doctorNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// healthy builds a correct setup: i-0src1 mirrored to the target ENI
// through a both-direction filter, the target's group and ACL allowing
// VXLAN. It returns the filter id.
func healthy(t *testing.T, f *awsfake.Fake, c *Client, filterRules []FilterRule) (targetID, filterID string) {
	t.Helper()
	f.SetSecurityGroup("sg-target", awsfake.Perm{Protocol: "udp", FromPort: 4789, ToPort: 4789, CIDRs: []string{"10.0.0.0/16"}})
	f.SetACL("subnet-1",
		awsfake.ACLEntry{Number: 100, Protocol: "17", Allow: true, CIDR: "10.0.0.0/16", From: 4789, To: 4789},
		awsfake.ACLEntry{Number: 32767, Protocol: "-1", Allow: false, CIDR: "0.0.0.0/0"})
	tg, err := c.CreateTarget(t.Context(), TargetSpec{NetworkInterfaceID: self.ENI})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := c.CreateFilter(t.Context(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if filterRules == nil {
		filterRules = DefaultRules()
	}
	for _, r := range filterRules {
		r.FilterID = fl.ID
		if _, err := c.CreateFilterRule(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	f.AddSession("eni-0src1", tg.ID, fl.ID, 1)
	return tg.ID, fl.ID
}

// gwlb adds a Gateway Load Balancer ENI and an ACL that lets both
// tunnel ports in.
func gwlb(f *awsfake.Fake) {
	f.AddInstance(awsfake.Instance{ENI: "eni-0gwlb", IP: "10.0.1.5", Subnet: "subnet-gw", InterfaceType: "gateway_load_balancer"})
	f.SetACL("subnet-1", awsfake.ACLEntry{Number: 100, Protocol: "17", Allow: true, CIDR: "10.0.0.0/16", From: 4789, To: 6081})
}

func TestDoctor(t *testing.T) {
	allIn := FilterRule{Direction: "ingress", Number: 10, Action: "accept", SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0"}
	allEg := FilterRule{Direction: "egress", Number: 10, Action: "accept", SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0"}
	for _, tc := range []struct {
		name     string
		srcType  string
		rules    []FilterRule
		setup    func(t *testing.T, f *awsfake.Fake, c *Client, targetID, filterID string)
		input    func(in *DoctorInput)
		check    string // the check expected not ok ("" = all ok)
		status   string
		evidence string
	}{
		{name: "healthy"},
		{name: "GWLB appliance allows GENEVE", input: func(in *DoctorInput) { in.GENEVE = true }, setup: func(t *testing.T, f *awsfake.Fake, c *Client, _, _ string) {
			gwlb(f)
			f.SetSecurityGroup("sg-target", awsfake.Perm{Protocol: "udp", FromPort: 4789, ToPort: 6081, CIDRs: []string{"10.0.0.0/16"}})
		}},
		{name: "GWLB appliance blocks GENEVE", input: func(in *DoctorInput) { in.GENEVE = true }, setup: func(t *testing.T, f *awsfake.Fake, c *Client, _, _ string) {
			gwlb(f)
		}, check: "target_security_group", status: StatusFail, evidence: "allows UDP 6081 (GENEVE) from eni-0gwlb"},
		{name: "healthy with MTU", input: func(in *DoctorInput) { in.TargetMTU, in.SourceMTU = 9001, 1500 }},
		{name: "target MTU too small", input: func(in *DoctorInput) { in.TargetMTU = 9001 },
			check: "target_mtu", status: StatusFail, evidence: "target MTU 9001 < source MTU 9001 + 54"},
		{name: "unsupported Nitro family", srcType: "m6i.large", check: "source_instance_type", status: StatusFail, evidence: "m6i family"},
		{name: "bare metal", srcType: "c5.metal", check: "source_instance_type", status: StatusFail, evidence: "bare metal"},
		{name: "unsupported Xen type", srcType: "c3.large", setup: func(t *testing.T, f *awsfake.Fake, c *Client, _, _ string) {
			f.SetInstanceType("c3.large", "xen", false)
		}, check: "source_instance_type", status: StatusFail, evidence: "Xen type"},
		{name: "security group without VXLAN", setup: func(t *testing.T, f *awsfake.Fake, c *Client, _, _ string) {
			f.SetSecurityGroup("sg-target", awsfake.Perm{Protocol: "tcp", FromPort: 0, ToPort: 65535, CIDRs: []string{"0.0.0.0/0"}})
		}, check: "target_security_group", status: StatusFail, evidence: "no inbound rule of sg-target allows UDP 4789"},
		{name: "network ACL denies VXLAN", setup: func(t *testing.T, f *awsfake.Fake, c *Client, _, _ string) {
			f.SetACL("subnet-1",
				awsfake.ACLEntry{Number: 50, Protocol: "17", Allow: false, CIDR: "10.0.0.0/24", From: 4000, To: 5000},
				awsfake.ACLEntry{Number: 100, Protocol: "-1", Allow: true, CIDR: "0.0.0.0/0"})
		}, check: "target_network_acl", status: StatusFail, evidence: "inbound rule 50 (deny"},
		{name: "session quota of the source", setup: func(t *testing.T, f *awsfake.Fake, c *Client, tg, fl string) {
			f.AddSession("eni-0src1", tg, fl, 5)
			f.AddSession("eni-0src1", tg, fl, 6)
		}, check: "source_session_quota", status: StatusWarn, evidence: "3 of 3"},
		{name: "sources per target", setup: func(t *testing.T, f *awsfake.Fake, c *Client, tg, fl string) {
			for i := 0; i < 9; i++ {
				f.AddSession(fmt.Sprintf("eni-other%d", i), tg, fl, 1)
			}
		}, check: "target_sources_quota", status: StatusWarn, evidence: "10 source ENI(s)"},
		{name: "shadowed session", rules: []FilterRule{allIn, allEg}, setup: func(t *testing.T, f *awsfake.Fake, c *Client, tg, fl string) {
			f.AddSession("eni-0src1", tg, fl, 2)
		}, check: "session_shadowed", status: StatusFail, evidence: "never gets a packet"},
		{name: "one direction", rules: []FilterRule{allIn}, check: "filter_directions", status: StatusFail, evidence: "only one direction (no egress"},
		{name: "nothing mirrored", rules: []FilterRule{{Direction: "ingress", Number: 10, Action: "reject", SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0"}},
			check: "filter_directions", status: StatusFail, evidence: "mirror nothing"},
		{name: "skipped mirroring in the last hour", setup: func(t *testing.T, f *awsfake.Fake, c *Client, _, _ string) {
			f.SetMetric("AWS/EC2", "NetworkSkipMirrorOut", awsfake.Point{Time: "2026-12-01T11:30:00Z", Value: 12345})
		}, check: "skip_mirror_last_hour", status: StatusFail, evidence: "NetworkSkipMirrorOut=12345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := self
			target.Groups = []string{"sg-target"}
			f := awsfake.New(target)
			defer f.Close()
			typ := tc.srcType
			if typ == "" {
				typ = "m5.large"
			}
			f.AddInstance(awsfake.Instance{ID: "i-0src1", Type: typ, ENI: "eni-0src1", IP: "10.0.0.21", Subnet: "subnet-1", Groups: []string{"sg-src"}})
			_, c := newFakeAt(t, f)
			tg, fl := healthy(t, f, c, tc.rules)
			if tc.setup != nil {
				tc.setup(t, f, c, tg, fl)
			}
			in := DoctorInput{Sources: []string{"i-0src1"}, TargetENI: self.ENI, Now: doctorNow}
			if tc.input != nil {
				tc.input(&in)
			}
			checks, err := Doctor(t.Context(), c, in)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			var found bool
			for _, ck := range checks {
				names[ck.Name] = true
				if ck.Status == StatusOK {
					continue
				}
				if ck.Name == tc.check && ck.Status == tc.status && strings.Contains(ck.Evidence, tc.evidence) && ck.Fix != "" {
					found = true
					continue
				}
				t.Errorf("unexpected %s %s on %s: %s", ck.Status, ck.Name, ck.Resource, ck.Evidence)
			}
			if tc.check != "" && !found {
				t.Errorf("no %s %s with evidence %q in %+v", tc.status, tc.check, tc.evidence, checks)
			}
			for _, ck := range checks {
				if ck.Name == "filter_amazon_dns" && (ck.Status != StatusOK || !strings.Contains(ck.Evidence, "no amazon-dns network service") || !strings.Contains(ck.Evidence, "--add-network-services amazon-dns")) {
					t.Errorf("filter_amazon_dns on a filter without the service: %+v", ck)
				}
			}
			for _, n := range []string{"source_instance_type", "target_security_group", "target_network_acl", "target_sources_quota", "source_session_quota", "filter_directions", "filter_amazon_dns", "skip_mirror_last_hour"} {
				if !names[n] && !(n == "filter_amazon_dns" && tc.evidence == "mirror nothing") {
					t.Errorf("check %s did not run", n)
				}
			}
		})
	}
}

func TestDoctorNLB(t *testing.T) {
	const lb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/mirror/0123"
	good := awsfake.TargetGroup{LoadBalancerARN: lb, ARN: "arn:tg/mirror", Name: "mirror", Protocol: "UDP", Port: 4789,
		HealthCheckProtocol: "HTTP", HealthCheckPort: "9180", HealthCheckPath: "/healthz",
		Attributes: map[string]string{"stickiness.enabled": "true", "stickiness.type": "source_ip"},
		Health:     map[string][2]string{"i-0target": {"healthy", ""}}}
	for _, tc := range []struct {
		name            string
		mod             func(tg *awsfake.TargetGroup)
		check, evidence string
	}{
		{name: "healthy"},
		{name: "no source_ip stickiness", mod: func(tg *awsfake.TargetGroup) { tg.Attributes = map[string]string{"stickiness.enabled": "false"} },
			check: "nlb_stickiness", evidence: "split across targets"},
		{name: "health check on the traffic port", mod: func(tg *awsfake.TargetGroup) { tg.HealthCheckProtocol, tg.HealthCheckPort = "TCP", "traffic-port" },
			check: "nlb_health_check", evidence: "probes the traffic port 4789"},
		{name: "health check path", mod: func(tg *awsfake.TargetGroup) { tg.HealthCheckPath = "/" },
			check: "nlb_health_check", evidence: "/healthz"},
		{name: "unhealthy target", mod: func(tg *awsfake.TargetGroup) {
			tg.Health = map[string][2]string{"i-0target": {"unhealthy", "Target.FailedHealthChecks"}}
		}, check: "nlb_health_check", evidence: "Target.FailedHealthChecks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFake(t)
			tg := good
			if tc.mod != nil {
				tc.mod(&tg)
			}
			f.AddTargetGroup(tg)
			tid := f.AddTarget("", lb)
			checks, err := Doctor(t.Context(), c, DoctorInput{TargetID: tid, Now: doctorNow})
			if err != nil {
				t.Fatal(err)
			}
			ran := map[string]bool{}
			found := false
			for _, ck := range checks {
				ran[ck.Name] = true
				if ck.Status == StatusOK {
					continue
				}
				if ck.Name == tc.check && ck.Status == StatusFail && strings.Contains(ck.Evidence, tc.evidence) && ck.Fix != "" {
					found = true
					continue
				}
				t.Errorf("unexpected %s %s: %s", ck.Status, ck.Name, ck.Evidence)
			}
			if tc.check != "" && !found {
				t.Errorf("no failed %s with %q in %+v", tc.check, tc.evidence, checks)
			}
			if !ran["nlb_stickiness"] || !ran["nlb_health_check"] || !ran["target_sources_quota"] {
				t.Errorf("checks run: %v", ran)
			}
		})
	}
}
