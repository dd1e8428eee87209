package decode

// Config selects which UDP ports carry tunnels. The zero value is not
// useful; start from DefaultConfig.
type Config struct {
	// VXLANPort is the UDP destination port of VXLAN (AWS: 4789).
	VXLANPort uint16
	// GENEVEPort is the UDP destination port of GENEVE (GWLB: 6081).
	GENEVEPort uint16
	// GTPUPort is the UDP destination port of GTP-U (2152); 0 turns it off.
	GTPUPort uint16
	// GREUDPPort is the UDP destination port of GRE over UDP (RFC 8086:
	// 4754); 0 turns it off.
	GREUDPPort uint16
	// NoGRE leaves GRE (IP protocol 47) packets undecoded: GRE and ERSPAN
	// are followed by default.
	NoGRE bool
	// DecapInner also opens a VXLAN (UDP 4789 or 8472) or GENEVE (6081)
	// overlay inside a VXLAN mirror session: the pods' flows of a
	// mirrored Kubernetes node, with Session.OverlayVNI set. Off by
	// default: the inner frame is what the mirrored ENI saw.
	DecapInner bool
	// NoDecap turns decapsulation off: tunnel packets are reported as the
	// outer UDP packets they are.
	NoDecap bool
}

// DefaultConfig returns the AWS ports.
func DefaultConfig() Config {
	return Config{VXLANPort: 4789, GENEVEPort: 6081, GREUDPPort: 4754, GTPUPort: 2152}
}

// Error is a decode failure. It is a small value so that returning one
// does not allocate; callers count them by kind.
type Error uint8

const (
	ErrShort       Error = iota + 1 // a header ran past the captured bytes (or, for UDP/ICMP, the IP payload)
	ErrLinkType                     // link type not supported
	ErrIPVersion                    // IP version nibble is neither 4 nor 6
	ErrIPHeader                     // bad IPv4 IHL / total length smaller than header
	ErrExtHeader                    // IPv6 extension header chain malformed or too long
	ErrTCPHeader                    // TCP data offset < 20
	ErrVXLAN                        // VXLAN header without the I flag
	ErrGENEVE                       // GENEVE version/option length invalid
	ErrTunnelDepth                  // tunnels nested deeper than GENEVE+VXLAN (reserved: the layer grammar makes it unreachable, see doc.go)
	ErrVLANDepth                    // more than maxVLANTags VLAN tags
	ErrGRE                          // GRE version/routing or ERSPAN header invalid
	ErrNFLOG                        // NFLOG TLV length invalid
	ErrGTPU                         // GTP-U header invalid
	ErrGREProto                     // GRE received by a GRE listener carrying what is not followed (PPTP, MPLS, keepalives, ...)
	numErrors
)

// NumErrors is the number of Error kinds, for counter arrays indexed by Error.
const NumErrors = int(numErrors)

var errText = [...]string{
	0:              "ok",
	ErrShort:       "truncated header",
	ErrLinkType:    "unsupported link type",
	ErrIPVersion:   "bad IP version",
	ErrIPHeader:    "bad IPv4 header",
	ErrExtHeader:   "bad IPv6 extension header",
	ErrTCPHeader:   "bad TCP header",
	ErrVXLAN:       "VXLAN without I flag",
	ErrGENEVE:      "bad GENEVE header",
	ErrTunnelDepth: "tunnels nested too deep",
	ErrVLANDepth:   "too many VLAN tags",
	ErrGRE:         "bad GRE or ERSPAN header",
	ErrNFLOG:       "bad NFLOG TLV",
	ErrGTPU:        "bad GTP-U header",
	ErrGREProto:    "GRE protocol not followed",
}

func (e Error) Error() string {
	if int(e) < len(errText) {
		return errText[e]
	}
	return "decode error"
}

// Name is a short machine-readable name for JSON and metrics labels.
func (e Error) Name() string {
	switch e {
	case ErrShort:
		return "short"
	case ErrLinkType:
		return "link_type"
	case ErrIPVersion:
		return "ip_version"
	case ErrIPHeader:
		return "ipv4_header"
	case ErrExtHeader:
		return "ipv6_ext_header"
	case ErrTCPHeader:
		return "tcp_header"
	case ErrVXLAN:
		return "vxlan"
	case ErrGENEVE:
		return "geneve"
	case ErrTunnelDepth:
		return "tunnel_depth"
	case ErrVLANDepth:
		return "vlan_depth"
	case ErrGRE:
		return "gre"
	case ErrNFLOG:
		return "nflog"
	case ErrGTPU:
		return "gtpu"
	case ErrGREProto:
		return "gre_protocol"
	}
	return "other"
}
