package decode

import "encoding/binary"

// FlowPeek is what Peek reads of a frame: the fields of its innermost
// packet and mirror session that identify its flow, addresses as the two
// big-endian words of their 16-byte form (an IPv4 address as
// ::ffff:a.b.c.d, as netip.Addr.As16 gives it).
type FlowPeek struct {
	SrcHi, SrcLo     uint64
	DstHi, DstLo     uint64
	SrcPort, DstPort uint16
	Proto            uint8 // 6 or 17
	VNI              uint32
	GWLBEndpointID   uint64
	// OuterSrcLo is the low word of the session's outer source (an IPv4
	// address, so never 0); 0 for a plain frame.
	OuterSrcLo uint64
}

// Peek reads the flow of the common frame without decoding it: Ethernet
// (with at most one 802.1Q tag) around IPv4 (no options) or IPv6 (no
// extension headers), not a fragment, carrying TCP or UDP, either plain or
// as the AWS mirror delivers it (in VXLAN, or in GENEVE with IPv4/UDP/VXLAN
// inside, the outer frame as mirrorFast takes it). It reports ok only when
// Decode of the same frame returns no error and a packet with an IP
// version, not a fragment, of protocol Proto with those ports, addresses
// and session (TestPeekAgreesWithDecode): a parallel analysis deals frames
// to workers by it and fully decodes only a worker's own. Any other frame
// (tags, options, fragments, other protocols, tunnels, cut headers, other
// decoder settings) is ok false, for Decode.
func (d *Decoder) Peek(data []byte, link LinkType, origLen uint32, k *FlowPeek) bool {
	if link != LinkEthernet || d.cfg.NoDecap || d.cfg.DecapInner || d.slowOnly {
		return false
	}
	if origLen < uint32(len(data)) {
		origLen = uint32(len(data))
	}
	if len(data) >= 14+20+20 && binary.BigEndian.Uint16(data[12:14]) == etherIPv4 && data[14] == 0x45 && data[14+9] == protoTCP {
		// A TCP segment in IPv4 without options or a tag, what plain
		// captures are made of: peekFrame's conditions for it in one
		// pass (the first 54 bytes hold every header read here).
		b := data[14:]
		tot := int(binary.BigEndian.Uint16(b[2:4]))
		if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 || tot < 20 || tot > int(origLen)-14 {
			return false
		}
		// The TCP header, b[20:min(tot, len(b))], holds 20 bytes and
		// a data offset of at least 5 words.
		if min(tot, len(b)) < 40 || b[32]>>4 < 5 {
			return false
		}
		k.Proto = protoTCP
		k.SrcHi, k.SrcLo = 0, 0xffff<<32|uint64(binary.BigEndian.Uint32(b[12:16]))
		k.DstHi, k.DstLo = 0, 0xffff<<32|uint64(binary.BigEndian.Uint32(b[16:20]))
		k.SrcPort = binary.BigEndian.Uint16(b[20:22])
		k.DstPort = binary.BigEndian.Uint16(b[22:24])
		k.VNI, k.GWLBEndpointID, k.OuterSrcLo = 0, 0, 0
		return true
	}
	if len(data) < 14 {
		return false
	}
	if binary.BigEndian.Uint16(data[12:14]) == etherIPv4 && len(data) >= 14+28 && data[14+9] == protoUDP {
		// Perhaps a mirror packet: what mirrorFast takes.
		b := data[14:]
		if srcLo, dport, off, end, ok := peekUDP4(b, int(origLen)-14); ok && (dport == d.cfg.VXLANPort || dport == d.cfg.GENEVEPort) {
			if dport == d.cfg.GENEVEPort {
				return d.peekGeneve(b[off:end], k)
			}
			return peekVXLAN(b[off:end], srcLo, 0, k)
		}
	}
	if !peekFrame(data, int(origLen), true, k) {
		return false
	}
	if k.Proto == protoUDP {
		// A plain UDP datagram to a tunnel port is decapsulated (or
		// tried): Decode's business.
		switch k.DstPort {
		case d.cfg.VXLANPort, d.cfg.GENEVEPort:
			return false
		case d.cfg.GTPUPort, d.cfg.GREUDPPort:
			if k.DstPort != 0 {
				return false
			}
		}
	}
	k.VNI, k.GWLBEndpointID, k.OuterSrcLo = 0, 0, 0
	return true
}

// peekVXLAN is Peek of b, a VXLAN header and its frame, as vxlan decodes
// it (without DecapInner).
func peekVXLAN(b []byte, outerLo, gwlb uint64, k *FlowPeek) bool {
	if len(b) < 8 || b[0]&0x08 == 0 {
		return false
	}
	if !peekFrame(b[8:], 0, false, k) {
		return false
	}
	k.VNI = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	k.GWLBEndpointID, k.OuterSrcLo = gwlb, outerLo
	return true
}

// peekGeneve is Peek of b, a GENEVE header with IPv4/UDP/VXLAN inside, as
// geneve decodes it.
func (d *Decoder) peekGeneve(b []byte, k *FlowPeek) bool {
	if len(b) < 8 || b[0]>>6 != 0 || binary.BigEndian.Uint16(b[2:4]) != etherIPv4 {
		return false
	}
	hdr := 8 + int(b[0]&0x3f)*4
	if len(b) < hdr {
		return false
	}
	var gwlb uint64
	if o := b[8:hdr]; len(o) == 32 && binary.BigEndian.Uint32(o[0:4]) == 0x01080102 &&
		binary.BigEndian.Uint32(o[12:16]) == 0x01080202 && binary.BigEndian.Uint32(o[24:28]) == 0x01080301 {
		// What a Gateway Load Balancer sends (genevOptions' shortcut).
		gwlb = binary.BigEndian.Uint64(o[4:12])
	} else {
		var s Session
		if genevOptionList(o, &s) != nil {
			return false
		}
		gwlb = s.GWLBEndpointID
	}
	inner := b[hdr:]
	srcLo, dport, off, end, ok := peekUDP4(inner, int(^uint(0)>>1))
	if !ok || dport != d.cfg.VXLANPort {
		return false
	}
	return peekVXLAN(inner[off:end], srcLo, gwlb, k)
}

// peekUDP4 is udp4 returning the source address as its low word (an
// IPv4 address as ::ffff:a.b.c.d) and the payload's extent: the same
// conditions, the same span.
func peekUDP4(b []byte, wire int) (srcLo uint64, dport uint16, off, end int, ok bool) {
	if len(b) < 28 || b[0] != 0x45 || b[9] != protoUDP || binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot < 28 || tot > wire {
		return
	}
	end = min(tot, len(b))
	if end < 28 {
		return
	}
	if ul := int(binary.BigEndian.Uint16(b[24:26])); ul >= 8 && 20+ul < end {
		end = 20 + ul
	}
	return 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[12:16])), binary.BigEndian.Uint16(b[22:24]), 28, end, true
}

// peekFrame reads an Ethernet frame (at most one 802.1Q tag) with IPv4
// without options or IPv6 without extension headers, not fragmented,
// carrying a whole TCP or UDP header, as decodeFrame decodes it without
// error. wire is the frame's length on the wire when wireKnown (the
// outermost frame): an IP length past it is a bad length, left to Decode.
func peekFrame(data []byte, wire int, wireKnown bool, k *FlowPeek) bool {
	if len(data) < 14 {
		return false
	}
	off, et := 14, binary.BigEndian.Uint16(data[12:14])
	if et == etherVLAN {
		if len(data) < 18 {
			return false
		}
		off, et = 18, binary.BigEndian.Uint16(data[16:18])
	}
	b := data[off:]
	var l4 []byte
	switch et {
	case etherIPv4:
		if len(b) < 20 || b[0] != 0x45 || binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
			return false
		}
		tot := int(binary.BigEndian.Uint16(b[2:4]))
		if tot < 20 || (wireKnown && tot > wire-off) {
			return false
		}
		end := min(tot, len(b))
		k.Proto = b[9]
		k.SrcHi, k.SrcLo = 0, 0xffff<<32|uint64(binary.BigEndian.Uint32(b[12:16]))
		k.DstHi, k.DstLo = 0, 0xffff<<32|uint64(binary.BigEndian.Uint32(b[16:20]))
		l4 = b[20:end]
	case etherIPv6:
		if len(b) < 40 || b[0]>>4 != 6 {
			return false
		}
		pl := int(binary.BigEndian.Uint16(b[4:6]))
		tot := 40 + pl
		if pl == 0 || (wireKnown && tot > wire-off) {
			return false
		}
		end := min(tot, len(b))
		k.Proto = b[6]
		k.SrcHi, k.SrcLo = binary.BigEndian.Uint64(b[8:16]), binary.BigEndian.Uint64(b[16:24])
		k.DstHi, k.DstLo = binary.BigEndian.Uint64(b[24:32]), binary.BigEndian.Uint64(b[32:40])
		l4 = b[40:end]
	default:
		return false
	}
	switch k.Proto {
	case protoTCP:
		if len(l4) < 20 || l4[12]>>4 < 5 {
			return false
		}
	case protoUDP:
		if len(l4) < 8 {
			return false
		}
	default:
		return false
	}
	k.SrcPort = binary.BigEndian.Uint16(l4[0:2])
	k.DstPort = binary.BigEndian.Uint16(l4[2:4])
	return true
}
