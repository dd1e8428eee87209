package decode

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// benchFrames are the frames the allocation tests and benchmarks decode:
// a 1448-byte TCP segment with NOP, NOP, timestamps as Linux sends it, plain, in VXLAN, and in
// GENEVE+VXLAN as a GWLB target receives it.
func benchFrames(t testing.TB) (plain, vxlan, geneve []byte) {
	ip := ip4L(layers.IPProtocolTCP, cli4, srv4)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 2, ACK: true, PSH: true, Window: 501,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 7, 0, 0, 0, 9}},
		}}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	plain = ser(t, ethL(layers.EthernetTypeIPv4), ip, tcp, payload(1448))
	vxlan = vxlanWrap(t, plain, 0x123456, 33333, 0x08)
	geneve = geneveWrap(t, vxlanIP(t, plain, 0x4242, 50000, 0x08), layers.EthernetTypeIPv4, awsGeneveOpts())
	return plain, vxlan, geneve
}

func TestDecodeAllocs(t *testing.T) {
	plain, vx, gv := benchFrames(t)
	d := New(DefaultConfig())
	var p Packet
	for _, tc := range []struct {
		name string
		data []byte
		enc  Encap
	}{{"plain", plain, EncapNone}, {"vxlan", vx, EncapVXLAN}, {"geneve+vxlan", gv, EncapGENEVEVXLAN}} {
		allocs := testing.AllocsPerRun(100, func() {
			if err := d.Decode(tc.data, LinkEthernet, uint32(len(tc.data)), &p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Decode, want 0", tc.name, allocs)
		}
		if !p.HasTCP() || p.Encap != tc.enc {
			t.Errorf("%s: decoded Encap %v TCP %v", tc.name, p.Encap, p.HasTCP())
		}
	}
	payload := vx[14+28:]
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.DecodeVXLANPayload(payload, eni4, tgt4, 33333, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeVXLANPayload: %v allocs, want 0", allocs)
	}
	gpayload := gv[14+28:]
	allocs = testing.AllocsPerRun(100, func() {
		if err := d.DecodeGENEVEPayload(gpayload, gwlb, app4, 6081, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeGENEVEPayload: %v allocs, want 0", allocs)
	}
	// Errors are values too.
	allocs = testing.AllocsPerRun(100, func() {
		if err := d.Decode(plain[:30], LinkEthernet, 1500, &p); err != ErrShort {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode error path: %v allocs, want 0", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	plain, vx, gv := benchFrames(b)
	ip6 := ip6L(layers.IPProtocolTCP, cli6, srv6)
	plain6 := ser(b, ethL(layers.EthernetTypeIPv6), ip6, tcpL(ip6), payload(1448))
	tagged := cat(plain[:12], []byte{0x81, 0, 0, 7}, plain[12:])
	d := New(DefaultConfig())
	for _, bc := range []struct {
		name string
		data []byte
	}{{"plain", plain}, {"plain-802.1q", tagged}, {"plain-ipv6", plain6}, {"vxlan", vx}, {"geneve+vxlan", gv}} {
		b.Run(bc.name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if err := d.Decode(bc.data, LinkEthernet, uint32(len(bc.data)), &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("vxlan-listener", func(b *testing.B) {
		var p Packet
		payload := vx[14+28:]
		b.ReportAllocs()
		for b.Loop() {
			if err := d.DecodeVXLANPayload(payload, eni4, tgt4, 33333, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("geneve+vxlan-listener", func(b *testing.B) {
		var p Packet
		payload := gv[14+28:]
		b.ReportAllocs()
		for b.Loop() {
			if err := d.DecodeGENEVEPayload(payload, gwlb, app4, 6081, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlainFastPathZeroAlloc: the frames tcp4Fast takes (plain, with an
// 802.1Q tag, with IP options, and as the inner frame of VXLAN and of
// GENEVE+VXLAN, where mirrorTCP4Fast takes the whole frame) are taken by
// them, and decoding them allocates nothing; nor does the listener's
// GENEVE payload, which geneveTCP4Fast takes.
func TestPlainFastPathZeroAlloc(t *testing.T) {
	plain, vx, gv := benchFrames(t)
	tagged := cat(plain[:12], []byte{0x81, 0, 0, 7}, plain[12:])
	opts := plainVariants(t, plain)[4] // 4 bytes of IP options
	d := New(DefaultConfig())
	var p Packet
	for _, tc := range []struct {
		name  string
		data  []byte
		inner []byte
	}{{"plain", plain, plain}, {"802.1Q", tagged, tagged}, {"options", opts, opts}, {"vxlan", vx, plain}, {"geneve+vxlan", gv, plain}} {
		var q Packet
		if !tcp4Fast(tc.inner, len(tc.inner), true, &q) || (tc.name == "options") != q.IPOptions {
			t.Fatalf("%s: tcp4Fast does not take the frame (options %v)", tc.name, q.IPOptions)
		}
		if (tc.name == "vxlan" || tc.name == "geneve+vxlan") && !d.mirrorTCP4Fast(tc.data, uint32(len(tc.data)), &q) {
			t.Fatalf("%s: mirrorTCP4Fast does not take the frame", tc.name)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := d.Decode(tc.data, LinkEthernet, uint32(len(tc.data)), &p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Decode, want 0", tc.name, allocs)
		}
	}
	gpayload := gv[14+28:]
	var q Packet
	if !d.geneveTCP4Fast(gpayload, &q) {
		t.Fatal("geneve listener: geneveTCP4Fast does not take the payload")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.DecodeGENEVEPayload(gpayload, gwlb, app4, 6081, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("geneve listener: %v allocs per DecodeGENEVEPayload, want 0", allocs)
	}
}
