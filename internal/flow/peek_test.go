package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// TestPeekHashEqualsPacketHash: the hash of a frame's raw fields (what
// decode.Peek reads) is PacketHash of the packet Decode makes of it, for
// IPv4, IPv6 and IPv4-mapped addresses, plain and in mirror sessions.
func TestPeekHashEqualsPacketHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], rng.Uint64())
		binary.BigEndian.PutUint64(b[8:], rng.Uint64())
		switch rng.IntN(3) {
		case 0:
			return netip.AddrFrom4([4]byte(b[12:16]))
		case 1:
			copy(b[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
		}
		return netip.AddrFrom16(b)
	}
	words := func(a netip.Addr) (hi, lo uint64) {
		b := a.As16()
		return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	}
	for i := range 100000 {
		var p decode.Packet
		p.IPVersion, p.L4 = 4, true
		p.Src, p.Dst = addr(), addr()
		p.SrcPort, p.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		p.Proto = []uint8{6, 17}[rng.IntN(2)]
		var k decode.FlowPeek
		if i%3 != 0 {
			p.Encap = decode.EncapVXLAN
			p.Session.OuterSrc = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			p.Session.VNI, p.Session.HasVNI = rng.Uint32()&0xffffff, true
			_, k.OuterSrcLo = words(p.Session.OuterSrc)
			k.VNI = p.Session.VNI
			if i%3 == 2 {
				p.Session.GWLBEndpointID, p.Session.HasGWLB = rng.Uint64(), true
				k.GWLBEndpointID = p.Session.GWLBEndpointID
			}
		}
		k.SrcHi, k.SrcLo = words(p.Src)
		k.DstHi, k.DstLo = words(p.Dst)
		k.SrcPort, k.DstPort, k.Proto = p.SrcPort, p.DstPort, p.Proto
		if got, want := PeekHash(&k), PacketHash(&p); got != want {
			t.Fatalf("packet %+v: PeekHash %x, PacketHash %x", p, got, want)
		}
	}
}
