package decode

import (
	"encoding/binary"
	"net/netip"
)

// tcp4Fast decodes data as the frame most captures are made of: Ethernet
// with at most one 802.1Q tag, IPv4 (with or without options) that is not
// a fragment, and a TCP header captured whole with its options. It fills
// exactly the fields decodeFrame fills for such a frame (link, network and
// transport fields, CapLen, FrameLen, Truncated) with the same values, in
// one straight pass: no link-type switch, no shim walk, no calls per layer,
// and no tunnel check (decap leaves TCP alone). It reports false, having
// written nothing, for every other frame, and for the rare shapes of this
// one that the general path treats specially (IPv4 total length 0 or
// beyond the wire length, options cut by the capture, a short or bad TCP
// header); the caller then decodes the frame the general way.
//
// wire is the frame's length on the wire when wireKnown (the outermost
// frame, as decodeFrame's origLen); inside a tunnel it is not used.
//
// The fields tcp4Fast does not write (the mirror session, fragment and
// UDP/ICMP fields, the TCP options not present) must already be zero in
// p: Decode clears p first; vxlan has cleared it and set the session.
// TestPlainFastPathEqualsGeneral and FuzzPlainFastPath hold it to the
// general path.
//
// On a bulk capture the general path's layer-by-layer decode of these
// frames was a fifth of analyze's instructions (docs/benchmarks.md,
// tenth session).
func tcp4Fast(data []byte, wire int, wireKnown bool, p *Packet) bool {
	if len(data) < 14+20+20 {
		return false
	}
	off, et := 14, binary.BigEndian.Uint16(data[12:14])
	var vlan uint16
	tagged := false
	if et == etherVLAN {
		if len(data) < 18+20+20 {
			return false
		}
		vlan = binary.BigEndian.Uint16(data[14:16]) & 0x0fff
		off, et, tagged = 18, binary.BigEndian.Uint16(data[16:18]), true
	}
	if et != etherIPv4 {
		return false
	}
	b := data[off:]
	vihl := b[0]
	ihl := int(vihl&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	// Version 4, a header of 20-60 bytes captured whole, not a fragment
	// (MF or an offset; DF is fine), TCP, a total length that holds the
	// header (0, TSO's, is the general path's) and is within the wire.
	if vihl>>4 != 4 || ihl < 20 || len(b) < ihl || b[9] != protoTCP ||
		binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 || tot < ihl || (wireKnown && tot > wire-off) {
		return false
	}
	end, cut := tot, false
	if len(b) < end {
		end, cut = len(b), true
	}
	t := b[ihl:end]
	if len(t) < 20 {
		return false
	}
	hl := int(t[12]>>4) * 4
	if hl < 20 || hl > len(t) {
		return false
	}

	p.CapLen = uint32(len(data))
	if tagged {
		p.NVLAN = 1
		p.VLAN[0] = vlan
	}
	p.EtherType = etherIPv4
	p.L2Len = uint16(off)

	p.IPVersion = 4
	p.TOS = b[1]
	p.IPID = uint32(binary.BigEndian.Uint16(b[4:6]))
	p.TTL = b[8]
	p.Proto = protoTCP
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.IPHdrLen = uint16(ihl)
	p.IPLen = uint32(tot)
	p.IPOptions = ihl > 20
	// decodeFrame: the link header on the wire (Ethernet and its tag)
	// plus the IP length; truncated when fewer bytes were captured.
	p.FrameLen = uint32(off + tot)
	p.Truncated = cut

	p.L4 = true
	tcpFixed(t, hl, p)
	tc := &p.TCP
	if o := t[20:hl]; len(o) == 12 && binary.BigEndian.Uint32(o[0:4]) == 0x0101080a {
		// NOP, NOP, timestamps: Linux's every segment after the
		// handshake (tcpOptions' own first case, without the call).
		tc.HasTS = true
		tc.TSVal = binary.BigEndian.Uint32(o[4:8])
		tc.TSEcr = binary.BigEndian.Uint32(o[8:12])
	} else if len(o) > 0 {
		tcpOptions(o, false, tc)
	}
	if n := tot - ihl - hl; n > 0 {
		p.PayloadLen = uint32(n)
	}
	return true
}

// mirrorTCP4Fast is mirrorFast, vxlan and tcp4Fast in one pass for what a
// VXLAN mirror capture is mostly made of: Ethernet without a tag, IPv4
// without options or fragmentation, UDP to the VXLAN port, a VXLAN header
// with the I flag, and a frame tcp4Fast takes. It gives the Packet those
// give (the outer headers only for the session's addresses, VNI and the
// outer source port) without their calls, argument passing and second
// clear of p. UDP to the GENEVE port it hands to geneveTCP4Fast, the same
// for the VXLAN mirror packet inside a Gateway Load Balancer's GENEVE. It
// reports false for any other frame, which mirrorFast then takes; p may
// then be cleared. The caller has checked what Decode checks before
// mirrorFast (an Ethernet frame of at least 34 bytes, EtherType IPv4,
// protocol UDP, decapsulation on).
//
// Without it the mirror path cost ~240 instructions a packet more than the
// plain one once tcp4Fast took the plain frames (callgrind, a tenth of the
// bench captures; docs/benchmarks.md, tenth session).
func (d *Decoder) mirrorTCP4Fast(data []byte, origLen uint32, p *Packet) bool {
	b := data[14:]
	// udp4's conditions.
	if len(b) < 28+8 || b[0] != 0x45 || binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return false
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot < 28 || tot > int(origLen)-14 {
		return false
	}
	end := min(tot, len(b))
	if ul := int(binary.BigEndian.Uint16(b[24:26])); ul >= 8 && 20+ul < end {
		end = 20 + ul
	}
	vx := b[28:end]
	if dport := binary.BigEndian.Uint16(b[22:24]); dport != d.cfg.VXLANPort {
		// mirrorFast's switch: VXLAN first, then GENEVE. Its own function
		// so that the VXLAN path below keeps its registers (a shared tail
		// with GENEVE's ids cost VXLAN ~20 instructions a packet).
		return dport == d.cfg.GENEVEPort && d.geneveTCP4Fast(vx, p)
	}
	if len(vx) < 8 || vx[0]&0x08 == 0 {
		return false
	}
	*p = Packet{}
	if !tcp4Fast(vx[8:], 0, false, p) {
		return false
	}
	p.Encap = EncapVXLAN
	p.Session.OuterSrc = netip.AddrFrom4([4]byte(b[12:16]))
	p.Session.OuterDst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Session.VNI = uint32(vx[4])<<16 | uint32(vx[5])<<8 | uint32(vx[6])
	p.Session.HasVNI = true
	p.OuterSrcPort = binary.BigEndian.Uint16(b[20:22])
	return true
}

// geneveTCP4Fast is geneve, udp4, vxlan and tcp4Fast in one pass for g,
// a UDP payload on the GENEVE port, when it is what a Gateway Load
// Balancer sends around a VXLAN mirror packet: GENEVE version 0 carrying
// IPv4 with exactly the GWLB's three options in order (genevOptions'
// shortcut: endpoint id, attachment id, flow cookie), around IPv4 without
// options or fragmentation, UDP to the VXLAN port, a VXLAN header with the
// I flag and a frame tcp4Fast takes. The inner IPv4 total length is not
// held to a wire length, as geneve does not. It fills p as geneve does
// (the mirror session is the VXLAN layer's: its outer addresses and
// source port; GENEVE's outer addresses and port, the GWLB's, are
// dropped; the GWLB ids come from GENEVE) and reports false for any
// other shape (other option lists, GENEVE around Ethernet or IPv6, inner
// IP options, VXLAN not on its port, ...), which geneve then decodes; p
// may then be cleared. g is only read, during the call.
//
// Without it decoding a GENEVE+VXLAN mirror packet of a TCP segment cost
// ~380 instructions more than decoding its VXLAN mirror packet
// (mirrorFast, geneve, genevOptions, udp4 and vxlan, the session passed
// from call to call); with it ~75 more (callgrind on a tenth of
// bulk.geneve.pcap and bulk.mon.pcap; docs/benchmarks.md, eleventh
// session).
func (d *Decoder) geneveTCP4Fast(g []byte, p *Packet) bool {
	// 8 bytes of GENEVE header, 32 of options, 28 of IPv4 and UDP, 8 of
	// VXLAN: every index below is within them.
	if len(g) < 40+28+8 || g[0] != 0x08 || binary.BigEndian.Uint16(g[2:4]) != etherIPv4 ||
		binary.BigEndian.Uint32(g[8:12]) != 0x01080102 || binary.BigEndian.Uint32(g[20:24]) != 0x01080202 ||
		binary.BigEndian.Uint32(g[32:36]) != 0x01080301 {
		return false
	}
	b := g[40:]
	if b[0] != 0x45 || b[9] != protoUDP || binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 ||
		binary.BigEndian.Uint16(b[22:24]) != d.cfg.VXLANPort {
		return false
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot < 28 {
		return false
	}
	end := min(tot, len(b))
	if ul := int(binary.BigEndian.Uint16(b[24:26])); ul >= 8 && 20+ul < end {
		end = 20 + ul
	}
	vx := b[28:end]
	if len(vx) < 8 || vx[0]&0x08 == 0 {
		return false
	}
	*p = Packet{}
	if !tcp4Fast(vx[8:], 0, false, p) {
		return false
	}
	p.Encap = EncapGENEVEVXLAN
	p.Session.OuterSrc = netip.AddrFrom4([4]byte(b[12:16]))
	p.Session.OuterDst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Session.VNI = uint32(vx[4])<<16 | uint32(vx[5])<<8 | uint32(vx[6])
	p.Session.HasVNI = true
	p.Session.GWLBEndpointID = binary.BigEndian.Uint64(g[12:20])
	p.Session.GWLBAttachmentID = binary.BigEndian.Uint64(g[24:32])
	p.Session.GWLBFlowCookie = binary.BigEndian.Uint32(g[36:40])
	p.Session.HasGWLB = true
	p.OuterSrcPort = binary.BigEndian.Uint16(b[20:22])
	return true
}
