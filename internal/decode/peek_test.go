package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// addrWords is an address's 16-byte form as two words (flow hashes it so).
func addrWords(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// checkPeek fails t when Peek reads data as ok but Decode does not give a
// packet of that flow, without error, not a fragment. It reports Peek's ok.
func checkPeek(t *testing.T, d *Decoder, data []byte, link LinkType, origLen uint32) bool {
	t.Helper()
	var k FlowPeek
	if !d.Peek(data, link, origLen, &k) {
		return false
	}
	var p Packet
	if err := d.Decode(data, link, origLen, &p); err != nil {
		t.Fatalf("% x (orig %d): Peek ok, Decode error %v", data, origLen, err)
	}
	sh, sl := addrWords(p.Src)
	dh, dl := addrWords(p.Dst)
	var outer uint64
	if p.Session.OuterSrc.IsValid() {
		var oh uint64
		oh, outer = addrWords(p.Session.OuterSrc)
		if oh != 0 || outer == 0 {
			t.Fatalf("% x: outer source %v is not IPv4", data, p.Session.OuterSrc)
		}
	}
	if p.IPVersion == 0 || p.Fragment || !p.L4 || p.Proto != k.Proto || p.SrcPort != k.SrcPort || p.DstPort != k.DstPort ||
		sh != k.SrcHi || sl != k.SrcLo || dh != k.DstHi || dl != k.DstLo || p.Session.VNI != k.VNI ||
		p.Session.OverlayVNI != 0 || p.Session.GWLBEndpointID != k.GWLBEndpointID || outer != k.OuterSrcLo {
		t.Fatalf("% x (orig %d): Peek %+v, Decode %+v", data, origLen, k, p)
	}
	return true
}

// TestPeekAgreesWithDecode: on the first 300 frames of every testdata
// capture, whole and cut short, with shorter and longer wire lengths, and
// on every fuzz seed, under several decoder settings, a frame Peek reads
// decodes without error to a packet of the flow Peek read (the fields
// flow.PacketHash hashes).
func TestPeekAgreesWithDecode(t *testing.T) {
	ins := testFrames(t)
	hits := map[Encap]int{}
	for _, cfg := range []Config{DefaultConfig(), {VXLANPort: 4789, GENEVEPort: 6081, DecapInner: true}, {VXLANPort: 8472}, {VXLANPort: 4789, GENEVEPort: 6081, GTPUPort: 80, GREUDPPort: 443}} {
		d := New(cfg)
		for _, x := range ins {
			for _, cut := range []int{len(x.data), 120, 90, 70, 60, 54, 45, 42} {
				if cut > len(x.data) {
					continue
				}
				for _, orig := range []uint32{x.origLen, uint32(cut), x.origLen + 100, x.origLen - 10, 0} {
					if checkPeek(t, d, x.data[:cut], x.link, orig) {
						var p Packet
						d.Decode(x.data[:cut], x.link, orig, &p)
						hits[p.Encap]++
					}
				}
			}
		}
	}
	for _, e := range []Encap{EncapNone, EncapVXLAN, EncapGENEVEVXLAN} {
		if hits[e] == 0 {
			t.Errorf("no %v frame read by Peek (hits %v)", e, hits)
		}
	}
}

// FuzzPeek: whatever Peek reads, Decode decodes alike.
func FuzzPeek(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if s.link == LinkEthernet {
			f.Add(s.data, uint32(len(s.data)))
		}
	}
	d := New(DefaultConfig())
	f.Fuzz(func(t *testing.T, data []byte, origLen uint32) {
		checkPeek(t, d, data, LinkEthernet, origLen)
	})
}

// BenchmarkPeek: Peek of the frames of BenchmarkDecode (a parallel
// analysis' reader runs it on every frame).
func BenchmarkPeek(b *testing.B) {
	plain, vx, gv := benchFrames(b)
	d := New(DefaultConfig())
	for _, bc := range []struct {
		name string
		data []byte
	}{{"plain", plain}, {"vxlan", vx}, {"geneve+vxlan", gv}} {
		b.Run(bc.name, func(b *testing.B) {
			var k FlowPeek
			b.ReportAllocs()
			for b.Loop() {
				if !d.Peek(bc.data, LinkEthernet, uint32(len(bc.data)), &k) {
					b.Fatal("not read")
				}
			}
		})
	}
}
