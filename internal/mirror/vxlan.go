package mirror

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// VXLANPort is the UDP destination port AWS mirror sessions use.
const VXLANPort = 4789

// Outer header sizes of a mirror packet built by Encapsulator.
const (
	outerIPv4Len = 20
	outerUDPLen  = 8
	vxlanLen     = 8
	// EncapLen is the IPv4 + UDP + VXLAN header Encapsulator prepends.
	EncapLen = outerIPv4Len + outerUDPLen + vxlanLen
)

// Default outer UDP source port range: the IANA dynamic range.
const (
	DefaultSrcPortLo = 49152
	DefaultSrcPortHi = 65535
)

// Encapsulator builds mirror packets: an outer IPv4 header, a UDP header
// to the target's VXLAN port with a per-flow source port, a VXLAN header
// (flags 0x08, VNI) and the inner Ethernet frame. It is not safe for
// concurrent use (it numbers the IPv4 IDs).
type Encapsulator struct {
	src, dst     [4]byte
	dstPort      uint16
	portLo, span uint32
	udpChecksum  bool
	id           uint16
}

// NewEncapsulator returns an encapsulator from src to the target dst.
// Source ports are taken from [portLo, portHi].
func NewEncapsulator(src netip.Addr, dst netip.AddrPort, portLo, portHi uint16, udpChecksum bool) (*Encapsulator, error) {
	src, da := src.Unmap(), dst.Addr().Unmap()
	if !src.Is4() || !da.Is4() {
		return nil, errors.New("mirror source: outer addresses must be IPv4 (AWS mirrors from the ENI's primary IPv4 address)")
	}
	if portLo == 0 || portHi < portLo {
		return nil, errors.New("mirror source: bad outer source port range")
	}
	e := &Encapsulator{src: src.As4(), dst: da.As4(), dstPort: dst.Port(), portLo: uint32(portLo), span: uint32(portHi) - uint32(portLo) + 1, udpChecksum: udpChecksum}
	if e.dstPort == 0 {
		e.dstPort = VXLANPort
	}
	return e, nil
}

// SourcePort returns the outer UDP source port for the inner packet p: a
// hash of its 5-tuple (TCP, UDP, ICMP and ICMPv6, with ICMP type and code
// in place of ports) or of its 3-tuple (other protocols; non-IP frames
// hash their EtherType), mapped into the port range, as AWS does. The
// hash is not symmetric: the two directions of a flow usually differ, as
// with the kernel's vxlan device.
func (e *Encapsulator) SourcePort(p *decode.Packet) uint16 {
	const (
		offset = 2166136261
		prime  = 16777619
	)
	h := uint32(offset)
	mix := func(b byte) { h = (h ^ uint32(b)) * prime }
	if p.IPVersion == 0 {
		mix(byte(p.EtherType >> 8))
		mix(byte(p.EtherType))
	} else {
		s, d := p.Src.As16(), p.Dst.As16()
		for _, b := range s {
			mix(b)
		}
		for _, b := range d {
			mix(b)
		}
		mix(p.Proto)
		switch {
		case p.L4 && (p.Proto == protoTCP || p.Proto == protoUDP):
			mix(byte(p.SrcPort >> 8))
			mix(byte(p.SrcPort))
			mix(byte(p.DstPort >> 8))
			mix(byte(p.DstPort))
		case p.L4 && (p.Proto == 1 || p.Proto == protoICMP6):
			mix(p.ICMPType)
			mix(p.ICMPCode)
		}
	}
	// Final avalanche so that the low bits the modulo keeps depend on
	// every input byte.
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	return uint16(e.portLo + h%e.span)
}

// Build writes the mirror packet for frame (already cut to PacketLength)
// into buf and returns it. buf must hold EncapLen + len(frame) bytes and
// 65535 at most; the caller owns buf and may reuse it once the packet is
// sent. Build does not allocate.
func (e *Encapsulator) Build(buf, frame []byte, vni uint32, sport uint16) ([]byte, error) {
	total := EncapLen + len(frame)
	if total > 65535 {
		return nil, errors.New("mirror packet larger than 65535 bytes")
	}
	if len(buf) < total {
		return nil, errors.New("mirror buffer too small")
	}
	b := buf[:total]
	ip := b[:outerIPv4Len]
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	e.id++
	binary.BigEndian.PutUint16(ip[4:], e.id)
	binary.BigEndian.PutUint16(ip[6:], 0) // DF clear, as the kernel's vxlan device
	ip[8] = 64
	ip[9] = protoUDP
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], e.src[:])
	copy(ip[16:20], e.dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
	udp := b[outerIPv4Len : outerIPv4Len+outerUDPLen]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], e.dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(total-outerIPv4Len))
	udp[6], udp[7] = 0, 0
	vx := b[outerIPv4Len+outerUDPLen : EncapLen]
	vx[0], vx[1], vx[2], vx[3] = 0x08, 0, 0, 0
	vx[4], vx[5], vx[6], vx[7] = byte(vni>>16), byte(vni>>8), byte(vni), 0
	copy(b[EncapLen:], frame)
	if e.udpChecksum {
		s := sum(e.src[:], 0)
		s = sum(e.dst[:], s)
		s += uint32(protoUDP) + uint32(total-outerIPv4Len)
		s = sum(b[outerIPv4Len:], s)
		c := ^fold(s)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}
	return b, nil
}

// sum adds b as big-endian 16-bit words to s (RFC 1071).
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		if s > 0x7fffffff {
			s = (s & 0xffff) + s>>16
		}
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = (s & 0xffff) + s>>16
	}
	return uint16(s)
}
