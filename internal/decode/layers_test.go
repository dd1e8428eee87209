package decode

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// rawTCP is a TCP header with the given option bytes (padded with EOL to a
// multiple of 4) and data offset hdrWords (0: computed).
func rawTCP(opts []byte, hdrWords int) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	h := make([]byte, 20, 20+len(opts))
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], 5201)
	binary.BigEndian.PutUint32(h[4:], 1000)
	binary.BigEndian.PutUint32(h[8:], 2000)
	if hdrWords == 0 {
		hdrWords = (20 + len(opts)) / 4
	}
	h[12] = byte(hdrWords << 4)
	h[13] = TCPAck
	binary.BigEndian.PutUint16(h[14:], 512)
	binary.BigEndian.PutUint16(h[16:], 0xbeef)
	binary.BigEndian.PutUint16(h[18:], 7)
	return append(h, opts...)
}

// tcpOptFrame is Ethernet/IPv4 around rawTCP(opts).
func tcpOptFrame(t testing.TB, opts []byte, hdrWords int) []byte {
	return ser(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, cli4, srv4),
		gopacket.Payload(rawTCP(opts, hdrWords)))
}

func TestDecodeTCPOptions(t *testing.T) {
	base := TCP{Seq: 1000, Ack: 2000, Flags: TCPAck, Window: 512, Urgent: 7, Checksum: 0xbeef}
	sack := []byte{1, 1, 5, 34,
		0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
		0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8}
	cases := []struct {
		name string
		opts []byte
		want func(*TCP)
	}{
		{"none", nil, func(*TCP) {}},
		{"mss ws sackperm ts", []byte{2, 4, 0x23, 0x28, 1, 3, 3, 14, 4, 2, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0}, func(t *TCP) {
			t.HasMSS, t.MSS, t.HasWScale, t.WScale, t.SACKPerm = true, 9000, true, 14, true
			t.HasTS, t.TSVal, t.TSEcr = true, 256, 512
		}},
		{"sack 4 blocks", sack, func(t *TCP) {
			t.NSACK = 4
			t.SACK = [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
		}},
		{"sack 1 block", []byte{1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 10}, func(t *TCP) {
			t.NSACK, t.SACK[0] = 1, SACKBlock{9, 10}
		}},
		{"eol stops", []byte{0, 2, 4, 5, 0xb4}, func(*TCP) {}},
		{"unknown kind skipped", []byte{30, 4, 0, 0, 2, 4, 5, 0xb4}, func(t *TCP) { t.HasMSS, t.MSS = true, 1460 }},
		{"length past header keeps earlier", []byte{2, 4, 5, 0xb4, 8, 12, 0, 0, 0, 0, 0, 0}, func(t *TCP) {
			t.HasMSS, t.MSS, t.BadOptions = true, 1460, true
		}},
		{"length 0", []byte{2, 4, 5, 0xb4, 30, 0, 1, 1}, func(t *TCP) { t.HasMSS, t.MSS, t.BadOptions = true, 1460, true }},
		{"length 1", []byte{30, 1, 2, 4, 5, 0xb4}, func(t *TCP) { t.BadOptions = true }},
		{"kind without length", []byte{1, 1, 1, 2}, func(t *TCP) { t.BadOptions = true }},
		{"mss wrong length", []byte{2, 3, 5, 1, 3, 3, 7}, func(t *TCP) {
			t.BadOptions, t.HasWScale, t.WScale = true, true, 7
		}},
		{"ts wrong length", []byte{8, 6, 0, 0, 0, 1}, func(t *TCP) { t.BadOptions = true }},
		{"sack odd length", []byte{5, 6, 0, 0, 0, 1}, func(t *TCP) { t.BadOptions = true }},
		{"sackperm with data", []byte{4, 3, 0}, func(t *TCP) { t.BadOptions = true }},
	}
	d := New(DefaultConfig())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := tcpOptFrame(t, tc.opts, 0)
			var p Packet
			if err := d.Decode(frame, LinkEthernet, uint32(len(frame)), &p); err != nil {
				t.Fatal(err)
			}
			want := base
			want.HdrLen = uint8(len(rawTCP(tc.opts, 0)))
			tc.want(&want)
			diffTCP(t, p.TCP, want)
			if !p.L4 || p.SrcPort != 40000 || p.DstPort != 5201 {
				t.Errorf("L4 %v ports %d>%d", p.L4, p.SrcPort, p.DstPort)
			}
		})
	}

	// Data offset larger than the IP packet: header lies, options kept.
	t.Run("data offset past ip packet", func(t *testing.T) {
		frame := tcpOptFrame(t, []byte{2, 4, 5, 0xb4}, 15)
		var p Packet
		if err := d.Decode(frame, LinkEthernet, uint32(len(frame)), &p); err != nil {
			t.Fatal(err)
		}
		want := base
		want.HdrLen, want.HasMSS, want.MSS, want.BadOptions = 60, true, 1460, true
		diffTCP(t, p.TCP, want)
	})
	t.Run("data offset 4", func(t *testing.T) {
		frame := tcpOptFrame(t, nil, 4)
		var p Packet
		if err := d.Decode(frame, LinkEthernet, uint32(len(frame)), &p); err != ErrTCPHeader {
			t.Fatalf("err = %v, want ErrTCPHeader", err)
		}
		if p.L4 {
			t.Error("L4 set on a bad TCP header")
		}
	})
	// Options cut by the snaplen: parsed as far as present, not bad.
	t.Run("options cut by capture", func(t *testing.T) {
		frame := tcpOptFrame(t, []byte{2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, 0)
		var p Packet
		if err := d.Decode(frame[:14+20+20+8], LinkEthernet, uint32(len(frame)), &p); err != nil {
			t.Fatal(err)
		}
		want := base
		want.HdrLen, want.HasMSS, want.MSS = 36, true, 1460
		diffTCP(t, p.TCP, want)
		if !p.Truncated || !p.L4 {
			t.Errorf("Truncated %v L4 %v, want both", p.Truncated, p.L4)
		}
	})
}

func diffTCP(t *testing.T, got, want TCP) {
	t.Helper()
	p, w := Packet{TCP: got}, Packet{TCP: want}
	if got.Checksum != want.Checksum {
		t.Errorf("checksum %#x, want %#x", got.Checksum, want.Checksum)
	}
	diffPacket(t, p, w)
}

// ext is an IPv6 extension header of kind nh (next header next) with
// total length n bytes.
func ext(kind, next byte, n int) []byte {
	b := make([]byte, n)
	b[0] = next
	switch kind {
	case 51:
		b[1] = byte(n/4 - 2)
	case 44:
	default:
		b[1] = byte(n/8 - 1)
	}
	return b
}

func fragHdr(next byte, off uint16, more bool, id uint32) []byte {
	b := make([]byte, 8)
	b[0] = next
	v := off &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], id)
	return b
}

func TestDecodeIPv6Ext(t *testing.T) {
	l4 := rawTCP([]byte{2, 4, 5, 0xb4}, 0) // 24 bytes
	v6 := func(first byte, rest ...[]byte) []byte {
		return ser(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocol(first), cli6, srv6),
			gopacket.Payload(cat(rest...)))
	}
	w := func(hdr int, f func(*Packet)) Packet {
		p := Packet{EtherType: 0x86dd, L2Len: 14, IPVersion: 6, Src: cli6, Dst: srv6, Proto: 6, TTL: 63,
			TOS: 0xb9, IPHdrLen: uint16(hdr), IPLen: uint32(hdr + 24), L4: true, SrcPort: 40000, DstPort: 5201,
			TCP: TCP{Seq: 1000, Ack: 2000, Flags: TCPAck, Window: 512, Urgent: 7, HdrLen: 24, HasMSS: true,
				MSS: 1460}}
		p.FrameLen, p.CapLen = uint32(14+hdr+24), uint32(14+hdr+24)
		if f != nil {
			f(&p)
		}
		return p
	}
	noL4 := func(proto uint8, hdr, total int) func(*Packet) {
		return func(p *Packet) {
			p.Proto, p.L4, p.SrcPort, p.DstPort, p.TCP = proto, false, 0, 0, TCP{}
			p.IPLen, p.PayloadLen = uint32(total), uint32(total-hdr)
			p.FrameLen, p.CapLen = uint32(14+total), uint32(14+total)
		}
	}
	nine := []byte{}
	for i := 0; i < 9; i++ {
		nine = cat(nine, ext(60, 60, 8))
	}
	runCases(t, []decodeCase{
		{name: "hop-by-hop", data: v6(0, ext(0, 6, 8), l4), link: LinkEthernet, want: w(48, nil)},
		{name: "hbh routing dstopts", data: v6(0, ext(0, 43, 8), ext(43, 60, 24), ext(60, 6, 16), l4),
			link: LinkEthernet, want: w(88, nil)},
		{name: "ah", data: v6(51, ext(51, 6, 24), l4), link: LinkEthernet, want: w(64, nil)},
		{name: "mobility then tcp", data: v6(135, ext(135, 6, 16), l4), link: LinkEthernet, want: w(56, nil)},
		{name: "first fragment", data: v6(44, fragHdr(6, 0, true, 0xdeadbeef), l4), link: LinkEthernet,
			want: w(48, func(p *Packet) {
				noL4(6, 48, 72)(p)
				p.Fragment, p.MoreFrags, p.IPID = true, true, 0xdeadbeef
				p.FragDataLen, p.FragHdrLen = 24, 24
				copy(p.FragHdr[:], l4)
			})},
		{name: "later fragment", data: v6(0, ext(0, 44, 8), fragHdr(6, 1448, false, 5), l4), link: LinkEthernet,
			want: w(56, func(p *Packet) {
				noL4(6, 56, 80)(p)
				p.Fragment, p.FragOff, p.IPID = true, 1448, 5
				p.FragDataLen = 24
			})},
		{name: "esp ends walk", data: v6(60, ext(60, 50, 8), l4), link: LinkEthernet, want: w(48, noL4(50, 48, 72))},
		{name: "no next header", data: v6(59, l4), link: LinkEthernet, want: w(40, noL4(59, 40, 64))},
		{name: "nine ext headers", data: v6(60, nine, l4), link: LinkEthernet, err: ErrExtHeader,
			want: w(104, func(p *Packet) {
				noL4(60, 104, 40+72+24)(p)
				p.PayloadLen = 0
			})},
		{name: "ext length past packet", data: v6(60, []byte{6, 200, 0, 0, 0, 0, 0, 0}, l4), link: LinkEthernet,
			err: ErrExtHeader, want: w(40, func(p *Packet) { noL4(60, 40, 72)(p); p.PayloadLen = 0 })},
	})
}

// TestDecodeTruncatedEverywhere cuts frames at every byte and checks that
// decoding never fails in an unexpected way: a cut inside a header is
// ErrShort, a cut in the payload decodes with Truncated set.
func TestDecodeTruncatedEverywhere(t *testing.T) {
	ip6 := ip6L(layers.IPProtocolUDP, cli6, srv6)
	frames := map[string][]byte{
		"tcp4":          tcp4Frame(t, 20),
		"udp6":          ser(t, ethL(layers.EthernetTypeIPv6), ip6, udpL(ip6, 1, 2), payload(20)),
		"vxlan":         vxlanWrap(t, tcp4Frame(t, 20), 1, 2, 0x08),
		"geneve+vxlan":  geneveWrap(t, vxlanIP(t, tcp4Frame(t, 20), 3, 4, 0x08), layers.EthernetTypeIPv4, awsGeneveOpts()),
		"ipv6 ext tcp":  ser(t, ethL(layers.EthernetTypeIPv6), ip6L(0, cli6, srv6), gopacket.Payload(cat(ext(0, 44, 8), fragHdr(6, 0, false, 1), rawTCP([]byte{2, 4, 5, 0xb4}, 0), make([]byte, 20)))),
		"vlan tcp4":     cat(macB, macA, []byte{0x81, 0, 0, 5, 0x08, 0}, tcp4Packet(t, 20)),
		"ipv4 opts tcp": tcpOptFrame(t, []byte{2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, 0),
	}
	d := New(DefaultConfig())
	for name, full := range frames {
		var ref Packet
		if err := d.Decode(full, LinkEthernet, uint32(len(full)), &ref); err != nil {
			t.Fatalf("%s: full frame: %v", name, err)
		}
		// The L4 payload is the tail of every test frame.
		var l4End int
		if ref.Encap == EncapNone {
			l4End = int(ref.L2Len) + int(ref.IPLen) - int(ref.PayloadLen)
		} else {
			l4End = len(full) - int(ref.PayloadLen)
		}
		// TCP options cut by the capture still give the fixed header.
		minOK := l4End
		if ref.HasTCP() {
			minOK = l4End - int(ref.TCP.HdrLen) + 20
		}
		for n := 0; n < len(full); n++ {
			var p Packet
			err := d.Decode(full[:n], LinkEthernet, uint32(len(full)), &p)
			if n < minOK {
				if err != ErrShort {
					t.Errorf("%s cut at %d/%d: err = %v, want ErrShort", name, n, len(full), err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s cut at %d in payload: %v", name, n, err)
				continue
			}
			if !p.Truncated || !p.L4 || p.SrcPort != ref.SrcPort || p.Session != ref.Session ||
				p.FrameLen != ref.FrameLen || p.PayloadLen != ref.PayloadLen {
				t.Errorf("%s cut at %d: Truncated %v L4 %v FrameLen %d PayloadLen %d (full: FrameLen %d PayloadLen %d)",
					name, n, p.Truncated, p.L4, p.FrameLen, p.PayloadLen, ref.FrameLen, ref.PayloadLen)
			}
		}
	}
}
