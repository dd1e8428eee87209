package decode

import (
	"encoding/binary"
	"net/netip"
)

// GRE protocol types the decoder follows.
const (
	greERSPAN2 = 0x88BE // ERSPAN type II (type I when the GRE sequence number is absent)
	greERSPAN3 = 0x22EB // ERSPAN type III
)

// gre decodes b, a GRE header (RFC 2784/2890) and what it carries: an
// ERSPAN type I/II/III mirror packet, an Ethernet frame (0x6558) or an IP
// packet. The session is the outer source plus the ERSPAN session id, or
// the GRE key when there is one (NVGRE's VSID), exposed in Session.VNI
// like a VXLAN VNI; Encap says which. Like VXLAN, what is inside is not
// decapsulated further. sport is the outer UDP source port for GRE over
// UDP (RFC 8086), 0 for GRE over IP.
//
// A GRE packet the decoder does not follow (version 1, PPTP's enhanced
// GRE; source routing; a payload other than IP, Ethernet or ERSPAN such
// as MPLS or PPP) is left as the outer packet it is, without error.
func (d *Decoder) gre(b []byte, src, dst netip.Addr, sport uint16, missing uint32, cut bool, p *Packet) error {
	if len(b) < 4 {
		return nil // the outer packet, its GRE header cut: counted as it is
	}
	fl := binary.BigEndian.Uint16(b[0:2])
	proto := binary.BigEndian.Uint16(b[2:4])
	if fl&0x0007 != 0 || fl&0x4000 != 0 {
		return nil
	}
	switch proto {
	case etherIPv4, etherIPv6, etherTEB, greERSPAN2, greERSPAN3:
	default:
		return nil
	}
	*p = Packet{}
	p.Encap = EncapGRE
	p.Session.OuterSrc, p.Session.OuterDst = src, dst
	p.OuterSrcPort = sport
	h := 4
	if fl&0x8000 != 0 { // checksum present
		h += 4
	}
	if fl&0x2000 != 0 { // key present
		if len(b) < h+4 {
			return ErrShort
		}
		p.Session.VNI = binary.BigEndian.Uint32(b[h : h+4])
		p.Session.HasVNI = true
		h += 4
	}
	hasSeq := fl&0x1000 != 0
	if hasSeq {
		h += 4
	}
	if len(b) < h {
		return ErrShort
	}
	var link LinkType
	switch proto {
	case etherIPv4:
		link = LinkIPv4
	case etherIPv6:
		link = LinkIPv6
	case etherTEB:
		link = LinkEthernet
	case greERSPAN2:
		link = LinkEthernet
		p.Encap = EncapERSPAN2
		if hasSeq { // type II: an 8-byte ERSPAN header
			if len(b) < h+8 {
				return ErrShort
			}
			if b[h]>>4 != 1 {
				return ErrGRE
			}
			p.Session.VNI = uint32(binary.BigEndian.Uint16(b[h+2:h+4]) & 0x3ff)
			p.Session.HasVNI = true
			h += 8
		} else { // type I: Ethernet right after GRE
			p.Encap = EncapERSPAN1
			p.Session.VNI, p.Session.HasVNI = 0, true
		}
	case greERSPAN3:
		p.Encap = EncapERSPAN3
		if len(b) < h+12 {
			return ErrShort
		}
		if b[h]>>4 != 2 {
			return ErrGRE
		}
		p.Session.VNI = uint32(binary.BigEndian.Uint16(b[h+2:h+4]) & 0x3ff)
		p.Session.HasVNI = true
		ft := (b[h+10] >> 2) & 0x1f
		opt := b[h+11]&1 != 0
		h += 12
		if opt { // platform-specific subheader
			if len(b) < h+8 {
				return ErrShort
			}
			h += 8
		}
		switch ft {
		case 0:
			link = LinkEthernet
		case 2:
			link = LinkRaw
		default:
			return ErrGRE
		}
	}
	inner := b[h:]
	orig := uint32(len(inner))
	if cut {
		orig += missing
	}
	sess, enc, osp := p.Session, p.Encap, p.OuterSrcPort
	_, err := decodeFrame(inner, link, orig, false, p)
	p.Session, p.Encap, p.OuterSrcPort = sess, enc, osp
	return err
}
