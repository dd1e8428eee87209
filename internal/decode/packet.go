package decode

import "net/netip"

// LinkType is the link-layer header type of a captured frame, with the
// values of the pcap LINKTYPE_ registry.
type LinkType uint16

// Link types mirrorscope decodes.
const (
	LinkEthernet  LinkType = 1   // LINKTYPE_ETHERNET
	LinkRaw       LinkType = 101 // LINKTYPE_RAW: IPv4 or IPv6, no link header
	LinkLinuxSLL  LinkType = 113 // LINKTYPE_LINUX_SLL (tcpdump -i any)
	LinkIPv4      LinkType = 228 // LINKTYPE_IPV4
	LinkIPv6      LinkType = 229 // LINKTYPE_IPV6
	LinkLinuxSLL2 LinkType = 276 // LINKTYPE_LINUX_SLL2
	LinkNull      LinkType = 0   // LINKTYPE_NULL (BSD loopback)
	LinkNFLOG     LinkType = 239 // LINKTYPE_NFLOG (tcpdump -i nflog:N)
)

// Encap says how the innermost packet reached the capture point.
type Encap uint8

const (
	// EncapNone: a plain frame, as captured on a host.
	EncapNone Encap = iota
	// EncapVXLAN: an AWS mirror-session packet, Ethernet inside VXLAN.
	EncapVXLAN
	// EncapGENEVE: behind a Gateway Load Balancer, GENEVE carrying IP
	// (usually an inner VXLAN mirror packet, giving EncapGENEVEVXLAN).
	EncapGENEVE
	// EncapGENEVEVXLAN: GENEVE around VXLAN around Ethernet.
	EncapGENEVEVXLAN
	// EncapGRE: GRE (over IP, or over UDP 4754) around Ethernet or IP;
	// Session.VNI is the GRE key when present.
	EncapGRE
	// EncapERSPAN1, EncapERSPAN2, EncapERSPAN3: an ERSPAN type I, II or
	// III mirror packet (GRE protocol 0x88BE without / with a sequence
	// number, 0x22EB); Session.VNI is the ERSPAN session id (0 for type
	// I, which has none).
	EncapERSPAN1
	EncapERSPAN2
	EncapERSPAN3
	// EncapIPIP: IP in IP (IPv4 in IPv6, 6in4, IPv4 in IPv4).
	EncapIPIP
	// EncapGTPU: GTP-U (UDP 2152); Session.VNI is the TEID.
	EncapGTPU
	numEncaps
)

// IsERSPAN says e is an ERSPAN type (I, II or III).
func (e Encap) IsERSPAN() bool { return e == EncapERSPAN1 || e == EncapERSPAN2 || e == EncapERSPAN3 }

// NumEncaps is the number of Encap values, for counter arrays.
const NumEncaps = int(numEncaps)

func (e Encap) String() string {
	switch e {
	case EncapNone:
		return "none"
	case EncapVXLAN:
		return "vxlan"
	case EncapGENEVE:
		return "geneve"
	case EncapGENEVEVXLAN:
		return "geneve+vxlan"
	case EncapGRE:
		return "gre"
	case EncapERSPAN1:
		return "erspan1"
	case EncapERSPAN2:
		return "erspan2"
	case EncapERSPAN3:
		return "erspan3"
	case EncapIPIP:
		return "ipip"
	case EncapGTPU:
		return "gtpu"
	}
	return "unknown"
}

// Session identifies the mirror session a packet came through: the outer
// headers that AWS sets. It is the zero value for plain frames.
type Session struct {
	OuterSrc netip.Addr // source ENI's primary IP (VXLAN outer source)
	OuterDst netip.Addr // the target's address
	VNI      uint32     // VXLAN network identifier = VirtualNetworkId
	HasVNI   bool
	// GWLB GENEVE options (class 0x0108), when present.
	GWLBEndpointID   uint64 // type 1
	GWLBAttachmentID uint64 // type 2
	GWLBFlowCookie   uint32 // type 3
	HasGWLB          bool
	// OverlayVNI is the VNI of a VXLAN/GENEVE overlay opened inside the
	// mirror session (Config.DecapInner): a Kubernetes node's pod traffic.
	OverlayVNI uint32
	HasOverlay bool
}

// TCP flag bits as in the TCP header (byte 13), with NS kept apart.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
	TCPEce uint8 = 0x40
	TCPCwr uint8 = 0x80
)

// SACKBlock is one SACK option block [Left, Right).
type SACKBlock struct{ Left, Right uint32 }

// TCP holds the TCP header fields and parsed options.
type TCP struct {
	Seq, Ack uint32
	Flags    uint8  // TCPFin ... TCPCwr
	Window   uint16 // raw, unscaled
	HdrLen   uint8  // data offset in bytes
	Urgent   uint16
	Checksum uint16

	HasMSS    bool
	MSS       uint16
	HasWScale bool
	WScale    uint8 // as sent; callers cap at 14 like Wireshark
	SACKPerm  bool
	HasTS     bool
	TSVal     uint32
	TSEcr     uint32
	NSACK     uint8 // blocks used in SACK
	SACK      [4]SACKBlock
	// BadOptions is set when the option list was malformed (a length
	// running past the header); the options before it are kept.
	BadOptions bool
}

// Packet is the decoded innermost packet plus the identity of the tunnel
// it came through. It is owned by the caller and reused across calls:
// Decode overwrites every field. Nothing in it points into the frame
// buffer, so it stays valid after the buffer is reused.
type Packet struct {
	Encap   Encap
	Session Session
	// OuterSrcPort is the outer UDP source port (AWS: a hash of the inner
	// 5-tuple), 0 for plain frames.
	OuterSrcPort uint16

	// Inner link layer.
	NVLAN     uint8     // entries of VLAN used (at most 2; further tags are skipped)
	VLAN      [2]uint16 // VLAN IDs, outermost first (802.1ad then 802.1Q)
	EtherType uint16    // innermost EtherType (0x0800, 0x86DD, ...; set for raw IP links too)
	// L2Len is the bytes of inner link header as captured: Ethernet +
	// tags, the Linux SLL (16) / SLL2 (20) or BSD loopback (4) header,
	// 0 for raw IP.
	L2Len uint16

	// Network layer. IPVersion is 0 when the frame carries no IP.
	IPVersion uint8
	Src, Dst  netip.Addr
	Proto     uint8  // IPv4 protocol / IPv6 final next header
	TTL       uint8  // TTL or hop limit
	TOS       uint8  // DSCP<<2 | ECN
	IPID      uint32 // IPv4 ID, or IPv6 fragment identification
	IPHdrLen  uint16 // IPv4 header incl. options, or IPv6 header + extension headers
	IPLen     uint32 // total length from the header (IPv4 total length, 40 + IPv6 payload length)
	Fragment  bool   // part of a fragmented datagram (offset != 0 or MF set)
	FragOff   uint16 // fragment offset in bytes
	MoreFrags bool
	IPOptions bool // IPv4 header had options
	// Fragments: FragDataLen is the bytes of the datagram this fragment
	// carries (from FragOff). A fragment starting in the first 60 bytes
	// of the datagram keeps its first bytes in FragHdr (FragHdrLen of
	// them): the transport header, FragL4Off bytes into the datagram
	// (IPv6 extension headers after the fragment header), is decoded
	// when a Reassembler has the whole datagram. A fragment has no L4
	// fields of its own.
	FragDataLen uint16
	FragHdrLen  uint8
	FragL4Off   uint8
	FragHdr     [60]byte
	// Reassembled: the packet is the last fragment of a datagram, with
	// the transport fields of the whole datagram (Reassembler.Add).
	Reassembled bool
	// BadIPLen: the IP header claimed more bytes than the frame has on
	// the wire; IPLen and PayloadLen were cut to the frame, as
	// Wireshark does ("IPv4 total length exceeds packet length").
	BadIPLen bool

	// Transport layer, valid when L4 is true (first fragment or unfragmented).
	L4                 bool
	SrcPort            uint16
	DstPort            uint16
	TCP                TCP
	ICMPType, ICMPCode uint8
	// PayloadLen is the L4 payload length according to the IP header
	// (IPLen - IPHdrLen - L4 header), whether or not it was captured.
	PayloadLen uint32

	// FrameLen is the length of the inner frame on the wire: L2Len +
	// IPLen for IP, otherwise the captured original length. It is what a
	// tc tbf shaper counts, and the same whether the frame was captured
	// on the host or arrived through a mirror session.
	//
	// The link header counted is the one on the wire, which differs from
	// L2Len for pseudo headers: a Linux SLL/SLL2 header of an Ethernet or
	// loopback device counts as 14 bytes (+ any VLAN tags kept after it),
	// of other devices and BSD loopback as 0. Inside a tunnel, a non-IP
	// frame's length is its captured length plus what the capture cut
	// from the outer frame.
	FrameLen uint32
	// CapLen is how many bytes of the inner packet (from its link header)
	// were present in the buffer.
	CapLen uint32
	// Truncated: fewer bytes captured than the IP header's total length
	// (snaplen, AWS PacketLength or target-MTU truncation). Checksums of
	// truncated packets are never verified.
	Truncated bool
}

// HasTCP reports whether p carries a decoded TCP header.
func (p *Packet) HasTCP() bool { return p.L4 && p.Proto == 6 }

// HasUDP reports whether p carries a decoded UDP header.
func (p *Packet) HasUDP() bool { return p.L4 && p.Proto == 17 }

// ECN returns the two ECN bits of the IP header (3 = CE).
func (p *Packet) ECN() uint8 { return p.TOS & 3 }
