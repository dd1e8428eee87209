package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fuzzSeeds are frames for every edge case the table tests cover, plus
// hostile lengths. Each is an Ethernet frame unless link says otherwise.
func fuzzSeeds(t testing.TB) []struct {
	data []byte
	link LinkType
} {
	type seed = struct {
		data []byte
		link LinkType
	}
	var out []seed
	eth := func(bs ...[]byte) {
		for _, b := range bs {
			out = append(out, seed{b, LinkEthernet})
		}
	}
	plain, vx, gv := benchFrames(t)
	eth(plain, vx, gv, tcp4Frame(t, 0))
	for _, c := range greCases(t) { // GRE, ERSPAN I/II/III, GRE over UDP
		eth(c.frame)
	}
	for _, c := range encapCases(t) { // MPLS, PPPoE, LLC/SNAP, 802.1ah, VN-Tag, IP in IP, GTP-U
		eth(c.frame)
	}
	out = append(out, seed{nflogFrame(tcp4Packet(t, 20), 2), LinkNFLOG})
	ip6 := ip6L(layers.IPProtocolTCP, cli6, srv6)
	eth(ser(t, ethL(layers.EthernetTypeIPv6), ip6, tcpL(ip6), payload(10)))
	ipu := ip4L(layers.IPProtocolUDP, cli4, srv4)
	eth(ser(t, ethL(layers.EthernetTypeIPv4), ipu, udpL(ipu, 53, 53), payload(10)))
	eth(ser(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4, cli4, srv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}))
	// VLAN, QinQ, ten tags.
	pkt := tcp4Packet(t, 4)
	eth(cat(macB, macA, []byte{0x81, 0, 0, 5, 0x08, 0}, pkt),
		cat(macB, macA, []byte{0x88, 0xa8, 0, 5, 0x81, 0, 0, 6, 0x08, 0}, pkt),
		cat(macB, macA, []byte{0x91, 0, 0, 5, 0x81, 0, 0, 6, 0x08, 0}, pkt))
	many := cat(macB, macA, []byte{0x81, 0})
	for i := 0; i < 10; i++ {
		many = cat(many, []byte{0, byte(i), 0x81, 0})
	}
	eth(many)
	// IPv4 options, fragments, TSO, bad IHL, hostile total length.
	ipo := ip4L(layers.IPProtocolTCP, cli4, srv4)
	ipo.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
	eth(ser(t, ethL(layers.EthernetTypeIPv4), ipo, tcpL(ipo)))
	fr := ip4L(layers.IPProtocolUDP, cli4, srv4)
	fr.Flags, fr.FragOffset = layers.IPv4MoreFragments, 10
	eth(ser(t, ethL(layers.EthernetTypeIPv4), fr, payload(30)))
	for _, mut := range []func(b []byte){
		func(b []byte) { b[16], b[17] = 0, 0 },
		func(b []byte) { b[16], b[17] = 0xff, 0xff },
		func(b []byte) { b[16], b[17] = 0, 21 },
		func(b []byte) { b[14] = 0x4f },
		func(b []byte) { b[14] = 0x43 },
		func(b []byte) { b[14+20+12] = 0xf0 },
		func(b []byte) { b[14+20+12] = 0x10 },
	} {
		b := tcp4Frame(t, 8)
		mut(b)
		eth(b)
	}
	// TCP options, malformed.
	for _, o := range [][]byte{
		{1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8},
		{2, 4, 5, 0xb4, 8, 12, 0, 0},
		{30, 0, 1, 1},
		{2, 3, 5, 1, 3, 3, 7},
		{8, 6, 0, 0, 0, 1},
		{5, 6, 0, 0, 0, 1},
		{4, 3, 0},
		{1, 1, 1, 2},
		{30, 3, 0x10, 1},
	} {
		eth(tcpOptFrame(t, o, 0))
	}
	eth(tcpOptFrame(t, []byte{2, 4, 5, 0xb4}, 15))
	// IPv6 extension headers.
	l4 := rawTCP([]byte{2, 4, 5, 0xb4}, 0)
	v6 := func(first byte, rest ...[]byte) []byte {
		return ser(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocol(first), cli6, srv6), gopacket.Payload(cat(rest...)))
	}
	nine := []byte{}
	for i := 0; i < 9; i++ {
		nine = cat(nine, ext(60, 60, 8))
	}
	eth(v6(0, ext(0, 43, 8), ext(43, 60, 24), ext(60, 6, 16), l4),
		v6(51, ext(51, 6, 24), l4),
		v6(135, ext(135, 6, 16), l4),
		v6(44, fragHdr(6, 0, true, 1), l4),
		v6(44, fragHdr(6, 1448, false, 5), l4),
		v6(60, ext(60, 50, 8), l4),
		v6(59, l4),
		v6(60, nine, l4),
		v6(60, []byte{6, 200, 0, 0, 0, 0, 0, 0}, l4))
	// Tunnels: reserved bits, no I flag, GENEVE variants, nesting, lies.
	inner := tcp4Frame(t, 20)
	eth(vxlanWrap(t, inner, 7, 1, 0xff), vxlanWrap(t, inner, 7, 1, 0),
		vxlanWrap(t, vxlanWrap(t, inner, 1, 2, 0x08), 3, 4, 0x08))
	eth(geneveWrap(t, tcp4Packet(t, 10), layers.EthernetTypeIPv4, awsGeneveOpts()))
	eth(geneveWrap(t, inner, layers.EthernetType(0x6558), awsGeneveOpts()))
	eth(geneveWrap(t, ser(t, ip6, tcpL(ip6)), layers.EthernetTypeIPv6, nil))
	lying := geneveWrap(t, tcp4Packet(t, 0), layers.EthernetTypeIPv4,
		[]*layers.GeneveOption{{Class: 0x0108, Type: 3, Data: []byte{1, 2, 3, 4}}})
	lying[14+28+8+3] = 5
	eth(lying)
	optPast := geneveWrap(t, nil, layers.EthernetTypeIPv4, nil)
	optPast[14+28] = 0x3f
	eth(optPast)
	eth(geneveWrap(t, gv[14:], layers.EthernetTypeIPv4, awsGeneveOpts()))
	// Truncations at header boundaries.
	for _, n := range []int{13, 14, 20, 33, 34, 40, 53, 54, 60, 74} {
		eth(plain[:n])
	}
	for _, n := range []int{42, 45, 50, 60, 70, 90} {
		eth(vx[:n], gv[:n])
	}
	// Other link types.
	ip6p := ser(t, ip6, tcpL(ip6))
	out = append(out, seed{pkt, LinkRaw}, seed{ip6p, LinkRaw}, seed{pkt, LinkIPv4}, seed{ip6p, LinkIPv6},
		seed{cat(sll(1, 0x0800), pkt), LinkLinuxSLL}, seed{cat(sll(1, 0x8100), []byte{0, 1, 0x08, 0}, pkt), LinkLinuxSLL},
		seed{cat(sll2(1, 0x86dd), ip6p), LinkLinuxSLL2},
		seed{cat([]byte{2, 0, 0, 0}, pkt), LinkNull}, seed{cat([]byte{0, 0, 0, 30}, ip6p), LinkNull},
		seed{nil, LinkEthernet}, seed{[]byte{0x45}, LinkRaw})
	return out
}

// checkInvariants checks what must hold for any input.
func checkInvariants(t *testing.T, data []byte, p *Packet, err error) {
	t.Helper()
	if p.CapLen > uint32(len(data)) {
		t.Fatalf("CapLen %d > len(data) %d", p.CapLen, len(data))
	}
	if p.NVLAN > 2 || p.TCP.NSACK > 4 {
		t.Fatalf("NVLAN %d NSACK %d", p.NVLAN, p.TCP.NSACK)
	}
	if p.IPVersion != 0 && p.IPVersion != 4 && p.IPVersion != 6 {
		t.Fatalf("IPVersion %d", p.IPVersion)
	}
	if p.L4 {
		if p.IPVersion == 0 || p.FragOff != 0 {
			t.Fatalf("L4 with IPVersion %d FragOff %d", p.IPVersion, p.FragOff)
		}
		need := uint32(p.L2Len) + uint32(p.IPHdrLen)
		switch p.Proto {
		case 6:
			need += 20
			if p.TCP.HdrLen < 20 {
				t.Fatalf("TCP HdrLen %d", p.TCP.HdrLen)
			}
		case 17, 1, 58:
			need += 8
		}
		if need > p.CapLen {
			t.Fatalf("L4 set but headers need %d bytes, CapLen %d", need, p.CapLen)
		}
	}
	if err == nil {
		if p.IPVersion != 0 {
			if p.IPHdrLen > 0 && uint32(p.IPHdrLen) > p.IPLen {
				t.Fatalf("IPHdrLen %d > IPLen %d", p.IPHdrLen, p.IPLen)
			}
			if p.Truncated != (p.CapLen < uint32(p.L2Len)+p.IPLen) {
				t.Fatalf("Truncated %v with CapLen %d L2Len %d IPLen %d", p.Truncated, p.CapLen, p.L2Len, p.IPLen)
			}
		} else if p.Truncated || p.L4 {
			t.Fatalf("non-IP packet with Truncated %v L4 %v", p.Truncated, p.L4)
		}
		if p.Session.HasVNI != (p.Encap == EncapVXLAN || p.Encap == EncapGENEVEVXLAN || p.Encap.IsERSPAN() || p.Encap == EncapGTPU) &&
			p.Encap != EncapGRE { // GRE: HasVNI says a key was present
			t.Fatalf("Encap %v HasVNI %v", p.Encap, p.Session.HasVNI)
		}
		if p.Session.HasVNI && (p.Encap.IsERSPAN() && p.Session.VNI > 1023) {
			t.Fatalf("ERSPAN session id %d > 10 bits", p.Session.VNI)
		}
		if p.Session.HasGWLB && p.Encap != EncapGENEVE && p.Encap != EncapGENEVEVXLAN {
			t.Fatalf("GWLB ids with Encap %v", p.Encap)
		}
	}
}

var fuzzLinks = []LinkType{LinkEthernet, LinkRaw, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkLinuxSLL2, LinkNull, LinkNFLOG}

func FuzzDecode(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s.data, uint16(s.link), uint32(len(s.data)), i%5 == 4)
	}
	d := New(DefaultConfig())
	nd := New(Config{VXLANPort: 4789, GENEVEPort: 6081, NoDecap: true})
	f.Fuzz(func(t *testing.T, data []byte, link uint16, origLen uint32, noDecap bool) {
		dec := d
		if noDecap {
			dec = nd
		}
		lt := LinkType(link)
		if link >= 0x8000 { // also exercise the link types we support
			lt = fuzzLinks[int(link)%len(fuzzLinks)]
		}
		var p, q Packet
		err := dec.Decode(data, lt, origLen, &p)
		checkInvariants(t, data, &p, err)
		if err != nil {
			if _, ok := err.(Error); !ok {
				t.Fatalf("error %T %v is not an Error", err, err)
			}
		}
		// Decode overwrites every field: a dirty Packet ends equal.
		q = p
		q.Proto, q.L4, q.TCP.SACK[3].Left, q.Session.VNI = ^q.Proto, !q.L4, 1, 99
		err2 := dec.Decode(data, lt, origLen, &q)
		if err2 != err || q != p {
			t.Fatalf("second decode differs: %v vs %v\n%s", err2, err, cmp.Diff(q, p, pktCmp))
		}
		// The listener entry points on the same bytes.
		src, dst := netip.AddrFrom4([4]byte{1, 2, 3, 4}), netip.AddrFrom4([4]byte{5, 6, 7, 8})
		err = dec.DecodeVXLANPayload(data, src, dst, 1, &p)
		checkInvariants(t, data, &p, err)
		err = dec.DecodeGENEVEPayload(data, src, dst, 1, &p)
		checkInvariants(t, data, &p, err)
		err = dec.DecodeGREPayload(data, src, dst, 0, &p)
		checkInvariants(t, data, &p, err)
	})
}

// FuzzDecodeDifferential compares the decoder with gopacket on Ethernet
// frames. Where gopacket decodes IPv4/IPv6 and TCP/UDP without error, the
// addresses, ports, protocol and TCP header and options must agree.
//
// Deliberate divergences, where the comparison is skipped:
//   - tunnels: the decoder runs with NoDecap, gopacket's parser has no
//     VXLAN/GENEVE layer, so both stop at the outer UDP;
//   - IP version nibble not matching the EtherType: gopacket decodes
//     0x0800 as IPv4 whatever the nibble, we return ErrIPVersion;
//   - more than 8 VLAN tags: ErrVLANDepth; gopacket walks any number;
//   - MPTCP options (kind 30): gopacket stops the option list at an
//     MPTCP subtype of unexpected length, we skip it by its length;
//   - fragments, IPv6 extension headers: gopacket's parser stops there;
//   - EtherType 0xFFFF: gopacket's private "raw IP" marker, not an IEEE
//     EtherType; we decode such frames as non-IP.
func FuzzDecodeDifferential(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if s.link == LinkEthernet {
			f.Add(s.data)
		}
	}
	d := New(Config{VXLANPort: 4789, GENEVEPort: 6081, NoDecap: true})
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		pl      gopacket.Payload
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &pl)
	parser.IgnoreUnsupported = true
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		err := d.Decode(data, LinkEthernet, uint32(len(data)), &p)
		checkInvariants(t, data, &p, err)

		if gerr := parser.DecodeLayers(data, &decoded); gerr != nil {
			return
		}
		var (
			hasIP, hasTCP, hasUDP bool
			src, dst              netip.Addr
			proto                 uint8
			tags                  int
		)
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeEthernet:
				if eth.EthernetType == layers.EthernetTypeRaw {
					return
				}
			case layers.LayerTypeDot1Q:
				if dot1q.Type == layers.EthernetTypeRaw {
					return
				}
				tags++
			case layers.LayerTypeIPv4:
				if ip4.Version != 4 {
					return
				}
				hasIP = true
				src, _ = netip.AddrFromSlice(ip4.SrcIP)
				dst, _ = netip.AddrFromSlice(ip4.DstIP)
				proto = uint8(ip4.Protocol)
			case layers.LayerTypeIPv6:
				if ip6.Version != 6 {
					return
				}
				hasIP = true
				src, _ = netip.AddrFromSlice(ip6.SrcIP)
				dst, _ = netip.AddrFromSlice(ip6.DstIP)
				proto = uint8(ip6.NextHeader)
				if ip6.HopByHop != nil {
					// gopacket folds a Hop-by-Hop header into its IPv6
					// layer: the protocol after it is the one we report.
					proto = uint8(ip6.HopByHop.NextHeader)
				}
			case layers.LayerTypeTCP:
				hasTCP = true
			case layers.LayerTypeUDP:
				hasUDP = true
			}
		}
		if !hasIP || !(hasTCP || hasUDP) || tags > maxVLANTags {
			return
		}
		if err != nil {
			t.Fatalf("gopacket decoded %v cleanly, we failed: %v", decoded, err)
		}
		if p.Proto == protoIPIP || p.Proto == protoIPv6 {
			return // IP in IP: gopacket goes on to the inner packet; with NoDecap we stop at the outer
		}
		if p.Src != src || p.Dst != dst || p.Proto != proto {
			t.Fatalf("IP %v>%v proto %d, gopacket %v>%v proto %d", p.Src, p.Dst, p.Proto, src, dst, proto)
		}
		if !p.L4 {
			t.Fatalf("gopacket decoded %v, we have no L4", decoded)
		}
		if hasUDP {
			if p.SrcPort != uint16(udp.SrcPort) || p.DstPort != uint16(udp.DstPort) {
				t.Fatalf("UDP ports %d>%d, gopacket %d>%d", p.SrcPort, p.DstPort, udp.SrcPort, udp.DstPort)
			}
			return
		}
		want := gopacketTCP(&tcp)
		got := p.TCP
		if p.SrcPort != uint16(tcp.SrcPort) || p.DstPort != uint16(tcp.DstPort) {
			t.Fatalf("TCP ports %d>%d, gopacket %d>%d", p.SrcPort, p.DstPort, tcp.SrcPort, tcp.DstPort)
		}
		if hasMPTCP(&tcp) {
			// Only the fixed header is comparable.
			got = TCP{Seq: got.Seq, Ack: got.Ack, Flags: got.Flags, Window: got.Window, HdrLen: got.HdrLen,
				Urgent: got.Urgent, Checksum: got.Checksum}
			want = TCP{Seq: want.Seq, Ack: want.Ack, Flags: want.Flags, Window: want.Window, HdrLen: want.HdrLen,
				Urgent: want.Urgent, Checksum: want.Checksum}
		}
		if got != want {
			t.Fatalf("TCP differs (-ours +gopacket):\n%s", cmp.Diff(got, want))
		}
	})
}

// hasMPTCP reports MPTCP options, also one gopacket dropped as malformed
// (it then leaves it at the start of Padding).
func hasMPTCP(t *layers.TCP) bool {
	if len(t.Padding) > 0 && t.Padding[0] == byte(layers.TCPOptionKindMultipathTCP) {
		return true
	}
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindMultipathTCP {
			return true
		}
	}
	return false
}

// gopacketTCP converts gopacket's TCP layer to our TCP, applying our
// rules for option lengths (gopacket keeps any option whose length fits;
// we flag known options of the wrong length as malformed and skip them).
func gopacketTCP(g *layers.TCP) TCP {
	t := TCP{Seq: g.Seq, Ack: g.Ack, Window: g.Window, HdrLen: g.DataOffset * 4, Urgent: g.Urgent, Checksum: g.Checksum}
	for i, b := range []bool{g.FIN, g.SYN, g.RST, g.PSH, g.ACK, g.URG, g.ECE, g.CWR} {
		if b {
			t.Flags |= 1 << i
		}
	}
	// Bytes of option area gopacket consumed; anything left that is not
	// EOL padding means it stopped at a malformed option.
	used := 0
	ended := false
	for _, o := range g.Options {
		switch o.OptionType {
		case layers.TCPOptionKindEndList:
			ended = true
			used++
			continue
		case layers.TCPOptionKindNop:
			used++
			continue
		}
		used += int(o.OptionLength)
		v := o.OptionData
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if len(v) != 2 {
				t.BadOptions = true
				continue
			}
			t.HasMSS, t.MSS = true, binary.BigEndian.Uint16(v)
		case layers.TCPOptionKindWindowScale:
			if len(v) != 1 {
				t.BadOptions = true
				continue
			}
			t.HasWScale, t.WScale = true, v[0]
		case layers.TCPOptionKindSACKPermitted:
			if len(v) != 0 {
				t.BadOptions = true
				continue
			}
			t.SACKPerm = true
		case layers.TCPOptionKindSACK:
			if len(v) == 0 || len(v)%8 != 0 {
				t.BadOptions = true
				continue
			}
			t.NSACK = 0
			t.SACK = [4]SACKBlock{}
			for j := 0; j+8 <= len(v) && t.NSACK < 4; j += 8 {
				t.SACK[t.NSACK] = SACKBlock{binary.BigEndian.Uint32(v[j:]), binary.BigEndian.Uint32(v[j+4:])}
				t.NSACK++
			}
		case layers.TCPOptionKindTimestamps:
			if len(v) != 8 {
				t.BadOptions = true
				continue
			}
			t.HasTS, t.TSVal, t.TSEcr = true, binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])
		}
	}
	if !ended && used < int(g.DataOffset)*4-20 {
		t.BadOptions = true
	}
	return t
}
