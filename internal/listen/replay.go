package listen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	Files []string
	// To is the target HOST:PORT.
	To string
	// VNI wraps plain captures' frames (VXLAN, or VXLAN inside GENEVE).
	VNI uint32
	// PPS paces the stream (0 = as fast as possible).
	PPS float64
	// Loop sends the capture this many times (at least once).
	Loop int
	// Encap is "vxlan" or "geneve" (GENEVE with the AWS GWLB options
	// around IPv4/UDP/VXLAN, as a GWLB delivers mirror traffic).
	Encap string
	// Sources is the number of UDP source sockets (source ports); each
	// frame goes out of one chosen by a hash of its inner flow and
	// direction, as AWS picks the outer source port.
	Sources int
	// Decode gives the tunnel ports that mark a capture as a mirror
	// capture (whose frames are sent as their UDP payloads).
	Decode decode.Config
}

// ReplayStats counts what Replay did.
type ReplayStats struct {
	Frames  uint64 // frames read (all loops)
	Sent    uint64 // datagrams sent
	Bytes   uint64 // payload bytes sent
	Skipped uint64 // frames that could not be sent (not IP/Ethernet, undecodable)
	Elapsed time.Duration
}

// GWLB ids put in replayed GENEVE packets.
const (
	replayGWLBEndpoint   = 0x0123456789abcdef
	replayGWLBAttachment = 0x0fedcba987654321
)

// Replay sends capture files as a mirror stream.
func Replay(ctx context.Context, cfg ReplayConfig) (ReplayStats, error) {
	var st ReplayStats
	if cfg.Loop < 1 {
		cfg.Loop = 1
	}
	if cfg.Sources < 1 {
		cfg.Sources = 1
	}
	if cfg.Encap != "vxlan" && cfg.Encap != "geneve" {
		return st, fmt.Errorf("replay: encap %q: want vxlan or geneve", cfg.Encap)
	}
	if cfg.VNI > 0xffffff {
		return st, fmt.Errorf("replay: VNI %d has more than 24 bits", cfg.VNI)
	}
	to, err := net.ResolveUDPAddr("udp", cfg.To)
	if err != nil {
		return st, fmt.Errorf("replay: --to %q: %w", cfg.To, err)
	}
	conns := make([]*net.UDPConn, cfg.Sources)
	for i := range conns {
		c, err := net.DialUDP("udp", nil, to)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return st, fmt.Errorf("replay: %w", err)
		}
		_ = c.SetWriteBuffer(4 << 20)
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	outer := cfg.Decode
	outer.NoDecap = true
	odec := decode.New(outer)
	idec := decode.New(cfg.Decode)
	var op, ip decode.Packet
	buf := make([]byte, 0, maxDatagram)
	start := time.Now()
	var next time.Time
	var gap time.Duration
	if cfg.PPS > 0 {
		gap = time.Duration(float64(time.Second) / cfg.PPS)
		next = start
	}
	for loop := 0; loop < cfg.Loop; loop++ {
		src, err := capture.OpenFiles(cfg.Files, capture.Options{})
		if err != nil {
			return st, fmt.Errorf("replay: %w", err)
		}
		var f capture.Frame
		for {
			if st.Frames&1023 == 0 && ctx.Err() != nil {
				src.Close()
				st.Elapsed = time.Since(start)
				return st, nil
			}
			err := src.Next(&f)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				st.Elapsed = time.Since(start)
				return st, fmt.Errorf("replay: %w", err)
			}
			st.Frames++
			var ok bool
			buf, ok = datagramOf(buf[:0], f.Data, f.Link, f.OrigLen, odec, &op, &cfg)
			if !ok {
				st.Skipped++
				continue
			}
			// The source socket is chosen per inner flow and direction.
			h := uint32(0)
			if err := idec.Decode(f.Data, f.Link, f.OrigLen, &ip); err == nil && ip.IPVersion != 0 {
				h = dirHash(ip.Src, ip.Dst, ip.SrcPort, ip.DstPort)
			}
			if gap > 0 {
				if d := time.Until(next); d > 0 {
					if d > 200*time.Microsecond {
						time.Sleep(d)
					} else {
						for time.Now().Before(next) {
						}
					}
				}
				next = next.Add(gap)
			}
			c := conns[h%uint32(len(conns))]
			_, err = c.Write(buf)
			if errors.Is(err, syscall.ECONNREFUSED) {
				// The error is the ICMP port unreachable of an earlier
				// datagram (nothing listening then); this one was not sent.
				_, err = c.Write(buf)
			}
			if err != nil {
				// A receiver that is not (yet) listening answers with ICMP
				// port unreachable, which a later write reports; keep going.
				var ne *net.OpError
				if errors.As(err, &ne) {
					st.Skipped++
					continue
				}
				src.Close()
				return st, fmt.Errorf("replay: send: %w", err)
			}
			st.Sent++
			st.Bytes += uint64(len(buf))
		}
		src.Close()
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

func dirHash(a, b netip.Addr, pa, pb uint16) uint32 {
	h := uint32(2166136261)
	for _, x := range a.AsSlice() {
		h = (h ^ uint32(x)) * 16777619
	}
	for _, x := range b.AsSlice() {
		h = (h ^ uint32(x)) * 31
	}
	h = (h ^ uint32(pa)) * 16777619
	h = (h ^ uint32(pb)<<3) * 16777619
	return h
}

// datagramOf appends to dst the UDP payload to send for one captured
// frame: a mirror capture's own VXLAN/GENEVE payload, or the frame
// wrapped in VXLAN (and GENEVE).
func datagramOf(dst, data []byte, link decode.LinkType, origLen uint32, odec *decode.Decoder, p *decode.Packet, cfg *ReplayConfig) ([]byte, bool) {
	err := odec.Decode(data, link, origLen, p)
	if err == nil && p.L4 && p.Proto == 17 && !p.Fragment &&
		(p.DstPort == cfg.Decode.VXLANPort || p.DstPort == cfg.Decode.GENEVEPort) {
		// A mirror capture: send the tunnel payload as captured.
		off := int(p.L2Len) + int(p.IPHdrLen) + 8
		end := int(p.L2Len) + int(p.IPLen)
		if end > len(data) {
			end = len(data)
		}
		if off > end {
			return dst, false
		}
		pay := data[off:end]
		if p.DstPort == cfg.Decode.VXLANPort && cfg.Encap == "geneve" {
			return appendGENEVE(dst, p.Src, p.Dst, pay), true
		}
		return append(dst, pay...), true
	}
	// A plain frame: VXLAN carries Ethernet.
	var v []byte
	v = appendVXLANHeader(dst, cfg.VNI)
	switch {
	case link == decode.LinkEthernet:
		v = append(v, data...)
	case err == nil || p.IPVersion != 0:
		if p.IPVersion == 0 || int(p.L2Len) > len(data) {
			return dst, false
		}
		// Give a non-Ethernet capture (raw IP, Linux SLL) an Ethernet
		// header with locally administered addresses.
		v = append(v, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1)
		v = binary.BigEndian.AppendUint16(v, p.EtherType)
		v = append(v, data[p.L2Len:]...)
	default:
		return dst, false
	}
	if cfg.Encap == "geneve" {
		inner := append([]byte(nil), v[len(dst):]...)
		return appendGENEVE(dst, netip.AddrFrom4([4]byte{198, 18, 0, 1}), netip.AddrFrom4([4]byte{198, 18, 0, 2}), inner), true
	}
	return v, true
}

func appendVXLANHeader(b []byte, vni uint32) []byte {
	return append(b, 0x08, 0, 0, 0, byte(vni>>16), byte(vni>>8), byte(vni), 0)
}

// appendGENEVE appends a GENEVE header with the three AWS GWLB options,
// then an IPv4/UDP header to port 4789 from src to dst, then vxlan (a
// VXLAN header and frame), as a Gateway Load Balancer delivers a mirror
// packet.
func appendGENEVE(b []byte, src, dst netip.Addr, vxlan []byte) []byte {
	const optWords = 3 + 3 + 2
	b = append(b, optWords, 0, 0x08, 0x00, 0, 0, 0, 0) // ver 0, opt len, proto IPv4, VNI 0
	b = append(b, 0x01, 0x08, 1, 2)
	b = binary.BigEndian.AppendUint64(b, replayGWLBEndpoint)
	b = append(b, 0x01, 0x08, 2, 2)
	b = binary.BigEndian.AppendUint64(b, replayGWLBAttachment)
	b = append(b, 0x01, 0x08, 3, 1)
	b = binary.BigEndian.AppendUint32(b, 0x5eed)
	s4, d4 := src.As4(), dst.As4()
	if !src.Is4() || !dst.Is4() {
		s4, d4 = [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	}
	total := 20 + 8 + len(vxlan)
	ip := len(b)
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0, 0, 64, 17, 0, 0)
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], ipChecksum(b[ip:ip+20]))
	ul := 8 + len(vxlan)
	b = append(b, 0xc0, 0x01, 0x12, 0xb5, byte(ul>>8), byte(ul), 0, 0) // 49153 -> 4789, no checksum
	return append(b, vxlan...)
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
