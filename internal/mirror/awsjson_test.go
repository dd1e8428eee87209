package mirror

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoadAWSCLI(t *testing.T) {
	c, err := Load("testdata/filters.json", "testdata/sessions.json")
	if err != nil {
		t.Fatal(err)
	}
	pfx := netip.MustParsePrefix
	f2 := c.Filter("tmf-06c787846cEXAMPLE")
	if f2 == nil {
		t.Fatal("filter tmf-06c787846cEXAMPLE missing")
	}
	want := &Filter{
		ID: "tmf-06c787846cEXAMPLE", Description: "Second filter", AmazonDNS: true,
		Ingress: []Rule{
			{ID: "tmfr-0e3ad09c8dEXAMPLE", Direction: Ingress, Number: 100, Action: Reject, HasProto: true, Proto: 6,
				Src: pfx("0.0.0.0/0"), Dst: pfx("0.0.0.0/0"), DstPorts: PortRange{22, 22, true}, Description: "no ssh"},
			{ID: "tmfr-07ab2fe0a5EXAMPLE", Direction: Ingress, Number: 200, Action: Accept,
				Src: pfx("0.0.0.0/0"), Dst: pfx("0.0.0.0/0"), Description: "everything else"},
		},
		Egress: []Rule{
			{ID: "tmfr-0fb5b3e1f2EXAMPLE", Direction: Egress, Number: 100, HasProto: true, Proto: 17,
				Src: pfx("2001:db8::/32"), Dst: pfx("::/0"), SrcPorts: PortRange{1024, 65535, true}, DstPorts: PortRange{53, 53, true}, Description: "v6 dns"},
		},
		DNSResolvers: DefaultDNSResolvers(),
	}
	addrCmp := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	pfxCmp := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if d := cmp.Diff(f2, want, addrCmp, pfxCmp); d != "" {
		t.Errorf("filter (-got +want):\n%s", d)
	}
	wantSess := Sessions{
		{ID: "tms-0567a4c684EXAMPLE", TargetID: "tmt-0dabe9b0a6EXAMPLE", FilterID: "tmf-0293f26e86EXAMPLE", ENI: "eni-0a471a5cf3EXAMPLE",
			Description: "TCP Session", Number: 1, VNI: 42, HasVNI: true, PacketLength: 20},
		{ID: "tms-0060101cf8EXAMPLE", TargetID: "tmt-03665551cbEXAMPLE", FilterID: "tmf-06c787846cEXAMPLE", ENI: "eni-0a471a5cf3EXAMPLE",
			Description: "TCP Session", Number: 2, VNI: 13314501, HasVNI: true},
	}
	if d := cmp.Diff(c.Sessions, wantSess, cmpopts.IgnoreFields(Session{}, "Filter")); d != "" {
		t.Errorf("sessions (-got +want):\n%s", d)
	}
	if c.Sessions[0].Filter != c.Filter("tmf-0293f26e86EXAMPLE") || c.Sessions[1].Filter != f2 {
		t.Error("sessions not linked to their filters")
	}
	ss, err := c.SessionsFor("")
	if err != nil || len(ss) != 2 {
		t.Fatalf("SessionsFor: %v %d", err, len(ss))
	}
	// Session 1 (10.0.0.0/24 tcp) wins for in-VPC TCP; session 2 takes
	// the rest but not ssh.
	if s, _ := ss.Select(pkt(6, "10.0.0.5", 1, "10.0.0.6", 22), Ingress); s == nil || s.Number != 1 {
		t.Errorf("in-VPC ssh: session %v, want 1", s)
	}
	if s, _ := ss.Select(pkt(6, "192.0.2.5", 1, "10.0.0.6", 22), Ingress); s != nil {
		t.Errorf("outside ssh: session %d, want none", s.Number)
	}
	if s, _ := ss.Select(pkt(17, "192.0.2.5", 1, "10.0.0.6", 22), Ingress); s == nil || s.Number != 2 {
		t.Errorf("outside udp: session %v, want 2", s)
	}
}

func TestLoadSingleObjectsAndRules(t *testing.T) {
	create := `{"TrafficMirrorFilter": {"TrafficMirrorFilterId": "tmf-1", "IngressFilterRules": [], "EgressFilterRules": [], "NetworkServices": [], "Tags": []}, "ClientToken": "x"}`
	rules := `{"TrafficMirrorFilterRules": [
	 {"TrafficMirrorFilterRuleId": "tmfr-1", "TrafficMirrorFilterId": "tmf-1", "TrafficDirection": "egress", "RuleNumber": 10, "RuleAction": "accept", "Protocol": 6,
	  "DestinationPortRange": {"FromPort": 80, "ToPort": 80}, "DestinationCidrBlock": "0.0.0.0/0", "SourceCidrBlock": "0.0.0.0/0"}]}`
	sess := `{"TrafficMirrorSession": {"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-1", "NetworkInterfaceId": "eni-1", "SessionNumber": 3, "VirtualNetworkId": 7}}`
	c, err := LoadBytes([]byte(create), []byte(rules), []byte(sess))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Filter("tmf-1")
	if f == nil || len(f.Egress) != 1 || f.Egress[0].DstPorts != (PortRange{80, 80, true}) {
		t.Fatalf("filter = %+v", f)
	}
	if len(c.Sessions) != 1 || c.Sessions[0].Filter != f || c.Sessions[0].PacketLength != 0 {
		t.Fatalf("sessions = %+v", c.Sessions)
	}
}

func TestLoadErrors(t *testing.T) {
	rule := func(extra string) string {
		return `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1", "IngressFilterRules": [` + extra + `], "EgressFilterRules": []}]}`
	}
	r := func(n int, fields string) string {
		return `{"TrafficDirection": "ingress", "RuleNumber": ` + itoa(n) + `, "RuleAction": "accept", "SourceCidrBlock": "0.0.0.0/0", "DestinationCidrBlock": "0.0.0.0/0"` + fields + `}`
	}
	var eleven []string
	for i := 1; i <= 11; i++ {
		eleven = append(eleven, r(i, ""))
	}
	tests := []struct{ name, json, want string }{
		{"not json", `{`, "bad JSON"},
		{"other json", `{"Reservations": []}`, "not AWS CLI traffic mirror JSON"},
		{"duplicate rule", rule(r(100, "") + "," + r(100, `, "Protocol": 6`)), "duplicate rule number"},
		{"mixed families", rule(`{"TrafficDirection": "ingress", "RuleNumber": 1, "RuleAction": "accept", "SourceCidrBlock": "10.0.0.0/8", "DestinationCidrBlock": "::/0"}`), "different IP versions"},
		{"ports on icmp", rule(r(1, `, "Protocol": 1, "DestinationPortRange": {"FromPort": 1, "ToPort": 2}`)), "port ranges need protocol"},
		{"ports without protocol", rule(r(1, `, "DestinationPortRange": {"FromPort": 1, "ToPort": 2}`)), "port ranges need protocol"},
		{"ports reversed", rule(r(1, `, "Protocol": 6, "SourcePortRange": {"FromPort": 9, "ToPort": 2}`)), "from port above to port"},
		{"port out of range", rule(r(1, `, "Protocol": 6, "SourcePortRange": {"FromPort": 9, "ToPort": 65536}`)), "outside 0-65535"},
		{"port half", rule(r(1, `, "Protocol": 6, "SourcePortRange": {"FromPort": 9}`)), "needs FromPort and ToPort"},
		{"bad action", rule(`{"RuleNumber": 1, "RuleAction": "drop"}`), `RuleAction "drop"`},
		{"no number", rule(`{"RuleAction": "accept"}`), "no RuleNumber"},
		{"direction mismatch", rule(`{"TrafficDirection": "egress", "RuleNumber": 1, "RuleAction": "accept"}`), "in the ingress rule list"},
		{"bad cidr", rule(r(1, `, "SourceCidrBlock": "10.0.0/8"`)), "SourceCidrBlock"},
		{"bad protocol", rule(r(1, `, "Protocol": 300`)), "Protocol 300"},
		{"eleven rules", rule(strings.Join(eleven, ",")), "too many rules"},
		{"unknown service", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1", "NetworkServices": ["amazon-ntp"]}]}`, "unknown network service"},
		{"session without filter", `{"TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-9", "SessionNumber": 1}]}`, "filter not found"},
		{"session number", rule("") + `{"TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-1", "SessionNumber": 40000}]}`, "session number out of range"},
		{"packet length", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1"}], "TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-1", "SessionNumber": 1, "PacketLength": 9001}]}`, "packet length out of range"},
		{"packet length zero", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1"}], "TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-1", "SessionNumber": 1, "PacketLength": 0}]}`, "packet length out of range"},
		{"vni", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1"}], "TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-1", "SessionNumber": 1, "VirtualNetworkId": 16777216}]}`, "virtual network id"},
		{"four sessions", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1"}], "TrafficMirrorSessions": [
			{"TrafficMirrorFilterId": "tmf-1", "NetworkInterfaceId": "eni-1", "SessionNumber": 1},
			{"TrafficMirrorFilterId": "tmf-1", "NetworkInterfaceId": "eni-1", "SessionNumber": 2},
			{"TrafficMirrorFilterId": "tmf-1", "NetworkInterfaceId": "eni-1", "SessionNumber": 3},
			{"TrafficMirrorFilterId": "tmf-1", "NetworkInterfaceId": "eni-1", "SessionNumber": 4}]}`, "too many sessions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// "session number" holds two documents back to back.
			docs := splitDocs(tc.json)
			_, err := LoadBytes(docs...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want containing %q", err, tc.want)
			}
		})
	}
}

func splitDocs(s string) [][]byte {
	if i := strings.Index(s, "]}]}{"); i >= 0 {
		return [][]byte{[]byte(s[:i+4]), []byte(s[i+4:])}
	}
	return [][]byte{[]byte(s)}
}

func itoa(n int) string { return strconv.Itoa(n) }
