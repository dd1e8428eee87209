package decode

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Packet builders for the tests. They serialize gopacket layers, so the
// frames come from an independent encoder.

var (
	cli4 = netip.MustParseAddr("198.18.0.1")
	srv4 = netip.MustParseAddr("198.18.0.2")
	cli6 = netip.MustParseAddr("2001:db8::1")
	srv6 = netip.MustParseAddr("2001:db8::2")
	eni4 = netip.MustParseAddr("10.0.1.10") // mirror source ENI
	tgt4 = netip.MustParseAddr("10.0.2.20") // mirror target
	gwlb = netip.MustParseAddr("10.0.3.30") // GWLB node
	app4 = netip.MustParseAddr("10.0.4.40") // appliance behind the GWLB
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

// pktCmp compares Packets. TCP checksums are checked in their own test,
// not spelled out in every table entry.
var pktCmp = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreFields(TCP{}, "Checksum")}

// ser serializes layers with lengths and checksums fixed.
func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ethL(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func ip4L(proto layers.IPProtocol, src, dst netip.Addr) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: 0x2e, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ip6L(nh layers.IPProtocol, src, dst netip.Addr) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb9, FlowLabel: 0x12345, NextHeader: nh, HopLimit: 63,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// tcpL is a TCP segment with the options Linux sends on a SYN.
func tcpL(nl gopacket.NetworkLayer) *layers.TCP {
	t := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1000, Ack: 2000, SYN: true, ACK: true, ECE: true,
		Window: 65160, Urgent: 0,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 7, 0, 0, 0, 9}},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}
	if err := t.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	return t
}

// wantTCP is what tcpL decodes to.
func wantTCP() TCP {
	return TCP{Seq: 1000, Ack: 2000, Flags: TCPSyn | TCPAck | TCPEce, Window: 65160, HdrLen: 40,
		HasMSS: true, MSS: 1460, SACKPerm: true, HasTS: true, TSVal: 7, TSEcr: 9, HasWScale: true, WScale: 7}
}

func udpL(nl gopacket.NetworkLayer, sport, dport uint16) *layers.UDP {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	return u
}

func payload(n int) gopacket.Payload {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// tcp4Frame is Ethernet/IPv4/TCP with n payload bytes: 14+20+40+n bytes.
func tcp4Frame(t testing.TB, n int) []byte {
	ip := ip4L(layers.IPProtocolTCP, cli4, srv4)
	return ser(t, ethL(layers.EthernetTypeIPv4), ip, tcpL(ip), payload(n))
}

// tcp4Packet is the IPv4/TCP packet of tcp4Frame without Ethernet.
func tcp4Packet(t testing.TB, n int) []byte { return tcp4Frame(t, n)[14:] }

// wantTCP4 is the decoding of tcp4Frame(n).
func wantTCP4(n int) Packet {
	return Packet{EtherType: 0x0800, L2Len: 14, IPVersion: 4, Src: cli4, Dst: srv4, Proto: 6, TTL: 64, TOS: 0x2e,
		IPID: 0x1234, IPHdrLen: 20, IPLen: uint32(60 + n), L4: true, SrcPort: 40000, DstPort: 5201, TCP: wantTCP(),
		PayloadLen: uint32(n), FrameLen: uint32(74 + n), CapLen: uint32(74 + n)}
}

// vxlanWrap puts frame into VXLAN from eni4 to tgt4, as AWS sends it.
func vxlanWrap(t testing.TB, frame []byte, vni uint32, sport uint16, flags0 byte) []byte {
	// Not ser(ethL(...)): gopacket pads a lone Ethernet header to 60 bytes.
	return cat(macB, macA, []byte{0x08, 0x00}, vxlanIP(t, frame, vni, sport, flags0))
}

// vxlanIP is the IPv4/UDP/VXLAN packet carrying frame, without Ethernet.
func vxlanIP(t testing.TB, frame []byte, vni uint32, sport uint16, flags0 byte) []byte {
	ip := ip4L(layers.IPProtocolUDP, eni4, tgt4)
	vx := make([]byte, 8, 8+len(frame))
	vx[0] = flags0
	vx[4], vx[5], vx[6] = byte(vni>>16), byte(vni>>8), byte(vni)
	return ser(t, ip, udpL(ip, sport, 4789), gopacket.Payload(append(vx, frame...)))
}

// awsGeneveOpts are the three GWLB options of class 0x0108.
func awsGeneveOpts() []*layers.GeneveOption {
	return []*layers.GeneveOption{
		{Class: 0x0108, Type: 1, Data: []byte{0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78}},
		{Class: 0x0108, Type: 2, Data: []byte{0, 0, 0, 0, 0, 0, 0x11, 0x22}},
		{Class: 0x0108, Type: 3, Data: []byte{0xca, 0xfe, 0xba, 0xbe}},
	}
}

// geneveWrap puts inner (an IP packet, or an Ethernet frame when proto
// is 0x6558) into GENEVE from gwlb to app4.
func geneveWrap(t testing.TB, inner []byte, proto layers.EthernetType, opts []*layers.GeneveOption) []byte {
	ip := ip4L(layers.IPProtocolUDP, gwlb, app4)
	g := &layers.Geneve{Protocol: proto, VNI: 0, Options: opts}
	return ser(t, ethL(layers.EthernetTypeIPv4), ip, udpL(ip, 55555, 6081), g, gopacket.Payload(inner))
}

// sll is a Linux SLL header (LINKTYPE_LINUX_SLL) for protocol et.
func sll(hatype, et uint16) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 4) // outgoing
	binary.BigEndian.PutUint16(h[2:], hatype)
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], et)
	return h
}

// sll2 is a Linux SLL2 header (LINKTYPE_LINUX_SLL2).
func sll2(hatype, et uint16) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], et)
	binary.BigEndian.PutUint32(h[4:], 3) // ifindex
	binary.BigEndian.PutUint16(h[8:], hatype)
	h[10] = 4
	h[11] = 6
	copy(h[12:], macA)
	return h
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func diffPacket(t *testing.T, got, want Packet) {
	t.Helper()
	if d := cmp.Diff(got, want, pktCmp); d != "" {
		t.Errorf("packet mismatch (-got +want):\n%s", d)
	}
}
