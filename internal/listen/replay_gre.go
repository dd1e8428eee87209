package listen

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// GRE encapsulations of replay (ReplayConfig.Encap).
const (
	encapERSPAN2 = "erspan2" // ERSPAN type II: GRE (sequence) 0x88BE + 8-byte header
	encapERSPAN3 = "erspan3" // ERSPAN type III: GRE (sequence) 0x22EB + 12-byte header
	encapGRE     = "gre"     // GRE with key around Ethernet (0x6558), as Linux gretap sends
)

// greEncap says encap is one of replay's GRE encapsulations.
func greEncap(encap string) bool {
	return encap == encapERSPAN2 || encap == encapERSPAN3 || encap == encapGRE
}

// newGRESender opens replay's sender for a GRE encapsulation: to without
// a port ("10.0.0.5", "::1", a host name) sends GRE over IP through a raw
// socket (CAP_NET_RAW), to with a port GRE over UDP (RFC 8086: 4754)
// from cfg.Sources UDP source ports.
func newGRESender(cfg *ReplayConfig) (*capture.Sender, error) {
	if _, _, err := net.SplitHostPort(cfg.To); err == nil {
		to, err := net.ResolveUDPAddr("udp", cfg.To)
		if err != nil {
			return nil, fmt.Errorf("replay: --to %q: %w", cfg.To, err)
		}
		q, err := capture.NewSender(to, cfg.Sources, 4<<20, cfg.NoRaw)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		return q, nil
	}
	if cfg.GSO {
		return nil, fmt.Errorf("replay: --gso: GRE over IP (--to without a port) has no UDP GSO")
	}
	a, err := netip.ParseAddr(cfg.To)
	if err != nil {
		ip, rerr := net.ResolveIPAddr("ip", cfg.To)
		if rerr != nil {
			return nil, fmt.Errorf("replay: --to %q: %w", cfg.To, rerr)
		}
		a, _ = netip.AddrFromSlice(ip.IP)
	}
	q, err := capture.NewGRESender(a, 4<<20)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return q, nil
}

// greWrap is the state of GRE wrapping: the GRE sequence number, one
// counter per replay (one mirror session).
type greWrap struct {
	seq uint32
}

// datagram appends to dst the GRE packet (GRE header onwards) carrying
// one captured frame: the frame itself for plain captures (given an
// Ethernet header if it has none), the inner Ethernet frame for VXLAN
// mirror captures (their VNI, cut to ERSPAN's 10 bits, as the session).
// GENEVE mirror captures are not rewrapped (false).
func (g *greWrap) datagram(dst, data []byte, link decode.LinkType, ts int64, odec *decode.Decoder, p *decode.Packet, cfg *ReplayConfig) ([]byte, bool) {
	err := odec.Decode(data, link, uint32(len(data)), p)
	id := cfg.VNI
	var inner []byte
	if err == nil && p.L4 && p.Proto == 17 && !p.Fragment &&
		(p.DstPort == cfg.Decode.VXLANPort || p.DstPort == cfg.Decode.GENEVEPort) {
		if p.DstPort != cfg.Decode.VXLANPort {
			return dst, false
		}
		off := int(p.L2Len) + int(p.IPHdrLen) + 8
		end := min(int(p.L2Len)+int(p.IPLen), len(data))
		if off+8 > end {
			return dst, false
		}
		v := data[off:end]
		id = uint32(v[4])<<16 | uint32(v[5])<<8 | uint32(v[6])
		inner = v[8:]
		link = decode.LinkEthernet
	}
	g.seq++
	b := dst
	switch cfg.Encap {
	case encapERSPAN2:
		b = append(b, 0x10, 0x00, 0x88, 0xbe) // S; ERSPAN
		b = binary.BigEndian.AppendUint32(b, g.seq)
		// Ver 1, VLAN 0; COS 0, En 3 (any VLAN tag is kept in the frame), T 0, session id; index 0.
		b = append(b, 0x10, 0x00, 0x18|byte(id>>8)&0x03, byte(id), 0, 0, 0, 0)
	case encapERSPAN3:
		b = append(b, 0x10, 0x00, 0x22, 0xeb) // S; ERSPAN III
		b = binary.BigEndian.AppendUint32(b, g.seq)
		b = append(b, 0x20, 0x00, byte(id>>8)&0x03, byte(id))
		// Timestamp in 100 µs units (granularity 00), the frame's capture time.
		b = binary.BigEndian.AppendUint32(b, uint32(ts/100_000))
		b = append(b, 0, 0, 0, 0) // SGT 0; P 0, FT 0 (Ethernet), HW ID 0, D 0, Gra 00, O 0
	default: // encapGRE
		b = append(b, 0x20, 0x00, 0x65, 0x58) // K; transparent Ethernet bridging
		b = binary.BigEndian.AppendUint32(b, id)
	}
	if inner != nil {
		return append(b, inner...), true
	}
	return appendEthernet(b, dst, data, link, p, err)
}

// appendEthernet appends a plain captured frame to b as an Ethernet
// frame: as it is when it is Ethernet, otherwise (raw IP, Linux SLL) its
// IP packet behind an Ethernet header with locally administered
// addresses. False (and dst) when the frame is neither.
func appendEthernet(b, dst, data []byte, link decode.LinkType, p *decode.Packet, err error) ([]byte, bool) {
	switch {
	case link == decode.LinkEthernet:
		return append(b, data...), true
	case err == nil || p.IPVersion != 0:
		if p.IPVersion == 0 || int(p.L2Len) > len(data) {
			return dst, false
		}
		b = append(b, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1)
		b = binary.BigEndian.AppendUint16(b, p.EtherType)
		return append(b, data[p.L2Len:]...), true
	}
	return dst, false
}
