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

// TestPeekTCP4FastEqualsPeekFrame: Peek's one-pass case for a TCP segment
// in untagged IPv4 without options answers exactly as peekFrame, the
// general case it shortcuts (a TCP frame is not a tunnel, so Peek's answer
// was peekFrame's), and Decode agrees with it. Frames: every untagged IPv4
// TCP frame among the agreement inputs, with the total length, the
// fragment bits, the data offset and the version/IHL byte set around the
// shortcut's conditions, each cut at several lengths and given several
// wire lengths.
func TestPeekTCP4FastEqualsPeekFrame(t *testing.T) {
	d := New(DefaultConfig())
	taken, refused := 0, 0
	for _, x := range testFrames(t) {
		f := x.data
		if x.link != LinkEthernet || len(f) < 54 || f[12] != 0x08 || f[13] != 0 || f[14] != 0x45 || f[23] != protoTCP {
			continue
		}
		var vars [][]byte
		set := func(edit func(v []byte)) {
			v := append([]byte(nil), f...)
			edit(v)
			vars = append(vars, v)
		}
		set(func([]byte) {})
		for _, tot := range []int{0, 19, 20, 39, 40, 41, len(f) - 15, len(f) - 14, len(f) - 13, len(f), int(x.origLen) - 14, int(x.origLen) - 13, 65535} {
			set(func(v []byte) { binary.BigEndian.PutUint16(v[16:18], uint16(max(tot, 0))) })
		}
		for _, fr := range []uint16{0x4000, 0x2000, 0x0001, 0x1fff, 0x8000} {
			set(func(v []byte) { binary.BigEndian.PutUint16(v[20:22], fr) })
		}
		for _, doff := range []byte{0, 4, 5, 6, 15} {
			set(func(v []byte) { v[14+20+12] = doff<<4 | v[14+20+12]&0x0f })
		}
		for _, vihl := range []byte{0x46, 0x44, 0x65, 0x55} {
			set(func(v []byte) { v[14] = vihl })
		}
		set(func(v []byte) { v[23] = protoUDP })
		for _, v := range vars {
			for _, cut := range []int{len(v), 55, 54, 53, 40} {
				if cut > len(v) {
					continue
				}
				for _, orig := range []uint32{x.origLen, uint32(cut), x.origLen + 100, x.origLen - 10, 0} {
					data := v[:cut]
					var got, want FlowPeek
					ok := d.Peek(data, LinkEthernet, orig, &got)
					wire := int(max(orig, uint32(len(data))))
					wok := peekFrame(data, wire, true, &want)
					if wok && want.Proto == protoUDP {
						// A UDP frame: Peek's other cases decide.
						continue
					}
					if wok {
						want.VNI, want.GWLBEndpointID, want.OuterSrcLo = 0, 0, 0
					}
					if ok != wok || (ok && got != want) {
						t.Fatalf("% x (orig %d): Peek %v %+v, peekFrame %v %+v", data, orig, ok, got, wok, want)
					}
					checkPeek(t, d, data, LinkEthernet, orig)
					if ok {
						taken++
					} else {
						refused++
					}
				}
			}
		}
	}
	if taken == 0 || refused == 0 {
		t.Errorf("taken %d, refused %d: the variants miss a side", taken, refused)
	}
	t.Logf("%d variants read, %d refused", taken, refused)
}
