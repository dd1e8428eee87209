package mirror

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func errorsIs(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

func TestParseRule(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		in   string
		want Rule
	}{
		{"ingress 100 accept tcp dst-port 443", Rule{Direction: Ingress, Number: 100, HasProto: true, Proto: 6, DstPorts: PortRange{443, 443, true}}},
		{"egress 200 reject udp src 10.0.0.0/8 dst-port 53-53", Rule{Direction: Egress, Number: 200, Action: Reject, HasProto: true, Proto: 17, Src: pfx("10.0.0.0/8"), DstPorts: PortRange{53, 53, true}}},
		{"ingress 300 accept all", Rule{Direction: Ingress, Number: 300}},
		{"ingress 300 accept", Rule{Direction: Ingress, Number: 300}},
		{"INGRESS 1 ACCEPT proto 47", Rule{Direction: Ingress, Number: 1, HasProto: true, Proto: 47}},
		{"egress 5 accept proto icmpv6 dst 2001:db8::/32", Rule{Direction: Egress, Number: 5, HasProto: true, Proto: 58, Dst: pfx("2001:db8::/32")}},
		{"egress 5 accept tcp src 10.1.2.3 dst 10.9.9.9/16 src-port 1024-65535 dst-port 0-1023", Rule{Direction: Egress, Number: 5, HasProto: true, Proto: 6,
			Src: pfx("10.1.2.3/32"), Dst: pfx("10.9.0.0/16"), SrcPorts: PortRange{1024, 65535, true}, DstPorts: PortRange{0, 1023, true}}},
		{"in 32766 reject 17 dport 53", Rule{Direction: Ingress, Number: 32766, Action: Reject, HasProto: true, Proto: 17, DstPorts: PortRange{53, 53, true}}},
		{"out 7 accept dst 0.0.0.0/0 src 0.0.0.0/0", Rule{Direction: Egress, Number: 7, Src: pfx("0.0.0.0/0"), Dst: pfx("0.0.0.0/0")}},
	}
	for _, tc := range tests {
		got, err := ParseRule(tc.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tc.in, err)
			continue
		}
		if d := cmp.Diff(got, tc.want, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
			t.Errorf("ParseRule(%q) (-got +want):\n%s", tc.in, d)
		}
		// String renders a form that parses back to the same rule.
		back, err := ParseRule(got.String())
		if err != nil || back != got {
			t.Errorf("round trip of %q via %q: %v %+v", tc.in, got.String(), err, back)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "need at least"},
		{"ingress 100", "need at least"},
		{"sideways 100 accept", `direction "sideways"`},
		{"ingress x accept", "not a number"},
		{"ingress 0 accept", "rule number out of range"},
		{"ingress 32767 accept", "rule number out of range"},
		{"ingress 100 allow", `action "allow"`},
		{"ingress 100 accept tcp tcp", "protocol given twice"},
		{"ingress 100 accept 256", "unknown word"},
		{"ingress 100 accept bogus", "unknown word"},
		{"ingress 100 accept icmp dst-port 1", "port ranges need protocol tcp"},
		{"ingress 100 accept dst-port 1", "port ranges need protocol tcp"},
		{"ingress 100 accept tcp dst-port 2000-1000", "from port 2000 above to port 1000"},
		{"ingress 100 accept tcp dst-port 70000", "0-65535"},
		{"ingress 100 accept tcp dst-port 1-70000", "0-65535"},
		{"ingress 100 accept tcp dst-port -1", "0-65535"},
		{"ingress 100 accept tcp dst-port", "needs N or N-M"},
		{"ingress 100 accept tcp src-port 1 src-port 2", "given twice"},
		{"ingress 100 accept src 10.0.0.0/33", "not a CIDR"},
		{"ingress 100 accept src", "needs a CIDR"},
		{"ingress 100 accept src nope", "not a CIDR"},
		{"ingress 100 accept src 10.0.0.0/8 dst ::/0", "different IP versions"},
		{"ingress 100 accept src 10.0.0.0/8 src 10.0.0.0/9", "src given twice"},
		{"ingress 100 accept proto", "proto needs"},
	}
	for _, tc := range tests {
		_, err := ParseRule(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRule(%q) error = %v, want containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParseRulesFilterErrors(t *testing.T) {
	many := make([]string, 11)
	for i := range many {
		many[i] = "ingress " + string(rune('1'+i%9)) + string(rune('0'+i/9)) + " accept"
	}
	tests := []struct {
		name  string
		rules []string
		want  error
	}{
		{"duplicate in direction", []string{"ingress 100 accept", "ingress 100 reject tcp"}, ErrDuplicateRule},
		{"same number both directions ok", []string{"ingress 100 accept", "egress 100 accept"}, nil},
		{"ten ok", many[:10], nil},
		{"eleven too many", many, ErrTooManyRules},
		{"quota counts both directions", append(append([]string{}, many[:6]...), "egress 1 accept", "egress 2 accept", "egress 3 accept", "egress 4 accept", "egress 5 accept"), ErrTooManyRules},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules(tc.rules, false)
			if !errorsIs(err, tc.want) {
				t.Errorf("ParseRules = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"ingress 100 accept tcp dst-port 443",
		"egress 200 reject udp src 10.0.0.0/8 dst-port 53-53",
		"ingress 300 accept all",
		"egress 5 accept proto icmpv6 dst 2001:db8::/32",
		"in 1 reject 17 sport 1-2 dport 3 src ::/0 dst ::1",
		"ingress 100 accept tcp dst-port 2000-1000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRule(%q) returned an invalid rule: %v", s, err)
		}
		back, err := ParseRule(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip %q -> %q: %v %+v != %+v", s, r.String(), err, back, r)
		}
	})
}
