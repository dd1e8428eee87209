package decode

import (
	"encoding/binary"
	"net/netip"
)

// Limits on header chains. They bound the work a hostile frame can cause
// while staying far above anything seen on a real network.
const (
	maxVLANTags   = 8 // tags walked; only the first two are recorded
	maxExtHeaders = 8 // IPv6 extension headers walked
)

// EtherTypes and IP protocol numbers the decoder looks at.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86DD
	etherVLAN  = 0x8100 // 802.1Q
	etherQinQ  = 0x88A8 // 802.1ad
	etherQinQ2 = 0x9100 // pre-standard QinQ
	etherTEB   = 0x6558 // transparent Ethernet bridging (GENEVE)

	protoICMP   = 1
	protoGRE    = 47
	protoIPIP   = 4
	protoIPv6   = 41
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Linux ARPHRD_ values that mean the SLL frame stood for an Ethernet
// frame on the wire (ARPHRD_ETHER, ARPHRD_LOOPBACK).
const (
	arphrdEther    = 1
	arphrdLoopback = 772
)

// Decoder decodes frames into Packets. It holds only its configuration,
// so one Decoder may be shared by goroutines; each needs its own Packet.
type Decoder struct {
	cfg Config
	// slowOnly turns the fast paths off (mirrorFast, tcp4Fast,
	// mirrorTCP4Fast, geneveTCP4Fast): tests compare them with the
	// general path.
	slowOnly bool
}

// New returns a Decoder for cfg.
func New(cfg Config) *Decoder { return &Decoder{cfg: cfg} }

// Config returns the configuration the decoder was built with.
func (d *Decoder) Config() Config { return d.cfg }

// Decode decodes one captured frame of link type link into p, going down
// to the innermost packet of AWS mirror tunnels unless cfg.NoDecap. data
// is the captured bytes, origLen the frame's length on the wire (the pcap
// orig_len; data may be shorter). p is overwritten entirely. On error p
// holds what was decoded before the failing header (for example the IP
// fields when the TCP header is cut), which callers may use for counting
// but not for flow analysis. Decode does not allocate and does not keep
// data.
func (d *Decoder) Decode(data []byte, link LinkType, origLen uint32, p *Packet) error {
	if origLen < uint32(len(data)) {
		origLen = uint32(len(data))
	}
	if link == LinkEthernet && !d.slowOnly && len(data) >= 14+20 {
		// The two shapes most frames have: a mirror packet (IPv4/UDP,
		// mirrorFast) or plain TCP over IPv4 (tcp4Fast, which also takes
		// one 802.1Q tag). Anything else, and whatever they refuse,
		// takes the general path below.
		if et := binary.BigEndian.Uint16(data[12:14]); et == etherIPv4 && data[14+9] == protoUDP {
			if !d.cfg.NoDecap {
				if d.mirrorTCP4Fast(data, origLen, p) {
					return nil
				}
				if err, ok := d.mirrorFast(data, origLen, p); ok {
					return err
				}
			}
		} else if et == etherIPv4 || et == etherVLAN {
			*p = Packet{}
			if tcp4Fast(data, int(origLen), true, p) {
				return nil
			}
		}
	}
	*p = Packet{}
	pay, err := decodeFrame(data, link, origLen, true, p)
	if err != nil || d.cfg.NoDecap {
		return err
	}
	return d.decap(data, origLen, pay, p)
}

// l4Span is the L4 payload of a decoded packet as offsets into the
// frame buffer: [off, end), where end is bounded by the captured bytes,
// the IP total length and the UDP length. cut says the captured bytes
// ended before the headers said the payload does.
type l4Span struct {
	off, end int
	cut      bool
}

// decap looks at a decoded outer packet and, when it is a tunnel to one of
// the configured destination ports, decodes what is inside. Only the
// destination port identifies a tunnel: AWS picks the source port as a
// flow hash, so matching either port (Suricata's mistake) would decap
// ordinary traffic that happens to use 4789 as its ephemeral port.
func (d *Decoder) decap(data []byte, origLen uint32, pay l4Span, p *Packet) error {
	if p.Proto == protoGRE && !p.Fragment && p.IPVersion != 0 && !d.cfg.NoGRE {
		missing := origLen - uint32(len(data))
		return d.gre(data[pay.off:pay.end], p.Src, p.Dst, 0, missing, pay.cut, p)
	}
	if (p.Proto == protoIPIP || p.Proto == protoIPv6) && !p.Fragment && p.IPVersion != 0 && pay.off < pay.end {
		// IPv4 in IPv6 (RFC 2473), 6in4 (RFC 4213), IPv4 in IPv4.
		missing := origLen - uint32(len(data))
		return d.ipip(data[pay.off:pay.end], p.Src, p.Dst, missing, pay.cut, p)
	}
	if !p.L4 || p.Proto != protoUDP || p.Fragment {
		// An outer fragment is not decapsulated: reassembly is out of
		// scope, and AWS does not fragment mirror packets.
		return nil
	}
	// Bytes the capture cut off the end of the frame; they belong to
	// the inner frame, whose length on the wire is what we report.
	missing := origLen - uint32(len(data))
	b := data[pay.off:pay.end]
	switch p.DstPort {
	case d.cfg.VXLANPort:
		return d.vxlan(b, p.Src, p.Dst, p.SrcPort, missing, pay.cut, EncapVXLAN, nil, p)
	case d.cfg.GENEVEPort:
		return d.geneve(b, p.Src, p.Dst, p.SrcPort, missing, pay.cut, p)
	case d.cfg.GTPUPort:
		if d.cfg.GTPUPort != 0 {
			return d.gtpu(b, p.Src, p.Dst, p.SrcPort, missing, pay.cut, p)
		}
	case d.cfg.GREUDPPort:
		if d.cfg.GREUDPPort != 0 {
			return d.gre(b, p.Src, p.Dst, p.SrcPort, missing, pay.cut, p)
		}
	}
	return nil
}

// DecodeVXLANPayload decodes the payload of a UDP datagram received on the
// VXLAN port (starting at the VXLAN header) into p, with the outer
// addresses and source port from the socket. The frame length and
// truncation logic applies to the inner frame: the listener receives
// whole datagrams, so truncation shows only as an inner IP total length
// larger than the bytes present. It does not allocate or keep payload.
func (d *Decoder) DecodeVXLANPayload(payload []byte, outerSrc, outerDst netip.Addr, outerSrcPort uint16, p *Packet) error {
	*p = Packet{}
	return d.vxlan(payload, outerSrc.Unmap(), outerDst.Unmap(), outerSrcPort, 0, false, EncapVXLAN, nil, p)
}

// DecodeGENEVEPayload is DecodeVXLANPayload for datagrams received on the
// GENEVE port (a Gateway Load Balancer target).
func (d *Decoder) DecodeGENEVEPayload(payload []byte, outerSrc, outerDst netip.Addr, outerSrcPort uint16, p *Packet) error {
	// A GWLB's VXLAN mirror packet of a TCP segment, in one pass; the
	// socket's addresses are GENEVE's, which geneve drops for it too.
	if !d.slowOnly && d.geneveTCP4Fast(payload, p) {
		return nil
	}
	*p = Packet{}
	return d.geneve(payload, outerSrc.Unmap(), outerDst.Unmap(), outerSrcPort, 0, false, p)
}

// DecodeGREPayload is DecodeVXLANPayload for GRE: payload starts at the
// GRE header, as a raw IPPROTO_GRE socket (after the outer IPv4 header)
// or a GRE-in-UDP socket (RFC 8086, port 4754; outerSrcPort then the UDP
// source port, else 0) receives it. ERSPAN I/II/III and GRE around
// Ethernet or IP are followed; anything else a GRE listener gets (PPTP's
// enhanced GRE, source routing, MPLS, keepalives) is ErrGREProto, with
// p.Encap EncapGRE and the outer addresses set, so the listener counts
// and skips it.
func (d *Decoder) DecodeGREPayload(payload []byte, outerSrc, outerDst netip.Addr, outerSrcPort uint16, p *Packet) error {
	*p = Packet{}
	src, dst := outerSrc.Unmap(), outerDst.Unmap()
	if len(payload) < 4 {
		p.Encap, p.Session.OuterSrc, p.Session.OuterDst, p.OuterSrcPort = EncapGRE, src, dst, outerSrcPort
		return ErrShort
	}
	err := d.gre(payload, src, dst, outerSrcPort, 0, false, p)
	if err == nil && p.Encap == EncapNone {
		*p = Packet{}
		p.Encap, p.Session.OuterSrc, p.Session.OuterDst, p.OuterSrcPort = EncapGRE, src, dst, outerSrcPort
		return ErrGREProto
	}
	return err
}

// vxlan decodes b, a VXLAN header and the Ethernet frame after it. gw,
// when not nil, carries the GENEVE (GWLB) ids when VXLAN sits inside
// GENEVE; it must not point into p. missing is the number of bytes the
// capture cut from the end of the outer frame, cut whether b ends early
// because of that.
//
// gw is a pointer and its fields are copied one by one: passing the
// 88-byte Session by value made the callee reload, 16 bytes at a time,
// what the caller had just stored 8 bytes at a time, and a CPU cannot
// forward such stores to the load (a stall of ~10 cycles per load, ~13 ns
// per GENEVE packet in profiles).
func (d *Decoder) vxlan(b []byte, src, dst netip.Addr, sport uint16, missing uint32, cut bool, enc Encap, gw *Session, p *Packet) error {
	*p = Packet{}
	p.Encap = enc
	p.Session.OuterSrc, p.Session.OuterDst = src, dst
	if gw != nil {
		p.Session.GWLBEndpointID = gw.GWLBEndpointID
		p.Session.GWLBAttachmentID = gw.GWLBAttachmentID
		p.Session.GWLBFlowCookie = gw.GWLBFlowCookie
		p.Session.HasGWLB = gw.HasGWLB
	}
	p.OuterSrcPort = sport
	if len(b) < 8 {
		return ErrShort
	}
	// RFC 7348: only the I flag must be set; reserved bits are ignored on
	// receipt. Rejecting them is the Suricata bug (OISF/suricata#13458).
	if b[0]&0x08 == 0 {
		return ErrVXLAN
	}
	p.Session.VNI = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	p.Session.HasVNI = true
	inner := b[8:]
	orig := uint32(len(inner))
	if cut {
		orig += missing
	}
	// The packet inside the mirror session is what the mirrored ENI saw.
	// By default it is not decapsulated further even when it is itself
	// VXLAN or GENEVE (a mirrored Kubernetes node running a VXLAN or
	// GENEVE overlay): those packets are the source's own traffic. With
	// DecapInner the overlay is opened too (the pods' flows), keeping the
	// mirror session and adding the overlay's VNI.
	if !d.slowOnly && tcp4Fast(inner, 0, false, p) {
		// The mirrored ENI's TCP segment: no overlay to open inside it.
		return nil
	}
	pay, err := decodeFrame(inner, LinkEthernet, orig, false, p)
	if err != nil || !d.cfg.DecapInner || !p.L4 || p.Proto != protoUDP || p.Fragment {
		return err
	}
	return d.overlay(inner[pay.off:pay.end], p)
}

// overlay decodes b, the UDP payload of a packet inside a mirror session,
// when it is a VXLAN (4789, or Linux's 8472: flannel, Cilium) or GENEVE
// (6081) overlay packet. Anything else leaves p as it is.
func (d *Decoder) overlay(b []byte, p *Packet) error {
	var (
		vni  uint32
		link LinkType
		hdr  int
	)
	switch p.DstPort {
	case 4789, 8472:
		if len(b) < 8 || b[0]&0x08 == 0 {
			return nil
		}
		vni, link, hdr = uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]), LinkEthernet, 8
	case 6081:
		if len(b) < 8 || b[0]>>6 != 0 {
			return nil
		}
		hdr = 8 + int(b[0]&0x3f)*4
		if len(b) < hdr {
			return nil
		}
		switch binary.BigEndian.Uint16(b[2:4]) {
		case etherTEB:
			link = LinkEthernet
		case etherIPv4:
			link = LinkIPv4
		case etherIPv6:
			link = LinkIPv6
		default:
			return nil
		}
		vni = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	default:
		return nil
	}
	sess, enc, osp := p.Session, p.Encap, p.OuterSrcPort
	inner := b[hdr:]
	*p = Packet{}
	_, err := decodeFrame(inner, link, uint32(len(inner)), false, p)
	p.Session, p.Encap, p.OuterSrcPort = sess, enc, osp
	p.Session.OverlayVNI, p.Session.HasOverlay = vni, true
	return err
}

// geneve decodes b, a GENEVE header with options and what it carries:
// an IP packet (GWLB), usually itself a VXLAN mirror packet, or an
// Ethernet frame (protocol 0x6558).
func (d *Decoder) geneve(b []byte, src, dst netip.Addr, sport uint16, missing uint32, cut bool, p *Packet) error {
	// p is written only once the layer inside is known: the VXLAN
	// mirror packet (the fast path below) overwrites all of it anyway.
	// Field by field, not a composite literal: the compiler built the
	// literal in a temporary and copied it 16 bytes at a time right after
	// storing its addresses 8 bytes at a time (a store-forwarding stall).
	var sess Session
	sess.OuterSrc, sess.OuterDst = src, dst
	if len(b) < 8 {
		genevHead(p, &sess, sport)
		return ErrShort
	}
	if b[0]>>6 != 0 {
		genevHead(p, &sess, sport)
		return ErrGENEVE
	}
	hdr := 8 + int(b[0]&0x3f)*4
	if len(b) < hdr {
		genevHead(p, &sess, sport)
		if cut {
			return ErrShort
		}
		return ErrGENEVE
	}
	proto := binary.BigEndian.Uint16(b[2:4])
	if err := genevOptions(b[8:hdr], &sess); err != nil {
		genevHead(p, &sess, sport)
		// As before the options were kept: the ids of a bad option
		// list are not reported.
		p.Session.GWLBEndpointID, p.Session.GWLBAttachmentID, p.Session.GWLBFlowCookie, p.Session.HasGWLB = 0, 0, 0, false
		return err
	}

	var link LinkType
	switch proto {
	case etherIPv4:
		link = LinkIPv4
	case etherIPv6:
		link = LinkIPv6
	case etherTEB:
		link = LinkEthernet
	default:
		// Another protocol (ARP, ...): a non-IP packet, not an error.
		genevHead(p, &sess, sport)
		p.EtherType = proto
		p.CapLen = uint32(len(b) - hdr)
		p.FrameLen = p.CapLen
		if cut {
			p.FrameLen += missing
		}
		return nil
	}
	inner := b[hdr:]
	orig := uint32(len(inner))
	if cut {
		orig += missing
	}
	if link == LinkIPv4 && !d.slowOnly {
		// AWS: the VXLAN mirror packet, by the fast path.
		if src, dst, sport, dport, pay, ok := udp4(inner, int(^uint(0)>>1)); ok && dport == d.cfg.VXLANPort {
			return d.vxlan(inner[pay.off:pay.end], src, dst, sport, missing, pay.cut, EncapGENEVEVXLAN, &sess, p)
		}
	}
	genevHead(p, &sess, sport)
	pay, err := decodeFrame(inner, link, orig, false, p)
	if err != nil {
		return err
	}
	// AWS: GENEVE around a VXLAN mirror packet. The mirror session is the
	// VXLAN layer (its outer source is the source ENI); the GWLB ids come
	// from GENEVE.
	if p.L4 && p.Proto == protoUDP && !p.Fragment && p.DstPort == d.cfg.VXLANPort {
		return d.vxlan(inner[pay.off:pay.end], p.Src, p.Dst, p.SrcPort, missing, pay.cut, EncapGENEVEVXLAN, &sess, p)
	}
	return nil
}

// genevHead resets p to what is known of a GENEVE packet before its
// payload is decoded.
func genevHead(p *Packet, sess *Session, sport uint16) {
	*p = Packet{}
	p.Encap = EncapGENEVE
	p.Session = *sess
	p.OuterSrcPort = sport
}

// mirrorFast decodes the common mirror packet without decoding its outer
// headers into p: an Ethernet frame (no VLAN tag) with an IPv4 header
// without options or fragmentation, carrying UDP to the VXLAN or GENEVE
// port. Those outer headers are read only for the session's addresses,
// the outer source port and where the tunnel payload lies, which is all
// the general path (decodeFrame, decap) keeps of them: the result is
// the same Packet and error. ok is false for any other frame, which the
// caller then decodes the general way. On the mirror path the outer
// decode cost as much as the inner one; this is what keeps a VXLAN
// mirror packet as cheap as the plain frame inside it.
func (d *Decoder) mirrorFast(data []byte, origLen uint32, p *Packet) (err error, ok bool) {
	if len(data) < 14 || binary.BigEndian.Uint16(data[12:14]) != etherIPv4 {
		return nil, false
	}
	src, dst, sport, dport, pay, ok := udp4(data[14:], int(origLen)-14)
	if !ok {
		return nil, false
	}
	missing := origLen - uint32(len(data))
	b := data[14+pay.off : 14+pay.end]
	switch dport {
	case d.cfg.VXLANPort:
		return d.vxlan(b, src, dst, sport, missing, pay.cut, EncapVXLAN, nil, p), true
	case d.cfg.GENEVEPort:
		return d.geneve(b, src, dst, sport, missing, pay.cut, p), true
	}
	return nil, false
}

// udp4 reads b as an IPv4 header of 20 bytes (no options), not a
// fragment, carrying a UDP header, with a total length within wire (the
// bytes on the wire from the IP header on) and the UDP header captured.
// It returns the addresses, ports and the UDP payload's span in b exactly
// as decodeIPv4 and decodeL4 compute it, and ok false for anything else.
func udp4(b []byte, wire int) (src, dst netip.Addr, sport, dport uint16, pay l4Span, ok bool) {
	if len(b) < 28 || b[0] != 0x45 || b[9] != protoUDP || binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot < 28 || tot > wire {
		return
	}
	end, cut := tot, false
	if len(b) < end {
		end, cut = len(b), true
	}
	if end < 28 {
		return
	}
	if ul := int(binary.BigEndian.Uint16(b[24:26])); ul >= 8 && 20+ul < end {
		end, cut = 20+ul, false
	}
	src = netip.AddrFrom4([4]byte(b[12:16]))
	dst = netip.AddrFrom4([4]byte(b[16:20]))
	sport = binary.BigEndian.Uint16(b[20:22])
	dport = binary.BigEndian.Uint16(b[22:24])
	return src, dst, sport, dport, l4Span{off: 28, end: end, cut: cut}, true
}

// genevOptions walks the GENEVE option TLVs in b and records the AWS GWLB
// options of class 0x0108 in s. An option whose length runs past the
// option area is an error; AWS options of an unexpected size are ignored.
func genevOptions(b []byte, s *Session) error {
	// What a Gateway Load Balancer sends: its three options, in order.
	if len(b) == 32 && binary.BigEndian.Uint32(b[0:4]) == 0x01080102 &&
		binary.BigEndian.Uint32(b[12:16]) == 0x01080202 && binary.BigEndian.Uint32(b[24:28]) == 0x01080301 {
		s.GWLBEndpointID = binary.BigEndian.Uint64(b[4:12])
		s.GWLBAttachmentID = binary.BigEndian.Uint64(b[16:24])
		s.GWLBFlowCookie = binary.BigEndian.Uint32(b[28:32])
		s.HasGWLB = true
		return nil
	}
	return genevOptionList(b, s)
}

// genevOptionList is genevOptions for any option list.
func genevOptionList(b []byte, s *Session) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return ErrGENEVE
		}
		n := 4 + int(b[3]&0x1f)*4
		if n > len(b) {
			return ErrGENEVE
		}
		if binary.BigEndian.Uint16(b[0:2]) == 0x0108 {
			v := b[4:n]
			switch {
			case b[2] == 1 && len(v) == 8:
				s.GWLBEndpointID = binary.BigEndian.Uint64(v)
				s.HasGWLB = true
			case b[2] == 2 && len(v) == 8:
				s.GWLBAttachmentID = binary.BigEndian.Uint64(v)
				s.HasGWLB = true
			case b[2] == 3 && len(v) == 4:
				s.GWLBFlowCookie = binary.BigEndian.Uint32(v)
				s.HasGWLB = true
			}
		}
		b = b[n:]
	}
	return nil
}

// decodeFrame decodes one frame starting with a header of type link,
// filling the link, network and transport fields of p and CapLen,
// FrameLen and Truncated. origLen is the frame's wire length (>= len(data)),
// used only for non-IP frames. It returns where the L4 payload lies in
// data, for tunnel decapsulation.
//
// wireKnown says origLen is the frame's length on the wire as the capture
// recorded it (the outermost frame). Then an IP length larger than the
// frame is a bad length and the frame is trusted, as Wireshark does.
// Inside a tunnel the inner frame's wire length is not known: a mirror
// session cuts inner packets on purpose (AWS PacketLength), and their IP
// header is the best length there is.
func decodeFrame(data []byte, link LinkType, origLen uint32, wireKnown bool, p *Packet) (l4Span, error) {
	p.CapLen = uint32(len(data))
	p.FrameLen = origLen
	var (
		off   int    // start of the network header
		et    uint16 // EtherType of what is at off
		wire  int    // link header bytes on the wire, for FrameLen
		ether bool   // the link header can carry VLAN tags
	)
	switch link {
	case LinkEthernet:
		if len(data) < 14 {
			return l4Span{}, ErrShort
		}
		off, et, ether = 14, binary.BigEndian.Uint16(data[12:14]), true
	case LinkRaw:
		if len(data) < 1 {
			return l4Span{}, ErrShort
		}
		switch data[0] >> 4 {
		case 4:
			et = etherIPv4
		case 6:
			et = etherIPv6
		default:
			return l4Span{}, ErrIPVersion
		}
	case LinkIPv4:
		et = etherIPv4
	case LinkIPv6:
		et = etherIPv6
	case LinkLinuxSLL:
		// pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
		if len(data) < 16 {
			return l4Span{}, ErrShort
		}
		off, et, ether = 16, binary.BigEndian.Uint16(data[14:16]), true
		if h := binary.BigEndian.Uint16(data[2:4]); h == arphrdEther || h == arphrdLoopback {
			wire = 14
		}
	case LinkLinuxSLL2:
		// protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
		if len(data) < 20 {
			return l4Span{}, ErrShort
		}
		off, et, ether = 20, binary.BigEndian.Uint16(data[0:2]), true
		if h := binary.BigEndian.Uint16(data[8:10]); h == arphrdEther || h == arphrdLoopback {
			wire = 14
		}
	case LinkNFLOG:
		// family(1) version(1) resource id(2), then TLVs (length and
		// type in host byte order, little-endian on every Linux that
		// writes these captures; padded to 4 bytes); type 9 is the
		// packet, starting at its IP header.
		if len(data) < 4 {
			return l4Span{}, ErrShort
		}
		switch data[0] {
		case 2:
			et = etherIPv4
		case 10:
			et = etherIPv6
		}
		i, found := 4, false
		for i+4 <= len(data) {
			l := int(binary.LittleEndian.Uint16(data[i : i+2]))
			typ := binary.LittleEndian.Uint16(data[i+2:i+4]) & 0x7fff
			if l < 4 {
				return l4Span{}, ErrNFLOG
			}
			if typ == 9 {
				off, found = i+4, true
				break
			}
			i += (l + 3) &^ 3
		}
		if !found {
			if i < len(data) || origLen > uint32(len(data)) {
				return l4Span{}, ErrShort
			}
			et = 0 // a log message without the packet
			off = len(data)
		}
	case LinkNull:
		// A 4-byte address family in the capturing host's byte order.
		if len(data) < 4 {
			return l4Span{}, ErrShort
		}
		off = 4
		af := binary.LittleEndian.Uint32(data[0:4])
		if af&0xffff0000 != 0 {
			af = binary.BigEndian.Uint32(data[0:4])
		}
		switch af {
		case 2:
			et = etherIPv4
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			et = etherIPv6
		}
	default:
		return l4Span{}, ErrLinkType
	}
	if ether {
		var err error
		if off, et, err = walkL2(data, off, et, p); err != nil {
			return l4Span{}, err
		}
		if link == LinkEthernet {
			wire = off
		} else if wire != 0 {
			wire += off - headerLen(link) // tags kept after an SLL header
		}
	}
	p.EtherType = et
	p.L2Len = uint16(off)
	var (
		pay l4Span
		err error
	)
	wireIP := int(^uint(0) >> 1)
	if wireKnown {
		wireIP = int(origLen) - off
	}
	switch et {
	case etherIPv4:
		pay, err = decodeIPv4(data, off, wireIP, p)
	case etherIPv6:
		pay, err = decodeIPv6(data, off, wireIP, p)
	default:
		// Not IP (ARP, LLDP, ...): nothing more to decode. The wire
		// length is the frame's original length with the capture's
		// link header replaced by the one on the wire.
		if d := uint32(off - wire); origLen >= d {
			p.FrameLen = origLen - d
		}
		return l4Span{}, nil
	}
	if p.IPVersion != 0 {
		// Set as soon as the IP header is known, also on L4 errors.
		p.FrameLen = uint32(wire) + p.IPLen
		p.Truncated = uint64(len(data)) < uint64(off)+uint64(p.IPLen)
	}
	return pay, err
}

// headerLen is the fixed link header length of link, before VLAN tags.
func headerLen(link LinkType) int {
	switch link {
	case LinkLinuxSLL:
		return 16
	case LinkLinuxSLL2:
		return 20
	}
	return 0
}

// decodeIPv4 decodes the IPv4 header at data[off:] and what follows.
// wire is how many bytes the frame has from off on the wire.
func decodeIPv4(data []byte, off, wire int, p *Packet) (l4Span, error) {
	b := data[off:]
	if len(b) < 20 {
		return l4Span{}, ErrShort
	}
	if b[0]>>4 != 4 {
		return l4Span{}, ErrIPVersion
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return l4Span{}, ErrIPHeader
	}
	if len(b) < ihl {
		return l4Span{}, ErrShort
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot == 0 {
		// TSO/GSO: a capture taken on the sending host before the NIC
		// segments a large TCP packet may carry total length 0 (the
		// NIC fills it in). The captured length is the best length
		// we have.
		tot = len(b)
	} else if tot < ihl {
		return l4Span{}, ErrIPHeader
	}
	if tot > wire && wire >= ihl {
		// The total length claims more than the frame has on the wire
		// (a bad length, or a tool that wrote the cut length as the
		// wire length). Like Wireshark, trust the frame.
		tot, p.BadIPLen = wire, true
	}
	p.IPVersion = 4
	p.TOS = b[1]
	p.IPID = uint32(binary.BigEndian.Uint16(b[4:6]))
	frag := binary.BigEndian.Uint16(b[6:8])
	p.MoreFrags = frag&0x2000 != 0
	p.FragOff = (frag & 0x1fff) * 8
	p.Fragment = p.MoreFrags || p.FragOff != 0
	p.TTL = b[8]
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.IPHdrLen = uint16(ihl)
	p.IPLen = uint32(tot)
	p.IPOptions = ihl > 20
	end, cut := tot, false
	if len(b) < end {
		end, cut = len(b), true
	}
	if p.Fragment {
		// A part of a datagram: its transport header, if any, is
		// decoded only once the datagram is whole (Reassembler).
		p.PayloadLen = uint32(tot - ihl)
		p.FragDataLen = uint16(tot - ihl)
		if p.FragOff < uint16(len(p.FragHdr)) && ihl < end {
			// The first 60 bytes of the datagram hold the transport
			// header, even when a tiny first fragment splits it.
			p.FragHdrLen = uint8(copy(p.FragHdr[:], b[ihl:end]))
		}
		return l4Span{}, nil
	}
	return decodeL4(data, off, off+ihl, off+end, off+tot, cut, p)
}

// decodeIPv6 decodes the IPv6 header at data[off:], its extension headers
// and what follows. wire is how many bytes the frame has from off on the
// wire.
func decodeIPv6(data []byte, off, wire int, p *Packet) (l4Span, error) {
	b := data[off:]
	if len(b) < 40 {
		return l4Span{}, ErrShort
	}
	if b[0]>>4 != 6 {
		return l4Span{}, ErrIPVersion
	}
	tot := 40 + int(binary.BigEndian.Uint16(b[4:6]))
	if tot == 40 && len(b) > 40 && b[6] != 59 {
		// Payload length 0 with bytes after the header: a jumbogram or
		// a BIG TCP/GSO capture. Use the captured length, as for IPv4
		// total length 0. (With No Next Header the bytes are Ethernet
		// padding.)
		tot = len(b)
	}
	if tot > wire && wire >= 40 {
		tot, p.BadIPLen = wire, true // as for IPv4: trust the frame
	}
	p.IPVersion = 6
	p.TOS = uint8(binary.BigEndian.Uint16(b[0:2]) >> 4)
	p.TTL = b[7]
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.IPLen = uint32(tot)
	end, cut := tot, false
	if len(b) < end {
		end, cut = len(b), true
	}
	// A header running past end is cut by the capture (ErrShort) or lies
	// about its length (ErrExtHeader).
	bad := ErrExtHeader
	if cut {
		bad = ErrShort
	}
	nh := b[6]
	h := 40
	fragEnd := 0  // end of the fragment header, when there is one
	first := true // first fragment or not a fragment: L4 follows
walk:
	for n := 0; ; n++ {
		var l int
		switch nh {
		case 0, 43, 60, 135: // hop-by-hop, routing, destination options, mobility
			if h+2 > end {
				p.IPHdrLen = uint16(h)
				p.Proto = nh
				return l4Span{}, bad
			}
			l = (int(b[h+1]) + 1) * 8
		case 51: // AH: length in 4-byte words minus 2
			if h+2 > end {
				p.IPHdrLen = uint16(h)
				p.Proto = nh
				return l4Span{}, bad
			}
			l = (int(b[h+1]) + 2) * 4
		case 44: // fragment
			l = 8
			if h+8 <= end {
				fo := binary.BigEndian.Uint16(b[h+2 : h+4])
				p.FragOff = fo & 0xfff8
				p.MoreFrags = fo&1 != 0
				p.Fragment = p.FragOff != 0 || p.MoreFrags
				p.IPID = binary.BigEndian.Uint32(b[h+4 : h+8])
				first = p.FragOff == 0
				fragEnd = h + 8
			}
		default: // an upper-layer header, ESP (50) or No Next Header (59)
			break walk
		}
		if n == maxExtHeaders {
			p.IPHdrLen = uint16(h)
			p.Proto = nh
			return l4Span{}, ErrExtHeader
		}
		if h+l > end {
			p.IPHdrLen = uint16(h)
			p.Proto = nh
			return l4Span{}, bad
		}
		nh = b[h]
		h += l
		if !first {
			// Later fragments carry the rest of the payload, not headers.
			break
		}
	}
	p.Proto = nh
	p.IPHdrLen = uint16(h)
	if !first {
		p.PayloadLen = uint32(tot - h)
		p.FragDataLen = uint16(tot - h)
		if p.FragOff < uint16(len(p.FragHdr)) && h < end {
			p.FragHdrLen = uint8(copy(p.FragHdr[:], b[h:end]))
		}
		return l4Span{}, nil
	}
	if p.Fragment {
		// The first fragment: keep the first bytes of the fragmentable
		// part (extension headers after the fragment header, then the
		// transport header) for the Reassembler.
		p.PayloadLen = uint32(tot - h)
		p.FragDataLen = uint16(tot - fragEnd)
		p.FragL4Off = uint8(h - fragEnd)
		if fragEnd < end {
			p.FragHdrLen = uint8(copy(p.FragHdr[:], b[fragEnd:end]))
		}
		return l4Span{}, nil
	}
	return decodeL4(data, off, off+h, off+end, off+tot, cut, p)
}

// tcpFixed fills p's ports and the fixed part of its TCP header from b,
// a TCP header of hl bytes (at least 20 of b are there); the general
// path and the fast ones share it. Kept within the inliner's budget (cost
// 80 of 80): a call here would cost the fast path what it saves.
func tcpFixed(b []byte, hl int, p *Packet) {
	t := &p.TCP
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	t.Seq = binary.BigEndian.Uint32(b[4:8])
	t.Ack = binary.BigEndian.Uint32(b[8:12])
	t.Flags = b[13]
	t.Window = binary.BigEndian.Uint16(b[14:16])
	t.Checksum = binary.BigEndian.Uint16(b[16:18])
	t.Urgent = binary.BigEndian.Uint16(b[18:20])
	t.HdrLen = uint8(hl)
}

// decodeL4 decodes the transport header at data[l4:end]. ipEnd is where
// the IP packet ends by its header (may be past end when cut).
func decodeL4(data []byte, ipOff, l4, end, ipEnd int, cut bool, p *Packet) (l4Span, error) {
	b := data[l4:end]
	var hl int
	switch p.Proto {
	case protoTCP:
		if len(b) < 20 {
			p.PayloadLen = uint32(ipEnd - l4)
			if cut {
				return l4Span{}, ErrShort
			}
			return l4Span{}, ErrTCPHeader
		}
		hl = int(b[12]>>4) * 4
		if hl < 20 {
			p.PayloadLen = uint32(ipEnd - l4)
			return l4Span{}, ErrTCPHeader
		}
		t := &p.TCP
		tcpFixed(b, hl, p)
		if hl > 20 {
			oe := hl
			if oe > len(b) {
				// Options cut by the capture are parsed as far as
				// present (Truncated says the rest is missing);
				// options longer than the IP packet are malformed.
				oe = len(b)
				if !cut {
					t.BadOptions = true
				}
			}
			tcpOptions(b[20:oe], cut && hl > len(b), t)
		}
		p.L4 = true
	case protoUDP:
		if len(b) < 8 {
			p.PayloadLen = uint32(ipEnd - l4)
			return l4Span{}, ErrShort
		}
		hl = 8
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.L4 = true
		// The tunnel payload ends at the UDP length when it is sane,
		// which drops Ethernet padding after short packets.
		if ul := int(binary.BigEndian.Uint16(b[4:6])); ul >= 8 && l4+ul < end {
			end, cut = l4+ul, false
		}
	case protoICMP, protoICMPv6:
		if len(b) < 8 {
			p.PayloadLen = uint32(ipEnd - l4)
			return l4Span{}, ErrShort
		}
		hl = 8
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.L4 = true
	}
	if n := ipEnd - l4 - hl; n > 0 {
		p.PayloadLen = uint32(n)
	}
	return l4Span{off: l4 + hl, end: end, cut: cut}, nil
}

// tcpOptions parses the TCP option list b into t. cut says b was cut
// short by the capture: an option running past it is then not malformed.
func tcpOptions(b []byte, cut bool, t *TCP) {
	// Fast path: NOP, NOP, timestamps is what Linux puts on every
	// segment after the handshake.
	if len(b) == 12 && b[0] == 1 && b[1] == 1 && b[2] == 8 && b[3] == 10 {
		t.HasTS = true
		t.TSVal = binary.BigEndian.Uint32(b[4:8])
		t.TSEcr = binary.BigEndian.Uint32(b[8:12])
		return
	}
	for i := 0; i < len(b); {
		k := b[i]
		if k == 0 { // end of option list
			return
		}
		if k == 1 { // no-operation
			i++
			continue
		}
		if i+1 >= len(b) {
			t.BadOptions = t.BadOptions || !cut
			return
		}
		l := int(b[i+1])
		if l < 2 {
			t.BadOptions = true
			return
		}
		if i+l > len(b) {
			t.BadOptions = t.BadOptions || !cut
			return
		}
		v := b[i+2 : i+l]
		switch k {
		case 2:
			if len(v) != 2 {
				t.BadOptions = true
				break
			}
			t.HasMSS, t.MSS = true, binary.BigEndian.Uint16(v)
		case 3:
			if len(v) != 1 {
				t.BadOptions = true
				break
			}
			t.HasWScale, t.WScale = true, v[0]
		case 4:
			if len(v) != 0 {
				t.BadOptions = true
				break
			}
			t.SACKPerm = true
		case 5:
			if len(v) == 0 || len(v)%8 != 0 {
				t.BadOptions = true
				break
			}
			t.NSACK = 0
			for j := 0; j+8 <= len(v) && int(t.NSACK) < len(t.SACK); j += 8 {
				t.SACK[t.NSACK] = SACKBlock{
					Left:  binary.BigEndian.Uint32(v[j : j+4]),
					Right: binary.BigEndian.Uint32(v[j+4 : j+8]),
				}
				t.NSACK++
			}
		case 8:
			if len(v) != 8 {
				t.BadOptions = true
				break
			}
			t.HasTS = true
			t.TSVal = binary.BigEndian.Uint32(v[0:4])
			t.TSEcr = binary.BigEndian.Uint32(v[4:8])
		}
		i += l
	}
}
