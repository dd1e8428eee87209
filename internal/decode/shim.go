package decode

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes of the link-layer shims walked between the Ethernet header
// and the network header.
const (
	etherMPLS      = 0x8847 // MPLS unicast
	etherMPLSMC    = 0x8848 // MPLS multicast
	etherPPPoE     = 0x8864 // PPPoE session stage
	etherPBB       = 0x88E7 // 802.1ah I-TAG (provider backbone bridging)
	etherVNTag     = 0x8926 // Cisco VN-Tag
	etherFabricPth = 0x8903 // Cisco FabricPath
)

// maxShims bounds the shim headers walked (VLAN tags, MPLS labels, ...).
const maxShims = 16

// walkL2 walks what may sit between an Ethernet (or SLL) header and the
// network header: 802.1Q/802.1ad tags, MPLS labels, PPPoE, LLC/SNAP,
// 802.1ah, VN-Tag and FabricPath. off is where et's payload starts. It
// returns where the network header starts and its EtherType (0x0800,
// 0x86DD, or another for a non-IP frame). It does not allocate.
func walkL2(data []byte, off int, et uint16, p *Packet) (int, uint16, error) {
	tags := 0
	for n := 0; ; n++ {
		if n == maxShims {
			return off, et, ErrVLANDepth
		}
		switch {
		case et == etherVLAN || et == etherQinQ || et == etherQinQ2:
			if tags == maxVLANTags {
				return off, et, ErrVLANDepth
			}
			if len(data) < off+4 {
				return off, et, ErrShort
			}
			if int(p.NVLAN) < len(p.VLAN) {
				p.VLAN[p.NVLAN] = binary.BigEndian.Uint16(data[off:off+2]) & 0x0fff
				p.NVLAN++
			}
			tags++
			et = binary.BigEndian.Uint16(data[off+2 : off+4])
			off += 4
		case et == etherMPLS || et == etherMPLSMC:
			// Labels until the bottom of stack; then IP by its version
			// nibble (as Wireshark guesses), else a pseudowire (control
			// word 0 then Ethernet), else not IP.
			for {
				if len(data) < off+4 {
					return off, et, ErrShort
				}
				bos := data[off+2]&1 != 0
				off += 4
				if bos {
					break
				}
				if n++; n == maxShims {
					return off, et, ErrVLANDepth
				}
			}
			if len(data) <= off {
				return off, et, nil
			}
			switch data[off] >> 4 {
			case 4:
				return off, etherIPv4, nil
			case 6:
				return off, etherIPv6, nil
			case 0: // pseudowire control word, then an Ethernet frame
				if len(data) < off+4+14 {
					return off, et, nil
				}
				et = binary.BigEndian.Uint16(data[off+4+12 : off+4+14])
				off += 4 + 14
			default:
				return off, et, nil
			}
		case et == etherPPPoE:
			// ver/type(1) code(1) session(2) length(2), PPP protocol(2)
			if len(data) < off+8 {
				return off, et, ErrShort
			}
			switch binary.BigEndian.Uint16(data[off+6 : off+8]) {
			case 0x0021:
				return off + 8, etherIPv4, nil
			case 0x0057:
				return off + 8, etherIPv6, nil
			}
			return off + 8, et, nil // LCP, PAP, ...: not IP
		case et <= 1500:
			// An 802.3 length: LLC, with SNAP (AA AA 03, OUI, type) the
			// EtherType follows; other LLC frames (STP, ...) are not IP.
			if len(data) < off+8 || data[off] != 0xaa || data[off+1] != 0xaa || data[off+2] != 0x03 {
				return off, et, nil
			}
			et = binary.BigEndian.Uint16(data[off+6 : off+8])
			off += 8
		case et == etherPBB:
			// I-TAG (4), customer destination and source MAC, EtherType.
			if len(data) < off+18 {
				return off, et, ErrShort
			}
			et = binary.BigEndian.Uint16(data[off+16 : off+18])
			off += 18
		case et == etherVNTag:
			if len(data) < off+6 {
				return off, et, ErrShort
			}
			et = binary.BigEndian.Uint16(data[off+4 : off+6])
			off += 6
		case et == etherFabricPth:
			// FTag/TTL (2), then the classical Ethernet frame's MACs.
			if len(data) < off+16 {
				return off, et, ErrShort
			}
			et = binary.BigEndian.Uint16(data[off+14 : off+16])
			off += 16
		default:
			return off, et, nil
		}
	}
}

// ipip decodes b, an IP packet carried in IP (protocol 4 or 41).
func (d *Decoder) ipip(b []byte, src, dst netip.Addr, missing uint32, cut bool, p *Packet) error {
	*p = Packet{}
	p.Encap = EncapIPIP
	p.Session.OuterSrc, p.Session.OuterDst = src, dst
	orig := uint32(len(b))
	if cut {
		orig += missing
	}
	sess := p.Session
	_, err := decodeFrame(b, LinkRaw, orig, false, p)
	p.Session, p.Encap = sess, EncapIPIP
	return err
}

// gtpu decodes b, a GTPv1-U header (3GPP TS 29.281) and the IP packet of
// a G-PDU. Other messages (echo, error indication) are left as the outer
// UDP packet. The TEID is the session id (Session.VNI).
func (d *Decoder) gtpu(b []byte, src, dst netip.Addr, sport uint16, missing uint32, cut bool, p *Packet) error {
	if len(b) < 8 || b[0]>>5 != 1 || b[0]&0x10 == 0 || b[1] != 0xff {
		return nil // not a GTPv1-U G-PDU
	}
	*p = Packet{}
	p.Encap = EncapGTPU
	p.Session.OuterSrc, p.Session.OuterDst = src, dst
	p.Session.VNI, p.Session.HasVNI = binary.BigEndian.Uint32(b[4:8]), true
	p.OuterSrcPort = sport
	h := 8
	if b[0]&0x07 != 0 { // sequence number, N-PDU number, extension header
		if len(b) < 12 {
			return ErrShort
		}
		next := b[11]
		h = 12
		for n := 0; next != 0; n++ {
			if n == maxShims {
				return ErrGTPU
			}
			if len(b) < h+1 {
				return ErrShort
			}
			l := int(b[h]) * 4
			if l == 0 {
				return ErrGTPU
			}
			if len(b) < h+l {
				return ErrShort
			}
			next = b[h+l-1]
			h += l
		}
	}
	inner := b[h:]
	orig := uint32(len(inner))
	if cut {
		orig += missing
	}
	sess, osp := p.Session, p.OuterSrcPort
	_, err := decodeFrame(inner, LinkRaw, orig, false, p)
	p.Session, p.Encap, p.OuterSrcPort = sess, EncapGTPU, osp
	return err
}
