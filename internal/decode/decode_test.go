package decode

import (
	"errors"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

type decodeCase struct {
	name    string
	data    []byte
	link    LinkType
	origLen uint32 // 0: len(data)
	cfg     *Config
	want    Packet
	err     error
}

func runCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			orig := tc.origLen
			if orig == 0 {
				orig = uint32(len(tc.data))
			}
			var p Packet
			// Start from garbage to prove Decode overwrites every field.
			p.Proto, p.L4, p.Truncated, p.Session.HasGWLB, p.NVLAN = 99, true, true, true, 2
			err := New(cfg).Decode(tc.data, tc.link, orig, &p)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Decode error = %v, want %v", err, tc.err)
			}
			diffPacket(t, p, tc.want)
		})
	}
}

func TestDecodePlain(t *testing.T) {
	ip6 := ip6L(layers.IPProtocolTCP, cli6, srv6)
	tcp6 := ser(t, ethL(layers.EthernetTypeIPv6), ip6, tcpL(ip6), payload(100))
	want6 := wantTCP4(100)
	want6.EtherType, want6.IPVersion, want6.Src, want6.Dst = 0x86dd, 6, cli6, srv6
	want6.TTL, want6.TOS, want6.IPID, want6.IPHdrLen, want6.IPLen = 63, 0xb9, 0, 40, 160
	want6.IPLen, want6.FrameLen, want6.CapLen = 180, 194, 194

	ip := ip4L(layers.IPProtocolUDP, cli4, srv4)
	udp4 := ser(t, ethL(layers.EthernetTypeIPv4), ip, udpL(ip, 5353, 53), payload(30))
	wantUDP := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: cli4, Dst: srv4, Proto: 17, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: 58, L4: true, SrcPort: 5353, DstPort: 53,
		PayloadLen: 30, FrameLen: 72, CapLen: 72}

	ipi := ip4L(layers.IPProtocolICMPv4, cli4, srv4)
	icmp4 := ser(t, ethL(layers.EthernetTypeIPv4), ipi,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Id: 1, Seq: 2}, payload(28))
	wantICMP := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: cli4, Dst: srv4, Proto: 1, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: 56, L4: true, ICMPType: 3, ICMPCode: 4,
		PayloadLen: 28, FrameLen: 70, CapLen: 70}

	ip6i := ip6L(layers.IPProtocolICMPv6, cli6, srv6)
	icmp6l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	_ = icmp6l.SetNetworkLayerForChecksum(ip6i)
	icmp6 := ser(t, ethL(layers.EthernetTypeIPv6), ip6i, icmp6l, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, payload(10))
	wantICMP6 := Packet{EtherType: 0x86dd, L2Len: 14, IPVersion: 6, Src: cli6, Dst: srv6, Proto: 58, TTL: 63,
		TOS: 0xb9, IPHdrLen: 40, IPLen: 58, L4: true, ICMPType: 128, PayloadLen: 10, FrameLen: 72, CapLen: 72}

	arp := ser(t, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: macA, SourceProtAddress: cli4.AsSlice(), DstHwAddress: macB, DstProtAddress: srv4.AsSlice()})

	gre := ser(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolGRE, cli4, srv4), payload(24))
	wantGRE := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: cli4, Dst: srv4, Proto: 47, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: 44, PayloadLen: 24, FrameLen: 58, CapLen: 60}

	// Ethernet padding after a short packet is captured but not part of
	// the IP packet.
	padded := append(tcp4Frame(t, 0), make([]byte, 6)...)
	wantPadded := wantTCP4(0)
	wantPadded.CapLen = 80

	runCases(t, []decodeCase{
		{name: "ipv4 tcp", data: tcp4Frame(t, 1000), link: LinkEthernet, want: wantTCP4(1000)},
		{name: "ipv6 tcp", data: tcp6, link: LinkEthernet, want: want6},
		{name: "ipv4 udp", data: udp4, link: LinkEthernet, want: wantUDP},
		{name: "icmp", data: icmp4, link: LinkEthernet, want: wantICMP},
		{name: "icmpv6", data: icmp6, link: LinkEthernet, want: wantICMP6},
		{name: "arp", data: arp, link: LinkEthernet, origLen: 60,
			want: Packet{EtherType: 0x0806, L2Len: 14, FrameLen: 60, CapLen: 60}},
		{name: "gre not decoded", data: gre, link: LinkEthernet, want: wantGRE},
		{name: "ethernet padding", data: padded, link: LinkEthernet, want: wantPadded},
	})
}

func TestDecodeLinkTypes(t *testing.T) {
	pkt := tcp4Packet(t, 10)
	ip6 := ip6L(layers.IPProtocolTCP, cli6, srv6)
	pkt6 := ser(t, ip6, tcpL(ip6), payload(10))

	w := func(l2 uint16, frame uint32, f func(*Packet)) Packet {
		p := wantTCP4(10)
		p.L2Len, p.CapLen, p.FrameLen = l2, uint32(l2)+70, frame
		if f != nil {
			f(&p)
		}
		return p
	}
	v6 := func(p *Packet) {
		p.EtherType, p.IPVersion, p.Src, p.Dst = 0x86dd, 6, cli6, srv6
		p.TTL, p.TOS, p.IPID, p.IPHdrLen, p.IPLen = 63, 0xb9, 0, 40, 90
		p.CapLen += 20
		p.FrameLen += 20
	}
	le := func(af uint32) []byte { return []byte{byte(af), byte(af >> 8), byte(af >> 16), byte(af >> 24)} }
	be := func(af uint32) []byte { return []byte{byte(af >> 24), byte(af >> 16), byte(af >> 8), byte(af)} }
	vlanTag := []byte{0x00, 0x64, 0x08, 0x00}

	runCases(t, []decodeCase{
		{name: "raw v4", data: pkt, link: LinkRaw, want: w(0, 70, nil)},
		{name: "raw v6", data: pkt6, link: LinkRaw, want: w(0, 70, v6)},
		{name: "raw bad version", data: append([]byte{0x55}, pkt[1:]...), link: LinkRaw, err: ErrIPVersion,
			want: Packet{CapLen: 70, FrameLen: 70}},
		{name: "ipv4 link", data: pkt, link: LinkIPv4, want: w(0, 70, nil)},
		{name: "ipv6 link", data: pkt6, link: LinkIPv6, want: w(0, 70, v6)},
		{name: "ipv4 link carrying v6", data: pkt6, link: LinkIPv4, err: ErrIPVersion,
			want: Packet{EtherType: 0x0800, CapLen: 90, FrameLen: 90}},
		{name: "sll ether", data: cat(sll(1, 0x0800), pkt), link: LinkLinuxSLL, want: w(16, 84, nil)},
		{name: "sll tun", data: cat(sll(65534, 0x0800), pkt), link: LinkLinuxSLL, want: w(16, 70, nil)},
		{name: "sll vlan", data: cat(sll(1, 0x8100), vlanTag, pkt), link: LinkLinuxSLL,
			want: w(20, 88, func(p *Packet) { p.NVLAN, p.VLAN[0] = 1, 100 })},
		{name: "sll2 ether v6", data: cat(sll2(1, 0x86dd), pkt6), link: LinkLinuxSLL2, want: w(20, 84, v6)},
		{name: "sll2 loopback", data: cat(sll2(772, 0x0800), pkt), link: LinkLinuxSLL2, want: w(20, 84, nil)},
		{name: "null le v4", data: cat(le(2), pkt), link: LinkNull, want: w(4, 70, nil)},
		{name: "null be v4", data: cat(be(2), pkt), link: LinkNull, want: w(4, 70, nil)},
		{name: "null le v6 24", data: cat(le(24), pkt6), link: LinkNull, want: w(4, 70, v6)},
		{name: "null be v6 28", data: cat(be(28), pkt6), link: LinkNull, want: w(4, 70, v6)},
		{name: "null le v6 30", data: cat(le(30), pkt6), link: LinkNull, want: w(4, 70, v6)},
		{name: "null unknown af", data: cat(le(7), pkt), link: LinkNull,
			want: Packet{L2Len: 4, CapLen: 74, FrameLen: 70}},
		{name: "unknown link", data: pkt, link: 147, err: ErrLinkType, want: Packet{CapLen: 70, FrameLen: 70}},
	})
}

func TestDecodeVLAN(t *testing.T) {
	pkt := tcp4Packet(t, 0)
	tag := func(tpid uint16, id uint16, next uint16) []byte {
		return []byte{byte(id >> 8), byte(id), byte(next >> 8), byte(next)}
	}
	eth := func(tpid uint16) []byte { return cat(macB, macA, []byte{byte(tpid >> 8), byte(tpid)}) }
	w := func(tags int, ids ...uint16) Packet {
		p := wantTCP4(0)
		p.L2Len = uint16(14 + 4*tags)
		p.CapLen, p.FrameLen = uint32(p.L2Len)+60, uint32(p.L2Len)+60
		p.NVLAN = uint8(len(ids))
		copy(p.VLAN[:], ids)
		return p
	}
	// Priority bits must not leak into the ID.
	q := cat(eth(0x8100), tag(0, 0xe00a, 0x0800), pkt)
	qinq := cat(eth(0x88a8), tag(0, 200, 0x8100), tag(0, 10, 0x0800), pkt)
	qinq9100 := cat(eth(0x9100), tag(0, 300, 0x8100), tag(0, 30, 0x0800), pkt)
	three := cat(eth(0x88a8), tag(0, 1, 0x8100), tag(0, 2, 0x8100), tag(0, 3, 0x0800), pkt)
	eight := eth(0x8100)
	for i := 0; i < 7; i++ {
		eight = cat(eight, tag(0, uint16(i+1), 0x8100))
	}
	nine := cat(eight, tag(0, 8, 0x8100), tag(0, 9, 0x0800), pkt)
	eight = cat(eight, tag(0, 8, 0x0800), pkt)
	runCases(t, []decodeCase{
		{name: "802.1Q", data: q, link: LinkEthernet, want: w(1, 10)},
		{name: "QinQ 88a8", data: qinq, link: LinkEthernet, want: w(2, 200, 10)},
		{name: "QinQ 9100", data: qinq9100, link: LinkEthernet, want: w(2, 300, 30)},
		{name: "three tags", data: three, link: LinkEthernet, want: w(3, 1, 2)},
		{name: "eight tags", data: eight, link: LinkEthernet, want: w(8, 1, 2)},
		{name: "nine tags", data: nine, link: LinkEthernet, err: ErrVLANDepth,
			want: Packet{NVLAN: 2, VLAN: [2]uint16{1, 2}, CapLen: uint32(len(nine)), FrameLen: uint32(len(nine))}},
		{name: "tag cut", data: q[:16], link: LinkEthernet, err: ErrShort,
			want: Packet{CapLen: 16, FrameLen: 16}},
	})
}

func TestDecodeIPv4(t *testing.T) {
	ipo := ip4L(layers.IPProtocolTCP, cli4, srv4)
	ipo.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
	opts := ser(t, ethL(layers.EthernetTypeIPv4), ipo, tcpL(ipo), payload(5))
	wantOpts := wantTCP4(5)
	wantOpts.IPHdrLen, wantOpts.IPOptions, wantOpts.IPLen, wantOpts.FrameLen, wantOpts.CapLen = 24, true, 69, 83, 83

	frag := func(flags layers.IPv4Flag, off uint16, n int) []byte {
		ip := ip4L(layers.IPProtocolTCP, cli4, srv4)
		ip.Flags, ip.FragOffset = flags, off
		if off == 0 {
			return ser(t, ethL(layers.EthernetTypeIPv4), ip, tcpL(ip), payload(n))
		}
		return ser(t, ethL(layers.EthernetTypeIPv4), ip, payload(n))
	}
	later := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: cli4, Dst: srv4, Proto: 6, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: 120, Fragment: true, FragOff: 1480, MoreFrags: true,
		PayloadLen: 100, FragDataLen: 100, FrameLen: 134, CapLen: 134}
	// The first fragment keeps its transport header's bytes; it is not
	// decoded before the datagram is whole.
	first := later
	first.FragOff, first.FragHdrLen = 0, 60
	copy(first.FragHdr[:], frag(layers.IPv4MoreFragments, 0, 100-40)[34:])
	last := later
	last.MoreFrags = false

	// TSO: total length 0 falls back to the captured length.
	tso := tcp4Frame(t, 3000)
	tso[16], tso[17] = 0, 0
	wantTSO := wantTCP4(3000)

	bad := func(f func(b []byte)) []byte { b := tcp4Frame(t, 0); f(b); return b }
	runCases(t, []decodeCase{
		{name: "options", data: opts, link: LinkEthernet, want: wantOpts},
		{name: "first fragment", data: frag(layers.IPv4MoreFragments, 0, 100-40), link: LinkEthernet, want: first},
		{name: "middle fragment", data: frag(layers.IPv4MoreFragments, 185, 100), link: LinkEthernet, want: later},
		{name: "last fragment", data: frag(0, 185, 100), link: LinkEthernet, want: last},
		{name: "tso zero length", data: tso, link: LinkEthernet, want: wantTSO},
		{name: "ihl 4", data: bad(func(b []byte) { b[14] = 0x44 }), link: LinkEthernet, err: ErrIPHeader,
			want: Packet{EtherType: 0x0800, L2Len: 14, CapLen: 74, FrameLen: 74}},
		{name: "total below ihl", data: bad(func(b []byte) { b[16], b[17] = 0, 19 }), link: LinkEthernet,
			err: ErrIPHeader, want: Packet{EtherType: 0x0800, L2Len: 14, CapLen: 74, FrameLen: 74}},
		{name: "ihl past capture", data: bad(func(b []byte) { b[14] = 0x4f })[:40], link: LinkEthernet,
			err: ErrShort, want: Packet{EtherType: 0x0800, L2Len: 14, CapLen: 40, FrameLen: 40}},
		{name: "version 6 in 0x0800", data: bad(func(b []byte) { b[14] = 0x65 }), link: LinkEthernet,
			err: ErrIPVersion, want: Packet{EtherType: 0x0800, L2Len: 14, CapLen: 74, FrameLen: 74}},
	})
}

// Snaplen truncation: the IP header says more than was captured.
func TestDecodeSnaplen(t *testing.T) {
	full := tcp4Frame(t, 1400)
	want := wantTCP4(1400)
	want.CapLen, want.Truncated = 96, true
	runCases(t, []decodeCase{
		{name: "snap 96", data: full[:96], link: LinkEthernet, origLen: uint32(len(full)), want: want},
	})
}

func TestDecodeErrorNames(t *testing.T) {
	seen := map[string]bool{}
	for e := Error(1); int(e) < NumErrors; e++ {
		if e.Error() == "decode error" || e.Name() == "other" {
			t.Errorf("Error %d has no text or name", e)
		}
		if seen[e.Name()] {
			t.Errorf("duplicate name %q", e.Name())
		}
		seen[e.Name()] = true
	}
}

var _ = gopacket.Payload(nil)
