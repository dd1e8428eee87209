package mirror

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// RuleGrammar documents the command-line rule form ParseRule reads.
const RuleGrammar = `direction number action [proto] [src CIDR] [dst CIDR] [src-port N[-M]] [dst-port N[-M]]
  direction  ingress | egress (relative to the source interface)
  number     rule number 1-32766, unique per direction; lowest is evaluated first
  action     accept | reject
  proto      [proto] tcp | udp | icmp | icmpv6 | gre | esp | sctp | 0-255 | all (default all)
  src, dst   IPv4 or IPv6 CIDR (a bare address means /32 or /128); both of one family
  src-port, dst-port  N or N-M, 0-65535, only with tcp or udp`

// ParseError is a syntax error in a command-line rule.
type ParseError struct {
	Rule string
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("rule %q: %s", e.Rule, e.Msg) }

// ParseRule parses one rule in the command-line form (see RuleGrammar),
// for example "ingress 100 accept tcp dst-port 443" or
// "egress 200 reject udp src 10.0.0.0/8 dst-port 53-53". It checks the
// rule's own fields (Rule.Validate); quotas and uniqueness are checked
// when the rules form a filter.
func ParseRule(s string) (Rule, error) {
	var r Rule
	perr := func(format string, a ...any) (Rule, error) {
		return Rule{}, &ParseError{Rule: s, Msg: fmt.Sprintf(format, a...)}
	}
	f := strings.Fields(s)
	if len(f) < 3 {
		return perr("need at least: direction number action (grammar: %s)", strings.SplitN(RuleGrammar, "\n", 2)[0])
	}
	switch strings.ToLower(f[0]) {
	case "ingress", "in":
		r.Direction = Ingress
	case "egress", "out":
		r.Direction = Egress
	default:
		return perr("direction %q: want ingress or egress", f[0])
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return perr("rule number %q: not a number", f[1])
	}
	r.Number = n
	switch strings.ToLower(f[2]) {
	case "accept":
		r.Action = Accept
	case "reject":
		r.Action = Reject
	default:
		return perr("action %q: want accept or reject", f[2])
	}
	seen := map[string]bool{}
	once := func(k string) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	for i := 3; i < len(f); i++ {
		tok := strings.ToLower(f[i])
		arg := func() (string, bool) {
			if i+1 >= len(f) {
				return "", false
			}
			i++
			return f[i], true
		}
		switch tok {
		case "src", "dst":
			if !once(tok) {
				return perr("%s given twice", tok)
			}
			a, ok := arg()
			if !ok {
				return perr("%s needs a CIDR", tok)
			}
			p, err := parseCIDR(a)
			if err != nil {
				return perr("%s %q: %v", tok, a, err)
			}
			if tok == "src" {
				r.Src = p
			} else {
				r.Dst = p
			}
		case "src-port", "dst-port", "sport", "dport":
			key := "src-port"
			if tok == "dst-port" || tok == "dport" {
				key = "dst-port"
			}
			if !once(key) {
				return perr("%s given twice", key)
			}
			a, ok := arg()
			if !ok {
				return perr("%s needs N or N-M", key)
			}
			pr, err := parsePortRange(a)
			if err != nil {
				return perr("%s %q: %v", key, a, err)
			}
			if key == "src-port" {
				r.SrcPorts = pr
			} else {
				r.DstPorts = pr
			}
		default:
			if tok == "proto" || tok == "protocol" {
				a, ok := arg()
				if !ok {
					return perr("proto needs a name or number")
				}
				tok = strings.ToLower(a)
			}
			if !once("proto") {
				return perr("protocol given twice (at %q)", f[i])
			}
			if tok == "all" || tok == "any" {
				continue
			}
			if p, ok := protoNames[tok]; ok {
				r.HasProto, r.Proto = true, p
				continue
			}
			v, err := strconv.ParseUint(tok, 10, 8)
			if err != nil {
				return perr("unknown word %q (want a protocol, src, dst, src-port or dst-port)", f[i])
			}
			r.HasProto, r.Proto = true, uint8(v)
		}
	}
	if err := r.Validate(); err != nil {
		return perr("%v", errors.Unwrap(err))
	}
	return r, nil
}

// ParseRules parses command-line rules into a validated filter.
func ParseRules(rules []string, amazonDNS bool, extraResolvers ...netip.Addr) (*Filter, error) {
	rs := make([]Rule, 0, len(rules))
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return NewFilter("", rs, amazonDNS, extraResolvers...)
}

func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not a CIDR block")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not a CIDR block or address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePortRange(s string) (PortRange, error) {
	from, to, dash := strings.Cut(s, "-")
	a, err := strconv.ParseUint(from, 10, 16)
	if err != nil {
		return PortRange{}, errors.New("port not a number in 0-65535")
	}
	b := a
	if dash {
		if b, err = strconv.ParseUint(to, 10, 16); err != nil {
			return PortRange{}, errors.New("port not a number in 0-65535")
		}
	}
	if a > b {
		return PortRange{}, fmt.Errorf("from port %d above to port %d", a, b)
	}
	return PortRange{From: uint16(a), To: uint16(b), Set: true}, nil
}
