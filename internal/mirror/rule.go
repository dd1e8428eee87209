package mirror

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Direction is a rule's traffic direction, relative to the source
// interface: Ingress is traffic the interface receives (its address is
// the destination), Egress is traffic it sends.
type Direction uint8

// Directions.
const (
	Ingress Direction = iota
	Egress
)

func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// Action is a rule's RuleAction.
type Action uint8

// Actions.
const (
	Accept Action = iota
	Reject
)

func (a Action) String() string {
	if a == Reject {
		return "reject"
	}
	return "accept"
}

// PortRange is a rule's SourcePortRange or DestinationPortRange. The zero
// value (Set false) matches every packet.
type PortRange struct {
	From, To uint16
	Set      bool
}

func (r PortRange) String() string {
	if r.From == r.To {
		return strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Rule is one traffic mirror filter rule.
type Rule struct {
	// ID is the TrafficMirrorFilterRuleId (empty for rules given on the
	// command line).
	ID        string
	Direction Direction
	Number    int
	Action    Action
	// HasProto false means Protocol was absent: every protocol matches.
	HasProto bool
	Proto    uint8
	// Src and Dst are the SourceCidrBlock and DestinationCidrBlock. An
	// invalid (zero) prefix matches every address of either family; AWS
	// always sets both, the command-line form may leave them out.
	Src, Dst netip.Prefix
	// SrcPorts and DstPorts match only TCP and UDP packets.
	SrcPorts, DstPorts PortRange
	Description        string
}

// Filter is a traffic mirror filter. Ingress and Egress are sorted by
// rule number; build it with NewFilter, a loader or ParseRules so that it
// is validated and sorted. Do not modify it after it is in use.
type Filter struct {
	ID          string
	Description string
	Ingress     []Rule
	Egress      []Rule
	// AmazonDNS is the amazon-dns network service.
	AmazonDNS bool
	// DNSResolvers are the addresses whose DNS traffic counts as Amazon
	// DNS: 169.254.169.253 and fd00:ec2::253 always, plus those the
	// caller adds (the VPC base + 2 address, which a filter cannot know).
	DNSResolvers []netip.Addr
}

// MaxRulesPerFilter is AWS's quota "10 rules per filter" (not
// adjustable). The quota page counts the filter's rules, so ingress and
// egress rules are counted together.
const MaxRulesPerFilter = 10

// MaxSessionsPerInterface is AWS's quota of sessions per source ENI.
const MaxSessionsPerInterface = 3

// Session number and PacketLength bounds (AWS API).
const (
	MinSessionNumber = 1
	MaxSessionNumber = 32766
	MinPacketLength  = 1
	MaxPacketLength  = 8500
)

// DefaultDNSResolver is the link-local address of the Amazon DNS
// resolver, reachable from every VPC.
var defaultDNSResolvers = [...]netip.Addr{
	netip.AddrFrom4([4]byte{169, 254, 169, 253}),
	netip.MustParseAddr("fd00:ec2::253"),
}

// DefaultDNSResolvers returns the Amazon DNS resolver addresses every VPC
// has (169.254.169.253 and fd00:ec2::253).
func DefaultDNSResolvers() []netip.Addr { return defaultDNSResolvers[:] }

// RuleError is a validation error for one rule.
type RuleError struct {
	Direction Direction
	Number    int
	Err       error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("%s rule %d: %v", e.Direction, e.Number, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Validation errors, for errors.Is.
var (
	ErrDuplicateRule   = errors.New("duplicate rule number")
	ErrTooManyRules    = errors.New("too many rules")
	ErrMixedFamilies   = errors.New("source and destination CIDR blocks are of different IP versions")
	ErrPortsNotTCPUDP  = errors.New("port ranges need protocol tcp (6) or udp (17)")
	ErrPortRange       = errors.New("bad port range")
	ErrRuleNumber      = errors.New("rule number out of range 1-32766")
	ErrSessionNumber   = errors.New("session number out of range 1-32766")
	ErrPacketLength    = errors.New("packet length out of range 1-8500")
	ErrTooManySessions = errors.New("too many sessions on one interface")
	ErrDuplicateSess   = errors.New("duplicate session number on one interface")
	ErrVNI             = errors.New("virtual network id out of range 0-16777215")
	ErrNoFilter        = errors.New("session's filter not found")
)

// Validate checks one rule against AWS's rules for a rule's fields.
func (r *Rule) Validate() error {
	wrap := func(err error) error { return &RuleError{r.Direction, r.Number, err} }
	// AWS's API reference gives no range for RuleNumber; we take the
	// 1-32766 of session numbers and network ACL rule numbers
	// (inferred, not documented).
	if r.Number < 1 || r.Number > 32766 {
		return wrap(ErrRuleNumber)
	}
	if r.Src.IsValid() && r.Dst.IsValid() && r.Src.Addr().Is4() != r.Dst.Addr().Is4() {
		return wrap(fmt.Errorf("%w (%s, %s)", ErrMixedFamilies, r.Src, r.Dst))
	}
	if (r.SrcPorts.Set || r.DstPorts.Set) && (!r.HasProto || (r.Proto != 6 && r.Proto != 17)) {
		return wrap(ErrPortsNotTCPUDP)
	}
	for _, pr := range []PortRange{r.SrcPorts, r.DstPorts} {
		if pr.Set && pr.From > pr.To {
			return wrap(fmt.Errorf("%w %d-%d: from port above to port", ErrPortRange, pr.From, pr.To))
		}
	}
	return nil
}

// Validate checks every rule, the uniqueness of rule numbers per
// direction and the rule quota, and sorts the rules by number.
func (f *Filter) Validate() error {
	if n := len(f.Ingress) + len(f.Egress); n > MaxRulesPerFilter {
		return fmt.Errorf("filter %s: %w: %d rules (%d ingress, %d egress), AWS allows %d per filter",
			f.name(), ErrTooManyRules, n, len(f.Ingress), len(f.Egress), MaxRulesPerFilter)
	}
	for _, rules := range [][]Rule{f.Ingress, f.Egress} {
		slices.SortStableFunc(rules, func(a, b Rule) int { return a.Number - b.Number })
		for i := range rules {
			if err := rules[i].Validate(); err != nil {
				return fmt.Errorf("filter %s: %w", f.name(), err)
			}
			if i > 0 && rules[i].Number == rules[i-1].Number {
				return fmt.Errorf("filter %s: %w", f.name(), &RuleError{rules[i].Direction, rules[i].Number, ErrDuplicateRule})
			}
		}
	}
	return nil
}

func (f *Filter) name() string {
	if f.ID == "" {
		return "(command line)"
	}
	return f.ID
}

// NewFilter builds and validates a filter from rules in any order and
// direction. extraResolvers are added to the default Amazon DNS
// resolver addresses (pass the VPC base + 2 address here).
func NewFilter(id string, rules []Rule, amazonDNS bool, extraResolvers ...netip.Addr) (*Filter, error) {
	f := &Filter{ID: id, AmazonDNS: amazonDNS}
	for _, r := range rules {
		if r.Direction == Egress {
			f.Egress = append(f.Egress, r)
		} else {
			f.Ingress = append(f.Ingress, r)
		}
	}
	f.SetDNSResolvers(extraResolvers...)
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// SetDNSResolvers sets the Amazon DNS resolver addresses to the defaults
// plus extra.
func (f *Filter) SetDNSResolvers(extra ...netip.Addr) {
	f.DNSResolvers = append(append([]netip.Addr(nil), defaultDNSResolvers[:]...), extra...)
}

// Rules returns the filter's rules of direction d, sorted by number.
func (f *Filter) Rules(d Direction) []Rule {
	if d == Egress {
		return f.Egress
	}
	return f.Ingress
}

// String renders the rule in the command-line form ParseRule reads.
func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d %s", r.Direction, r.Number, r.Action)
	if r.HasProto {
		b.WriteByte(' ')
		b.WriteString(ProtoName(r.Proto))
	} else {
		b.WriteString(" all")
	}
	if r.Src.IsValid() {
		b.WriteString(" src ")
		b.WriteString(r.Src.String())
	}
	if r.Dst.IsValid() {
		b.WriteString(" dst ")
		b.WriteString(r.Dst.String())
	}
	if r.SrcPorts.Set {
		b.WriteString(" src-port ")
		b.WriteString(r.SrcPorts.String())
	}
	if r.DstPorts.Set {
		b.WriteString(" dst-port ")
		b.WriteString(r.DstPorts.String())
	}
	return b.String()
}

// ProtoName returns the short name of an IANA protocol number, or the
// number.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

var protoNames = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "ipv6-icmp": 58, "gre": 47, "esp": 50, "sctp": 132}
