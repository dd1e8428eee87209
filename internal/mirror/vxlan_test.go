package mirror

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// innerFrame returns a real Ethernet/IPv4/TCP frame with payload bytes.
func innerFrame(sport, dport uint16, payload int) []byte {
	b := make([]byte, 14+20+20+payload)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{10, 77, 0, 2})
	copy(ip[16:], []byte{10, 77, 0, 1})
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:20], 0)))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	tcp[13] = 0x18
	for i := range payload {
		tcp[20+i] = byte(i)
	}
	return b
}

func TestEncapsulatorBuild(t *testing.T) {
	src, dst := netip.MustParseAddr("10.78.0.1"), netip.MustParseAddrPort("10.78.0.2:4789")
	e, err := NewEncapsulator(src, dst, 49152, 65535, true)
	if err != nil {
		t.Fatal(err)
	}
	dec := decode.New(decode.DefaultConfig())
	for _, cut := range []int{0, 60, 14} {
		frame := innerFrame(40000, 5201, 100)
		if cut > 0 {
			frame = frame[:cut]
		}
		var inner decode.Packet
		if err := decode.New(decode.Config{NoDecap: true}).Decode(innerFrame(40000, 5201, 100), decode.LinkEthernet, 0, &inner); err != nil {
			t.Fatal(err)
		}
		sport := e.SourcePort(&inner)
		if sport < 49152 {
			t.Fatalf("source port %d outside the range", sport)
		}
		buf := make([]byte, 2000)
		pkt, err := e.Build(buf, frame, 4242, sport)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) != EncapLen+len(frame) {
			t.Fatalf("len %d, want %d", len(pkt), EncapLen+len(frame))
		}
		if fold(sum(pkt[:20], 0)) != 0xffff {
			t.Errorf("bad IPv4 header checksum")
		}
		ps := sum(pkt[12:20], 0) + 17 + uint32(len(pkt)-20)
		if fold(sum(pkt[20:], ps)) != 0xffff {
			t.Errorf("bad UDP checksum")
		}
		var p decode.Packet
		err = dec.Decode(pkt, decode.LinkRaw, 0, &p)
		if cut == 14 {
			// Only an Ethernet header is inside: the decoder sees a frame
			// without IP; the session identity must still be right.
			err = nil
		}
		if err != nil {
			t.Fatalf("decode of our mirror packet: %v", err)
		}
		if p.Encap != decode.EncapVXLAN || p.Session.VNI != 4242 || p.Session.OuterSrc != src || p.Session.OuterDst != dst.Addr() || p.OuterSrcPort != sport {
			t.Errorf("session %+v encap %v sport %d", p.Session, p.Encap, p.OuterSrcPort)
		}
		if cut == 0 && (p.SrcPort != 40000 || p.DstPort != 5201 || p.Truncated) {
			t.Errorf("inner %v:%d -> %v:%d truncated %v", p.Src, p.SrcPort, p.Dst, p.DstPort, p.Truncated)
		}
		if cut == 60 && !p.Truncated {
			t.Errorf("cut frame not seen as truncated")
		}
	}
	if _, err := NewEncapsulator(netip.MustParseAddr("::1"), dst, 1, 2, true); err == nil {
		t.Error("IPv6 outer accepted")
	}
}

func TestSourcePortPerFlow(t *testing.T) {
	e, _ := NewEncapsulator(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddrPort("10.0.0.2:4789"), 49152, 65535, false)
	a := pkt(6, "10.0.0.5", 40000, "10.0.0.6", 443)
	a2 := pkt(6, "10.0.0.5", 40000, "10.0.0.6", 443)
	a2.TCP.Seq = 12345
	b := pkt(6, "10.0.0.5", 40001, "10.0.0.6", 443)
	if e.SourcePort(a) != e.SourcePort(a2) {
		t.Error("same flow, different ports")
	}
	if e.SourcePort(a) == e.SourcePort(b) {
		t.Error("different flows, same port (possible but unlikely for this pair)")
	}
	// Other protocols hash the 3-tuple only.
	g1, g2 := pkt(47, "10.0.0.5", 0, "10.0.0.6", 0), pkt(47, "10.0.0.5", 0, "10.0.0.6", 0)
	g2.SrcPort, g2.DstPort = 1, 2
	if e.SourcePort(g1) != e.SourcePort(g2) {
		t.Error("GRE: ports must not enter the hash")
	}
	narrow, _ := NewEncapsulator(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddrPort("10.0.0.2:4789"), 5000, 5001, false)
	seen := map[uint16]bool{}
	for i := range 64 {
		p := pkt(17, "10.0.0.5", uint16(i), "10.0.0.6", 53)
		port := narrow.SourcePort(p)
		if port < 5000 || port > 5001 {
			t.Fatalf("port %d outside 5000-5001", port)
		}
		seen[port] = true
	}
	if len(seen) != 2 {
		t.Errorf("ports used %v, want both", seen)
	}
}

func TestEncapZeroAllocs(t *testing.T) {
	e, _ := NewEncapsulator(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddrPort("10.0.0.2:4789"), 49152, 65535, true)
	frame := innerFrame(1, 2, 1400)
	buf := make([]byte, 2000)
	p := pkt(6, "10.0.0.5", 40000, "10.0.0.6", 443)
	if n := testing.AllocsPerRun(200, func() {
		if _, err := e.Build(buf, frame, 7, e.SourcePort(p)); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Build allocates %v per packet", n)
	}
}

func BenchmarkBuild(b *testing.B) {
	e, _ := NewEncapsulator(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddrPort("10.0.0.2:4789"), 49152, 65535, true)
	frame := innerFrame(1, 2, 1400)
	buf := make([]byte, 2000)
	p := pkt(6, "10.0.0.5", 40000, "10.0.0.6", 443)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		e.Build(buf, frame, 7, e.SourcePort(p))
	}
}
