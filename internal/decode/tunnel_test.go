package decode

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// vxlanWant is the decoding of vxlanWrap(tcp4Frame(n), vni, sport, 0x08).
func vxlanWant(n int, vni uint32, sport uint16) Packet {
	p := wantTCP4(n)
	p.Encap = EncapVXLAN
	p.Session = Session{OuterSrc: eni4, OuterDst: tgt4, VNI: vni, HasVNI: true}
	p.OuterSrcPort = sport
	return p
}

// gwlbSession is the session of geneveWrap(vxlanIP(...), awsGeneveOpts()).
func gwlbSession(vni uint32) Session {
	return Session{OuterSrc: eni4, OuterDst: tgt4, VNI: vni, HasVNI: true,
		GWLBEndpointID: 0x0abcdef012345678, GWLBAttachmentID: 0x1122, GWLBFlowCookie: 0xcafebabe, HasGWLB: true}
}

func TestDecodeTunnels(t *testing.T) {
	inner := tcp4Frame(t, 500)
	vx := vxlanWrap(t, inner, 0x123456, 33333, 0x08)
	// RFC 7348: reserved bits are ignored. Suricata rejected these.
	vxReserved := vxlanWrap(t, inner, 7, 33333, 0xff)
	vxReserved[14+20+8+1], vxReserved[14+20+8+2], vxReserved[14+20+8+3], vxReserved[14+20+8+7] = 0xff, 0xff, 0xff, 0xff
	vxNoI := vxlanWrap(t, inner, 7, 33333, 0x00)

	// VXLAN as the source port only is not a tunnel.
	ip := ip4L(layers.IPProtocolUDP, cli4, srv4)
	srcOnly := ser(t, ethL(layers.EthernetTypeIPv4), ip, udpL(ip, 4789, 9999), payload(100))
	wantSrcOnly := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: cli4, Dst: srv4, Proto: 17, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: 128, L4: true, SrcPort: 4789, DstPort: 9999,
		PayloadLen: 100, FrameLen: 142, CapLen: 142}

	noDecap := Config{VXLANPort: 4789, GENEVEPort: 6081, NoDecap: true}
	wantOuter := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: eni4, Dst: tgt4, Proto: 17, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: uint32(28 + 8 + len(inner)), L4: true, SrcPort: 33333,
		DstPort: 4789, PayloadLen: uint32(8 + len(inner)), FrameLen: uint32(14 + 36 + len(inner)),
		CapLen: uint32(14 + 36 + len(inner))}
	otherPort := Config{VXLANPort: 8472, GENEVEPort: 6081}

	// VXLAN inside a mirror: the mirrored host's own overlay traffic.
	vxvx := vxlanWrap(t, vxlanWrap(t, inner, 99, 1111, 0x08), 5, 2222, 0x08)
	wantVXVX := wantOuter
	wantVXVX.Encap, wantVXVX.OuterSrcPort = EncapVXLAN, 2222
	wantVXVX.Session = Session{OuterSrc: eni4, OuterDst: tgt4, VNI: 5, HasVNI: true}
	wantVXVX.SrcPort = 1111

	// Non-IP inside VXLAN, and an outer frame cut by the snaplen.
	arp := ser(t, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: macA, SourceProtAddress: cli4.AsSlice(), DstHwAddress: macB, DstProtAddress: srv4.AsSlice()})
	vxARP := vxlanWrap(t, arp, 1, 1, 0x08)
	wantARP := Packet{Encap: EncapVXLAN, Session: Session{OuterSrc: eni4, OuterDst: tgt4, VNI: 1, HasVNI: true},
		OuterSrcPort: 1, EtherType: 0x0806, L2Len: 14, FrameLen: 60, CapLen: 60}

	wantARPCut := wantARP
	wantARPCut.CapLen = 40 // FrameLen stays 60: the snaplen cut is added back

	vxSnap := vx[:14+36+100]
	wantSnap := vxlanWant(500, 0x123456, 33333)
	wantSnap.CapLen, wantSnap.Truncated = 100, true

	// An outer first fragment is not decapsulated.
	fip := ip4L(layers.IPProtocolUDP, eni4, tgt4)
	fip.Flags = layers.IPv4MoreFragments
	vxFrag := ser(t, ethL(layers.EthernetTypeIPv4), fip, udpL(fip, 33333, 4789), payload(200))
	wantFrag := Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: eni4, Dst: tgt4, Proto: 17, TTL: 64,
		TOS: 0x2e, IPID: 0x1234, IPHdrLen: 20, IPLen: 228, Fragment: true, MoreFrags: true,
		PayloadLen: 208, FragDataLen: 208, FragHdrLen: 60, FrameLen: 242, CapLen: 242}
	copy(wantFrag.FragHdr[:], vxFrag[34:])

	// Outer IPv6 (AWS mirror sessions over IPv6 add 74 bytes).
	oip6 := ip6L(layers.IPProtocolUDP, cli6, srv6)
	vx6 := ser(t, ethL(layers.EthernetTypeIPv6), oip6, udpL(oip6, 4444, 4789),
		gopacket.Payload(append([]byte{0x08, 0, 0, 0, 0, 0, 9, 0}, inner...)))
	want6 := wantTCP4(500)
	want6.Encap, want6.OuterSrcPort = EncapVXLAN, 4444
	want6.Session = Session{OuterSrc: cli6, OuterDst: srv6, VNI: 9, HasVNI: true}

	runCases(t, []decodeCase{
		{name: "vxlan", data: vx, link: LinkEthernet, want: vxlanWant(500, 0x123456, 33333)},
		{name: "vxlan reserved bits", data: vxReserved, link: LinkEthernet, want: vxlanWant(500, 7, 33333)},
		{name: "vxlan without I flag", data: vxNoI, link: LinkEthernet, err: ErrVXLAN,
			want: Packet{Encap: EncapVXLAN, Session: Session{OuterSrc: eni4, OuterDst: tgt4}, OuterSrcPort: 33333}},
		{name: "vxlan cut in header", data: vx[:14+28+5], link: LinkEthernet, origLen: uint32(len(vx)), err: ErrShort,
			want: Packet{Encap: EncapVXLAN, Session: Session{OuterSrc: eni4, OuterDst: tgt4}, OuterSrcPort: 33333}},
		{name: "vxlan source port only", data: srcOnly, link: LinkEthernet, want: wantSrcOnly},
		{name: "no decap", data: vx, link: LinkEthernet, cfg: &noDecap, want: wantOuter},
		{name: "other vxlan port", data: vx, link: LinkEthernet, cfg: &otherPort, want: wantOuter},
		{name: "vxlan in vxlan", data: vxvx, link: LinkEthernet, want: wantVXVX},
		{name: "vxlan arp", data: vxARP, link: LinkEthernet, want: wantARP},
		{name: "vxlan arp snap", data: vxARP[:14+36+40], link: LinkEthernet, origLen: uint32(len(vxARP)), want: wantARPCut},
		{name: "vxlan snap", data: vxSnap, link: LinkEthernet, origLen: uint32(len(vx)), want: wantSnap},
		{name: "outer fragment", data: vxFrag, link: LinkEthernet, want: wantFrag},
		{name: "outer ipv6", data: vx6, link: LinkEthernet, want: want6},
	})
}

func TestDecodeGENEVE(t *testing.T) {
	inner := tcp4Frame(t, 300)
	gv := geneveWrap(t, vxlanIP(t, inner, 0x4242, 50000, 0x08), layers.EthernetTypeIPv4, awsGeneveOpts())
	wantGV := vxlanWant(300, 0x4242, 50000)
	wantGV.Encap, wantGV.Session = EncapGENEVEVXLAN, gwlbSession(0x4242)

	// GWLB without mirroring: the client's IP packet inside GENEVE.
	gIP := geneveWrap(t, tcp4Packet(t, 10), layers.EthernetTypeIPv4, awsGeneveOpts())
	wantGIP := wantTCP4(10)
	wantGIP.Encap, wantGIP.OuterSrcPort = EncapGENEVE, 55555
	wantGIP.L2Len, wantGIP.EtherType, wantGIP.FrameLen, wantGIP.CapLen = 0, 0x0800, 70, 70
	wantGIP.Session = Session{OuterSrc: gwlb, OuterDst: app4, GWLBEndpointID: 0x0abcdef012345678,
		GWLBAttachmentID: 0x1122, GWLBFlowCookie: 0xcafebabe, HasGWLB: true}

	ip6 := ip6L(layers.IPProtocolTCP, cli6, srv6)
	gIP6 := geneveWrap(t, ser(t, ip6, tcpL(ip6)), layers.EthernetTypeIPv6, nil)
	wantGIP6 := wantTCP4(0)
	wantGIP6.Encap, wantGIP6.OuterSrcPort = EncapGENEVE, 55555
	wantGIP6.L2Len, wantGIP6.EtherType, wantGIP6.IPVersion, wantGIP6.Src, wantGIP6.Dst = 0, 0x86dd, 6, cli6, srv6
	wantGIP6.TTL, wantGIP6.TOS, wantGIP6.IPID, wantGIP6.IPHdrLen, wantGIP6.IPLen = 63, 0xb9, 0, 40, 80
	wantGIP6.FrameLen, wantGIP6.CapLen = 80, 80
	wantGIP6.Session = Session{OuterSrc: gwlb, OuterDst: app4}

	// Ethernet inside GENEVE, with an unknown option before the AWS ones.
	opts := append([]*layers.GeneveOption{{Class: 0x0102, Type: 0x80, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}, awsGeneveOpts()...)
	gEth := geneveWrap(t, tcp4Frame(t, 10), layers.EthernetType(0x6558), opts)
	wantGEth := wantTCP4(10)
	wantGEth.Encap, wantGEth.OuterSrcPort, wantGEth.Session = EncapGENEVE, 55555, wantGIP.Session

	// Option lying about its length: 5 words, only 4 bytes of data follow.
	lying := geneveWrap(t, tcp4Packet(t, 0), layers.EthernetTypeIPv4,
		[]*layers.GeneveOption{{Class: 0x0108, Type: 3, Data: []byte{1, 2, 3, 4}}})
	lying[14+28+8+3] = 5
	// Header option length past the datagram.
	optPast := geneveWrap(t, nil, layers.EthernetTypeIPv4, nil)
	optPast[14+28] = 0x3f
	badVer := geneveWrap(t, tcp4Packet(t, 0), layers.EthernetTypeIPv4, nil)
	badVer[14+28] |= 0x40
	badProto := geneveWrap(t, tcp4Packet(t, 0), layers.EthernetType(0x88cc), nil)
	gSess := Packet{Encap: EncapGENEVE, OuterSrcPort: 55555, Session: Session{OuterSrc: gwlb, OuterDst: app4}}
	wantNonIP := gSess
	wantNonIP.EtherType = 0x88cc
	wantNonIP.CapLen, wantNonIP.FrameLen = uint32(len(tcp4Packet(t, 0))), uint32(len(tcp4Packet(t, 0)))

	// AWS option of the wrong size is ignored, not trusted.
	oddSize := geneveWrap(t, tcp4Packet(t, 0), layers.EthernetTypeIPv4,
		[]*layers.GeneveOption{{Class: 0x0108, Type: 1, Data: []byte{1, 2, 3, 4}}})
	wantOdd := wantTCP4(0)
	wantOdd.Encap, wantOdd.OuterSrcPort, wantOdd.Session = EncapGENEVE, 55555, gSess.Session
	wantOdd.L2Len, wantOdd.FrameLen, wantOdd.CapLen = 0, 60, 60

	// GENEVE inside GENEVE (no AWS path makes it): reported as it is.
	gg := geneveWrap(t, gIP[14:], layers.EthernetTypeIPv4, nil)
	wantGG := Packet{Encap: EncapGENEVE, OuterSrcPort: 55555, Session: Session{OuterSrc: gwlb, OuterDst: app4},
		EtherType: 0x0800, IPVersion: 4, Src: gwlb, Dst: app4, Proto: 17, TTL: 64, TOS: 0x2e, IPID: 0x1234,
		IPHdrLen: 20, IPLen: uint32(len(gIP) - 14), L4: true, SrcPort: 55555, DstPort: 6081,
		PayloadLen: uint32(len(gIP) - 14 - 28), FrameLen: uint32(len(gIP) - 14), CapLen: uint32(len(gIP) - 14)}

	gvSnap := gv[:len(gv)-200]
	wantGVSnap := wantGV
	wantGVSnap.CapLen, wantGVSnap.Truncated = wantGV.CapLen-200, true

	runCases(t, []decodeCase{
		{name: "geneve+vxlan", data: gv, link: LinkEthernet, want: wantGV},
		{name: "geneve+vxlan snap", data: gvSnap, link: LinkEthernet, origLen: uint32(len(gv)), want: wantGVSnap},
		{name: "geneve ip", data: gIP, link: LinkEthernet, want: wantGIP},
		{name: "geneve ipv6 no options", data: gIP6, link: LinkEthernet, want: wantGIP6},
		{name: "geneve ethernet", data: gEth, link: LinkEthernet, want: wantGEth},
		{name: "geneve option too long", data: lying, link: LinkEthernet, err: ErrGENEVE, want: gSess},
		{name: "geneve opt len past datagram", data: optPast, link: LinkEthernet, err: ErrGENEVE, want: gSess},
		{name: "geneve opt len past capture", data: gv[:14+28+12], link: LinkEthernet, origLen: uint32(len(gv)),
			err: ErrShort, want: gSess},
		{name: "geneve version 1", data: badVer, link: LinkEthernet, err: ErrGENEVE, want: gSess},
		// Another protocol (LLDP here, ARP alike) is a non-IP packet,
		// not a decode error.
		{name: "geneve non-ip protocol", data: badProto, link: LinkEthernet, want: wantNonIP},
		{name: "geneve aws option wrong size", data: oddSize, link: LinkEthernet, want: wantOdd},
		{name: "geneve in geneve", data: gg, link: LinkEthernet, want: wantGG},
	})
}

func TestDecodeListenerPayloads(t *testing.T) {
	d := New(DefaultConfig())
	inner := tcp4Frame(t, 1000)
	vx := vxlanWrap(t, inner, 77, 1234, 0x08)[14+28:]

	var p Packet
	mapped := netip.AddrFrom16(eni4.As16()) // from a dual-stack socket
	if err := d.DecodeVXLANPayload(vx, mapped, tgt4, 1234, &p); err != nil {
		t.Fatal(err)
	}
	diffPacket(t, p, vxlanWant(1000, 77, 1234))

	// AWS PacketLength truncation: whole datagram, short inner packet.
	if err := d.DecodeVXLANPayload(vx[:8+200], eni4, tgt4, 1234, &p); err != nil {
		t.Fatal(err)
	}
	want := vxlanWant(1000, 77, 1234)
	want.CapLen, want.Truncated = 200, true
	diffPacket(t, p, want)

	if err := d.DecodeVXLANPayload(vx[:7], eni4, tgt4, 1234, &p); err != ErrShort {
		t.Errorf("short VXLAN: err = %v, want ErrShort", err)
	}

	gv := geneveWrap(t, vxlanIP(t, inner, 0x4242, 50000, 0x08), layers.EthernetTypeIPv4, awsGeneveOpts())[14+28:]
	if err := d.DecodeGENEVEPayload(gv, gwlb, app4, 6081, &p); err != nil {
		t.Fatal(err)
	}
	want = vxlanWant(1000, 0x4242, 50000)
	want.Encap, want.Session = EncapGENEVEVXLAN, gwlbSession(0x4242)
	diffPacket(t, p, want)
}
