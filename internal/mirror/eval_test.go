package mirror

import (
	"net/netip"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// pkt builds a decoded packet the way the decoder fills it.
func pkt(proto uint8, src string, sport uint16, dst string, dport uint16) *decode.Packet {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p := &decode.Packet{Src: s, Dst: d, Proto: proto, L4: true, SrcPort: sport, DstPort: dport, L2Len: 14}
	if s.Is4() {
		p.IPVersion, p.EtherType, p.IPHdrLen = 4, 0x0800, 20
	} else {
		p.IPVersion, p.EtherType, p.IPHdrLen = 6, 0x86DD, 40
	}
	if proto != 6 && proto != 17 {
		p.SrcPort, p.DstPort = 0, 0
	}
	p.IPLen = 100
	p.FrameLen = 114
	p.CapLen = 114
	return p
}

func mustFilter(t testing.TB, dns bool, rules ...string) *Filter {
	t.Helper()
	f, err := ParseRules(rules, dns)
	if err != nil {
		t.Fatalf("ParseRules(%q): %v", rules, err)
	}
	return f
}

func TestClassify(t *testing.T) {
	const eni = "198.18.0.2"
	frag := pkt(6, "198.18.0.1", 0, eni, 0)
	frag.L4, frag.Fragment, frag.FragOff = false, true, 1480
	arp := &decode.Packet{EtherType: 0x0806, L2Len: 14, FrameLen: 42}
	lldp := &decode.Packet{EtherType: 0x88cc, L2Len: 14, FrameLen: 60}
	tests := []struct {
		name   string
		rules  []string
		dns    bool
		p      *decode.Packet
		dir    Direction
		want   Outcome
		reason Reason
		rule   int // deciding rule number, 0 for none
	}{
		{"dst port exact", []string{"ingress 100 accept tcp dst-port 443"}, false, pkt(6, "10.0.0.9", 50000, eni, 443), Ingress, Accepted, 0, 100},
		{"dst port other", []string{"ingress 100 accept tcp dst-port 443"}, false, pkt(6, "10.0.0.9", 50000, eni, 444), Ingress, NoMatch, 0, 0},
		{"range lower bound", []string{"ingress 100 accept tcp dst-port 1000-2000"}, false, pkt(6, "10.0.0.9", 1, eni, 1000), Ingress, Accepted, 0, 100},
		{"range upper bound", []string{"ingress 100 accept tcp dst-port 1000-2000"}, false, pkt(6, "10.0.0.9", 1, eni, 2000), Ingress, Accepted, 0, 100},
		{"range below", []string{"ingress 100 accept tcp dst-port 1000-2000"}, false, pkt(6, "10.0.0.9", 1, eni, 999), Ingress, NoMatch, 0, 0},
		{"range above", []string{"ingress 100 accept tcp dst-port 1000-2000"}, false, pkt(6, "10.0.0.9", 1, eni, 2001), Ingress, NoMatch, 0, 0},
		{"full port range 0-65535", []string{"ingress 100 accept udp src-port 0-65535"}, false, pkt(17, "10.0.0.9", 65535, eni, 9), Ingress, Accepted, 0, 100},
		{"src port", []string{"egress 100 accept tcp src-port 5201"}, false, pkt(6, eni, 5201, "10.0.0.9", 40000), Egress, Accepted, 0, 100},
		{"src port mismatch", []string{"egress 100 accept tcp src-port 5201"}, false, pkt(6, eni, 5202, "10.0.0.9", 5201), Egress, NoMatch, 0, 0},
		{"proto mismatch", []string{"ingress 100 accept udp dst-port 443"}, false, pkt(6, "10.0.0.9", 1, eni, 443), Ingress, NoMatch, 0, 0},
		{"proto absent matches icmp", []string{"ingress 100 accept all"}, false, pkt(1, "10.0.0.9", 0, eni, 0), Ingress, Accepted, 0, 100},
		{"proto absent matches ipv6", []string{"ingress 100 accept all"}, false, pkt(6, "2001:db8::1", 1, "2001:db8::2", 2), Ingress, Accepted, 0, 100},
		{"proto number", []string{"ingress 100 accept 47"}, false, pkt(47, "10.0.0.9", 0, eni, 0), Ingress, Accepted, 0, 100},
		{"icmp", []string{"ingress 100 accept icmp"}, false, pkt(1, "10.0.0.9", 0, eni, 0), Ingress, Accepted, 0, 100},
		{"cidr /32 hit", []string{"ingress 100 accept all src 10.0.0.9/32"}, false, pkt(6, "10.0.0.9", 1, eni, 2), Ingress, Accepted, 0, 100},
		{"cidr /32 miss", []string{"ingress 100 accept all src 10.0.0.9/32"}, false, pkt(6, "10.0.0.10", 1, eni, 2), Ingress, NoMatch, 0, 0},
		{"cidr /0 v4", []string{"ingress 100 accept all src 0.0.0.0/0 dst 0.0.0.0/0"}, false, pkt(17, "203.0.113.5", 1, eni, 2), Ingress, Accepted, 0, 100},
		{"cidr /0 v4 does not match v6", []string{"ingress 100 accept all src 0.0.0.0/0 dst 0.0.0.0/0"}, false, pkt(17, "2001:db8::1", 1, "2001:db8::2", 2), Ingress, NoMatch, 0, 0},
		{"cidr /8 dst", []string{"egress 100 accept all dst 10.0.0.0/8"}, false, pkt(6, eni, 1, "10.200.3.4", 2), Egress, Accepted, 0, 100},
		{"cidr dst miss", []string{"egress 100 accept all dst 10.0.0.0/8"}, false, pkt(6, eni, 1, "11.0.0.1", 2), Egress, NoMatch, 0, 0},
		{"ipv6 rule", []string{"ingress 100 accept tcp src ::/0 dst 2001:db8::/64 dst-port 80"}, false, pkt(6, "2001:db8:1::1", 1, "2001:db8::5", 80), Ingress, Accepted, 0, 100},
		{"ipv6 rule misses v4", []string{"ingress 100 accept tcp src ::/0 dst ::/0"}, false, pkt(6, "10.0.0.1", 1, eni, 80), Ingress, NoMatch, 0, 0},
		{"ipv6 /128", []string{"ingress 100 accept all dst 2001:db8::5/128"}, false, pkt(58, "2001:db8::1", 0, "2001:db8::5", 0), Ingress, Accepted, 0, 100},
		{"first match by number not order", []string{"ingress 200 accept all", "ingress 100 reject tcp"}, false, pkt(6, "10.0.0.9", 1, eni, 2), Ingress, Rejected, 0, 100},
		{"reject before accept lets others through", []string{"ingress 100 reject tcp dst-port 22", "ingress 200 accept all"}, false, pkt(6, "10.0.0.9", 1, eni, 443), Ingress, Accepted, 0, 200},
		{"reject before accept", []string{"ingress 100 reject tcp dst-port 22", "ingress 200 accept all"}, false, pkt(6, "10.0.0.9", 1, eni, 22), Ingress, Rejected, 0, 100},
		{"accept before reject", []string{"ingress 100 accept tcp", "ingress 200 reject all"}, false, pkt(6, "10.0.0.9", 1, eni, 22), Ingress, Accepted, 0, 100},
		{"no egress rules mirrors no egress", []string{"ingress 100 accept all"}, false, pkt(6, eni, 1, "10.0.0.9", 2), Egress, NoMatch, 0, 0},
		{"no rules at all", nil, false, pkt(6, "10.0.0.9", 1, eni, 2), Ingress, NoMatch, 0, 0},
		{"egress rule ignores ingress packet", []string{"egress 100 accept all"}, false, pkt(6, "10.0.0.9", 1, eni, 2), Ingress, NoMatch, 0, 0},
		{"port rule misses later fragment", []string{"ingress 100 accept tcp dst-port 80"}, false, frag, Ingress, NoMatch, 0, 0},
		{"proto rule matches later fragment", []string{"ingress 100 accept tcp"}, false, frag, Ingress, Accepted, 0, 100},
		{"arp never", []string{"ingress 100 accept all"}, false, arp, Ingress, Never, ReasonARP, 0},
		{"non-ip never", []string{"ingress 100 accept all"}, false, lldp, Ingress, Never, ReasonNonIP, 0},
		{"dhcp never", []string{"ingress 100 accept all"}, false, pkt(17, "0.0.0.0", 68, "255.255.255.255", 67), Ingress, Never, ReasonDHCP, 0},
		{"dhcpv6 never", []string{"egress 100 accept all"}, false, pkt(17, "fe80::1", 546, "ff02::1:2", 547), Egress, Never, ReasonDHCP, 0},
		{"imds never", []string{"egress 100 accept all"}, false, pkt(6, eni, 40000, "169.254.169.254", 80), Egress, Never, ReasonIMDS, 0},
		{"imds v6 never", []string{"ingress 100 accept all"}, false, pkt(6, "fd00:ec2::254", 80, "2001:db8::5", 40000), Ingress, Never, ReasonIMDS, 0},
		{"ntp never", []string{"egress 100 accept all"}, false, pkt(17, eni, 123, "169.254.169.123", 123), Egress, Never, ReasonNTP, 0},
		{"windows activation never", []string{"egress 100 accept all"}, false, pkt(6, eni, 50000, "169.254.169.250", 1688), Egress, Never, ReasonWindowsActivation, 0},
		{"amazon dns not enabled", []string{"egress 100 accept all"}, false, pkt(17, eni, 40000, "169.254.169.253", 53), Egress, Never, ReasonAmazonDNS, 0},
		{"amazon dns enabled", []string{"egress 100 accept all"}, true, pkt(17, eni, 40000, "169.254.169.253", 53), Egress, AmazonDNSService, 0, 0},
		{"amazon dns enabled overrides reject", []string{"ingress 100 reject all"}, true, pkt(17, "169.254.169.253", 53, eni, 40000), Ingress, AmazonDNSService, 0, 0},
		{"amazon dns enabled without rules", nil, true, pkt(17, "169.254.169.253", 53, eni, 40000), Ingress, AmazonDNSService, 0, 0},
		{"other dns is ordinary", []string{"egress 100 reject udp dst-port 53"}, true, pkt(17, eni, 40000, "8.8.8.8", 53), Egress, Rejected, 0, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustFilter(t, tc.dns, tc.rules...)
			v := f.Classify(tc.p, tc.dir)
			gotRule := 0
			if v.Rule != nil {
				gotRule = v.Rule.Number
			}
			if v.Outcome != tc.want || v.Reason != tc.reason || gotRule != tc.rule {
				t.Errorf("Classify = %v/%v rule %d, want %v/%v rule %d", v.Outcome, v.Reason, gotRule, tc.want, tc.reason, tc.rule)
			}
			acc, r := f.Match(tc.p, tc.dir)
			if acc != (tc.want == Accepted || tc.want == AmazonDNSService) || r != v.Rule {
				t.Errorf("Match = %v, %v; inconsistent with %v", acc, r, v)
			}
		})
	}
}

func TestVPCResolverConfigurable(t *testing.T) {
	p := pkt(17, "10.0.0.5", 40000, "10.0.0.2", 53)
	f, err := ParseRules([]string{"egress 100 reject all"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Classify(p, Egress); v.Outcome != Rejected {
		t.Fatalf("without resolver: %v, want rejected", v.Outcome)
	}
	f.SetDNSResolvers(netip.MustParseAddr("10.0.0.2"))
	if v := f.Classify(p, Egress); v.Outcome != AmazonDNSService {
		t.Fatalf("with VPC+2 resolver: %v, want amazon-dns", v.Outcome)
	}
	f.AmazonDNS = false
	if v := f.Classify(p, Egress); v.Outcome != Never || v.Reason != ReasonAmazonDNS {
		t.Fatalf("resolver without amazon-dns: %v %v, want never/amazon dns", v.Outcome, v.Reason)
	}
}

func TestSessionsSelect(t *testing.T) {
	web := mustFilter(t, false, "ingress 100 accept tcp dst-port 443", "egress 100 accept tcp src-port 443")
	all := mustFilter(t, false, "ingress 100 accept all", "egress 100 accept all")
	rejWeb := mustFilter(t, false, "ingress 100 reject tcp dst-port 443", "ingress 200 accept all")
	dns := mustFilter(t, true)
	ss := Sessions{
		{Number: 30, Filter: all, VNI: 30},
		{Number: 2, Filter: web, VNI: 2},
		{Number: 10, Filter: rejWeb, VNI: 10},
	}
	if err := ss.Validate(); err != nil {
		t.Fatal(err)
	}
	eni := "198.18.0.2"
	tests := []struct {
		name    string
		ss      Sessions
		p       *decode.Packet
		dir     Direction
		wantVNI uint32 // 0: none
		rule    int
	}{
		{"lowest number wins", ss, pkt(6, "10.0.0.1", 1, eni, 443), Ingress, 2, 100},
		{"falls to next session", ss, pkt(6, "10.0.0.1", 1, eni, 80), Ingress, 10, 200},
		{"reject in 10 falls to 30", Sessions{ss[1], ss[2]}, pkt(6, "10.0.0.1", 1, eni, 443), Ingress, 30, 100},
		{"egress only in web and all", ss, pkt(6, eni, 443, "10.0.0.1", 1), Egress, 2, 100},
		{"egress not web", ss, pkt(6, eni, 80, "10.0.0.1", 1), Egress, 30, 100},
		{"never mirrored by any", ss, pkt(6, eni, 1, "169.254.169.254", 80), Egress, 0, 0},
		{"no session", Sessions{{Number: 1, Filter: web}}, pkt(6, eni, 80, "10.0.0.1", 1), Egress, 0, 0},
		{"dns in lower-priority session", Sessions{{Number: 1, Filter: web, VNI: 1}, {Number: 2, Filter: dns, VNI: 2}}, pkt(17, eni, 5, "169.254.169.253", 53), Egress, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, r := tc.ss.Select(tc.p, tc.dir)
			var gotVNI uint32
			if s != nil {
				gotVNI = s.VNI
			}
			gotRule := 0
			if r != nil {
				gotRule = r.Number
			}
			if gotVNI != tc.wantVNI || gotRule != tc.rule {
				t.Errorf("Select = session vni %d rule %d, want %d rule %d", gotVNI, gotRule, tc.wantVNI, tc.rule)
			}
			if tc.ss.Mirrored(tc.p, tc.dir) != (tc.wantVNI != 0) {
				t.Errorf("Mirrored disagrees with Select")
			}
		})
	}
}

func TestSessionsValidate(t *testing.T) {
	f := mustFilter(t, false, "ingress 1 accept all")
	tests := []struct {
		name string
		ss   Sessions
		want error
	}{
		{"ok", Sessions{{Number: 1, Filter: f}, {Number: 32766, Filter: f}, {Number: 5, Filter: f, PacketLength: 8500}}, nil},
		{"number 0", Sessions{{Number: 0, Filter: f}}, ErrSessionNumber},
		{"number 32767", Sessions{{Number: 32767, Filter: f}}, ErrSessionNumber},
		{"four sessions one eni", Sessions{{Number: 1, Filter: f, ENI: "eni-a"}, {Number: 2, Filter: f, ENI: "eni-a"}, {Number: 3, Filter: f, ENI: "eni-a"}, {Number: 4, Filter: f, ENI: "eni-a"}}, ErrTooManySessions},
		{"three per eni on two enis", Sessions{{Number: 1, Filter: f, ENI: "eni-a"}, {Number: 2, Filter: f, ENI: "eni-a"}, {Number: 3, Filter: f, ENI: "eni-a"}, {Number: 1, Filter: f, ENI: "eni-b"}}, nil},
		{"duplicate number", Sessions{{Number: 1, Filter: f, ENI: "eni-a"}, {Number: 1, Filter: f, ENI: "eni-a"}}, ErrDuplicateSess},
		{"packet length 8501", Sessions{{Number: 1, Filter: f, PacketLength: 8501}}, ErrPacketLength},
		{"vni too big", Sessions{{Number: 1, Filter: f, VNI: 1 << 24}}, ErrVNI},
		{"no filter", Sessions{{Number: 1}}, ErrNoFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ss.Validate()
			if !errorsIs(err, tc.want) {
				t.Errorf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAddrs(t *testing.T) {
	a := Addrs{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.12")}
	for _, tc := range []struct {
		p    *decode.Packet
		dir  Direction
		okay bool
	}{
		{pkt(6, "198.18.0.1", 1, "198.18.0.2", 2), Ingress, true},
		{pkt(6, "198.18.0.1", 1, "198.18.0.12", 2), Ingress, true},
		{pkt(6, "198.18.0.12", 1, "198.18.0.1", 2), Egress, true},
		{pkt(6, "198.18.0.1", 1, "198.18.0.3", 2), 0, false},
		{&decode.Packet{EtherType: 0x806}, 0, false},
	} {
		d, ok := a.Direction(tc.p)
		if d != tc.dir || ok != tc.okay {
			t.Errorf("Direction(%v->%v) = %v %v, want %v %v", tc.p.Src, tc.p.Dst, d, ok, tc.dir, tc.okay)
		}
	}
	var c AddrCounter
	for range 3 {
		c.Add(pkt(6, "198.18.0.1", 1, "198.18.0.2", 2))
	}
	c.Add(pkt(6, "198.18.0.2", 1, "198.18.0.3", 2))
	if got, ok, tie := c.Best(); got != netip.MustParseAddr("198.18.0.2") || !ok || tie {
		t.Errorf("Best = %v %v %v, want 198.18.0.2 true false", got, ok, tie)
	}
	var one AddrCounter
	one.Add(pkt(6, "198.18.0.1", 1, "198.18.0.2", 2))
	if _, _, tie := one.Best(); !tie {
		t.Errorf("single conversation: want tie")
	}
}

func TestPredicate(t *testing.T) {
	f := mustFilter(t, false, "ingress 100 accept tcp dst-port 5201")
	in := pkt(6, "198.18.0.1", 40000, "198.18.0.2", 5201)
	out := pkt(6, "198.18.0.2", 5201, "198.18.0.1", 40000)
	pr := PredicateForFilter(f, Addrs{netip.MustParseAddr("198.18.0.2")})
	if _, ok := pr.Keep(in); !ok {
		t.Error("ingress to 5201 not kept")
	}
	if _, ok := pr.Keep(out); ok {
		t.Error("egress kept without egress rules")
	}
	// Through a mirror session, the outer source tells the direction.
	vx := PredicateForFilter(f, nil)
	in.Encap, in.Session.OuterSrc = decode.EncapVXLAN, netip.MustParseAddr("198.18.0.2")
	if _, ok := vx.Keep(in); !ok {
		t.Error("mirrored ingress not kept")
	}
	plain := pkt(6, "198.18.0.1", 40000, "198.18.0.2", 5201)
	if _, ok := vx.Keep(plain); ok {
		t.Error("plain packet with unknown direction kept")
	}
}

func TestZeroAllocs(t *testing.T) {
	f := mustFilter(t, true, "ingress 100 reject tcp src 10.0.0.0/8 dst-port 22", "ingress 200 accept tcp dst 2001:db8::/32",
		"ingress 300 accept udp dst-port 1000-2000", "egress 100 accept all")
	ss := Sessions{{Number: 2, Filter: mustFilter(t, false, "ingress 1 accept icmp")}, {Number: 5, Filter: f}}
	pr := NewPredicate(ss, Addrs{netip.MustParseAddr("198.18.0.2")})
	ps := []*decode.Packet{
		pkt(6, "10.1.1.1", 1, "198.18.0.2", 22), pkt(17, "10.1.1.1", 1, "198.18.0.2", 1500),
		pkt(6, "2001:db8::1", 1, "2001:db8::2", 80), pkt(17, "198.18.0.2", 1, "169.254.169.253", 53),
		{EtherType: 0x806},
	}
	n := testing.AllocsPerRun(200, func() {
		for _, p := range ps {
			f.Match(p, Ingress)
			f.Classify(p, Egress)
			ss.Select(p, Ingress)
			pr.Keep(p)
		}
	})
	if n != 0 {
		t.Fatalf("evaluation allocates %v per run, want 0", n)
	}
}

func BenchmarkSelect(b *testing.B) {
	f := mustFilter(b, true, "ingress 100 reject tcp src 10.0.0.0/8 dst-port 22", "ingress 200 accept tcp dst 2001:db8::/32",
		"ingress 300 accept udp dst-port 1000-2000", "ingress 400 accept tcp dst-port 5201", "egress 100 accept all")
	ss := Sessions{{Number: 1, Filter: f}}
	p := pkt(6, "198.18.0.1", 40000, "198.18.0.2", 5201)
	b.ReportAllocs()
	for b.Loop() {
		ss.Select(p, Ingress)
	}
}
