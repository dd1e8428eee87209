package mirror

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Outcome is what a filter does with a packet.
type Outcome uint8

// Outcomes.
const (
	// NoMatch: no rule of the packet's direction matched (or the
	// direction has no rules): not mirrored.
	NoMatch Outcome = iota
	// Accepted: an accept rule matched first: mirrored.
	Accepted
	// Rejected: a reject rule matched first: not mirrored.
	Rejected
	// AmazonDNSService: Amazon DNS traffic mirrored by the amazon-dns
	// network service, whatever the rules say.
	AmazonDNSService
	// Never: AWS never mirrors this packet (see Reason).
	Never
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	case AmazonDNSService:
		return "amazon-dns"
	case Never:
		return "never mirrored by AWS"
	}
	return "no matching rule"
}

// Reason says why AWS never mirrors a packet.
type Reason uint8

// Reasons. AWS documents ARP, DHCP, IMDS, NTP and Windows activation as
// never mirrored, and Amazon DNS unless the filter has amazon-dns. A VPC
// carries nothing but IP, so other non-IP frames (seen only in captures
// from outside a VPC) are never mirrored either.
const (
	ReasonNone Reason = iota
	ReasonARP
	ReasonNonIP
	ReasonDHCP
	ReasonIMDS
	ReasonNTP
	ReasonWindowsActivation
	ReasonAmazonDNS
	NumReasons
)

var reasonText = [NumReasons]string{"", "ARP", "non-IP", "DHCP", "IMDS (169.254.169.254)", "NTP (Amazon Time Sync 169.254.169.123)", "Windows activation (169.254.169.250-251)", "Amazon DNS without amazon-dns"}

var reasonName = [NumReasons]string{"", "arp", "non_ip", "dhcp", "imds", "ntp", "windows_activation", "amazon_dns"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonText[r]
	}
	return "unknown"
}

// Name is a short machine-readable name for JSON.
func (r Reason) Name() string {
	if r < NumReasons {
		return reasonName[r]
	}
	return "unknown"
}

// Verdict is the outcome of one filter for one packet. Rule points into
// the filter (valid as long as the filter) and is set for Accepted and
// Rejected.
type Verdict struct {
	Outcome Outcome
	Reason  Reason
	Rule    *Rule
}

// Mirrored reports whether the verdict mirrors the packet.
func (v Verdict) Mirrored() bool { return v.Outcome == Accepted || v.Outcome == AmazonDNSService }

// Well-known link-local service addresses of EC2.
var (
	addrIMDS4  = netip.AddrFrom4([4]byte{169, 254, 169, 254})
	addrIMDS6  = netip.MustParseAddr("fd00:ec2::254")
	addrNTP4   = netip.AddrFrom4([4]byte{169, 254, 169, 123})
	addrNTP6   = netip.MustParseAddr("fd00:ec2::123")
	addrKMS4a  = netip.AddrFrom4([4]byte{169, 254, 169, 250})
	addrKMS4b  = netip.AddrFrom4([4]byte{169, 254, 169, 251})
	addrKMS6a  = netip.MustParseAddr("fd00:ec2::250")
	addrKMS6b  = netip.MustParseAddr("fd00:ec2::251")
	etherARP   = uint16(0x0806)
	etherRARP  = uint16(0x8035)
	protoUDP   = uint8(17)
	protoTCP   = uint8(6)
	protoICMP6 = uint8(58)
)

// NeverMirrored returns why AWS never mirrors p, or ReasonNone. It does
// not cover Amazon DNS, which depends on the filter (Filter.Classify).
func NeverMirrored(p *decode.Packet) Reason {
	if p.IPVersion == 0 {
		if p.EtherType == etherARP || p.EtherType == etherRARP {
			return ReasonARP
		}
		return ReasonNonIP
	}
	if p.Proto == protoUDP && p.L4 {
		// DHCPv4 (67/68) and DHCPv6 (546/547).
		if (p.SrcPort == 67 || p.SrcPort == 68) && (p.DstPort == 67 || p.DstPort == 68) ||
			(p.SrcPort == 546 || p.SrcPort == 547) && (p.DstPort == 546 || p.DstPort == 547) {
			return ReasonDHCP
		}
	}
	for _, a := range [2]netip.Addr{p.Src, p.Dst} {
		switch a {
		case addrIMDS4, addrIMDS6:
			return ReasonIMDS
		case addrNTP4, addrNTP6:
			return ReasonNTP
		case addrKMS4a, addrKMS4b, addrKMS6a, addrKMS6b:
			return ReasonWindowsActivation
		}
	}
	return ReasonNone
}

// IsAmazonDNS reports whether p is traffic to or from one of the
// filter's Amazon DNS resolver addresses.
func (f *Filter) IsAmazonDNS(p *decode.Packet) bool {
	if p.IPVersion == 0 {
		return false
	}
	for _, a := range f.DNSResolvers {
		if p.Src == a || p.Dst == a {
			return true
		}
	}
	return false
}

// Classify evaluates the filter for p travelling in direction dir
// (relative to the source interface) with AWS's semantics. It allocates
// nothing.
func (f *Filter) Classify(p *decode.Packet, dir Direction) Verdict {
	if r := NeverMirrored(p); r != ReasonNone {
		return Verdict{Outcome: Never, Reason: r}
	}
	if f.IsAmazonDNS(p) {
		if f.AmazonDNS {
			return Verdict{Outcome: AmazonDNSService}
		}
		return Verdict{Outcome: Never, Reason: ReasonAmazonDNS}
	}
	rules := f.Ingress
	if dir == Egress {
		rules = f.Egress
	}
	for i := range rules {
		r := &rules[i]
		if r.matches(p) {
			if r.Action == Accept {
				return Verdict{Outcome: Accepted, Rule: r}
			}
			return Verdict{Outcome: Rejected, Rule: r}
		}
	}
	return Verdict{Outcome: NoMatch}
}

// Match reports whether the filter mirrors p in direction dir and, for a
// rule decision, the deciding rule (nil for no match, never-mirrored
// traffic and amazon-dns). It allocates nothing.
func (f *Filter) Match(p *decode.Packet, dir Direction) (accept bool, rule *Rule) {
	v := f.Classify(p, dir)
	return v.Mirrored(), v.Rule
}

// matches reports whether the rule's match fields all hold for p,
// ignoring its direction and action.
func (r *Rule) matches(p *decode.Packet) bool {
	if r.HasProto && p.Proto != r.Proto {
		return false
	}
	// Contains is false across families, so an IPv4 rule never matches
	// IPv6 packets and the reverse.
	if r.Src.IsValid() && !r.Src.Contains(p.Src) {
		return false
	}
	if r.Dst.IsValid() && !r.Dst.Contains(p.Dst) {
		return false
	}
	if r.SrcPorts.Set || r.DstPorts.Set {
		// Ports exist only in the first fragment; a rule with ports does
		// not match later fragments (our reading: AWS does not say).
		if !p.L4 || (p.Proto != protoTCP && p.Proto != protoUDP) {
			return false
		}
		if r.SrcPorts.Set && (p.SrcPort < r.SrcPorts.From || p.SrcPort > r.SrcPorts.To) {
			return false
		}
		if r.DstPorts.Set && (p.DstPort < r.DstPorts.From || p.DstPort > r.DstPorts.To) {
			return false
		}
	}
	return true
}

// Session is a traffic mirror session.
type Session struct {
	ID          string // TrafficMirrorSessionId
	TargetID    string // TrafficMirrorTargetId
	FilterID    string // TrafficMirrorFilterId
	ENI         string // NetworkInterfaceId of the source
	Description string
	Number      int // SessionNumber 1-32766, 1 first
	VNI         uint32
	HasVNI      bool
	// PacketLength is the number of bytes mirrored after the VXLAN
	// header (inner Ethernet header included); 0 mirrors whole packets.
	PacketLength int
	Filter       *Filter
}

func (s *Session) name() string {
	if s.ID != "" {
		return s.ID
	}
	return fmt.Sprintf("number %d", s.Number)
}

// Sessions are the sessions of a source interface, sorted by session
// number (lowest, i.e. highest priority, first). Validate sorts them.
type Sessions []*Session

// Validate checks session numbers, the per-interface quota and
// uniqueness, and sorts the sessions by interface and number.
func (ss Sessions) Validate() error {
	slices.SortStableFunc(ss, func(a, b *Session) int {
		return cmp.Or(cmp.Compare(a.ENI, b.ENI), cmp.Compare(a.Number, b.Number))
	})
	perENI := 0
	for i, s := range ss {
		if s.Number < MinSessionNumber || s.Number > MaxSessionNumber {
			return fmt.Errorf("session %s: %w: %d", s.name(), ErrSessionNumber, s.Number)
		}
		if s.PacketLength != 0 && (s.PacketLength < MinPacketLength || s.PacketLength > MaxPacketLength) {
			return fmt.Errorf("session %s: %w: %d", s.name(), ErrPacketLength, s.PacketLength)
		}
		if s.VNI > 1<<24-1 {
			return fmt.Errorf("session %s: %w: %d", s.name(), ErrVNI, s.VNI)
		}
		if s.Filter == nil {
			return fmt.Errorf("session %s: %w", s.name(), ErrNoFilter)
		}
		if i > 0 && ss[i-1].ENI == s.ENI {
			perENI++
			if ss[i-1].Number == s.Number {
				return fmt.Errorf("session %s: %w: %d on %s", s.name(), ErrDuplicateSess, s.Number, eniName(s.ENI))
			}
		} else {
			perENI = 1
		}
		if perENI > MaxSessionsPerInterface {
			return fmt.Errorf("%w: %s has more than %d sessions, AWS allows %d per source interface",
				ErrTooManySessions, eniName(s.ENI), MaxSessionsPerInterface, MaxSessionsPerInterface)
		}
	}
	return nil
}

func eniName(eni string) string {
	if eni == "" {
		return "the interface"
	}
	return eni
}

// Select returns the session that mirrors p (the lowest-numbered one
// whose filter accepts it; each packet is mirrored at most once) and the
// accepting rule (nil when amazon-dns mirrored it). It returns nil, nil
// when no session mirrors p. All sessions must belong to one interface.
// It allocates nothing.
func (ss Sessions) Select(p *decode.Packet, dir Direction) (*Session, *Rule) {
	s, v := ss.SelectVerdict(p, dir)
	return s, v.Rule
}

// SelectVerdict is Select with the full verdict. When no session mirrors
// p, the verdict is that of the first (highest-priority) session, or
// Never for traffic AWS never mirrors.
func (ss Sessions) SelectVerdict(p *decode.Packet, dir Direction) (*Session, Verdict) {
	var first Verdict
	for i, s := range ss {
		v := s.Filter.Classify(p, dir)
		if v.Mirrored() {
			return s, v
		}
		if i == 0 {
			first = v
			if v.Outcome == Never && v.Reason != ReasonAmazonDNS {
				return nil, v
			}
		}
	}
	return nil, first
}

// Mirrored reports whether any session mirrors p. It allocates nothing.
func (ss Sessions) Mirrored(p *decode.Packet, dir Direction) bool {
	s, _ := ss.SelectVerdict(p, dir)
	return s != nil
}
