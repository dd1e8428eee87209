// Command gwlb replays the VXLAN mirror packets of a pcap file the way an
// AWS Gateway Load Balancer delivers them to an appliance: each mirror
// packet's IPv4 datagram (outer IPv4 + UDP 4789 + VXLAN + Ethernet frame) is
// sent as the payload of a GENEVE packet (RFC 8926, protocol type 0x0800,
// VNI 0) carrying the three GWLB options of class 0x0108: endpoint ID
// (type 1, 8 bytes), attachment ID (type 2, 8 bytes) and flow cookie
// (type 3, 4 bytes), over a real UDP socket to port 6081.
//
// It lives under testdata/ so that `go build ./...` ignores it; it only makes
// test captures (see testdata/README.md). Standard library only.
//
// Usage: gwlb -in mirror.pcap -to 198.19.1.2:6081 [-from 198.19.1.1:0]
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"time"
)

const (
	endpointID   = 0x0a1b2c3d4e5f6071 // stands for vpce-0a1b2c3d4e5f6071
	attachmentID = 0x00000000000000a1
	vxlanPort    = 4789
)

func main() {
	in := flag.String("in", "", "pcap with VXLAN mirror packets (Ethernet link type)")
	to := flag.String("to", "198.19.1.2:6081", "appliance address")
	from := flag.String("from", "", "local address (optional)")
	flag.Parse()
	if err := run(*in, *to, *from); err != nil {
		fmt.Fprintln(os.Stderr, "gwlb:", err)
		os.Exit(1)
	}
}

func run(in, to, from string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	raddr, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		return err
	}
	var laddr *net.UDPAddr
	if from != "" {
		if laddr, err = net.ResolveUDPAddr("udp4", from); err != nil {
			return err
		}
	}
	conn, err := net.DialUDP("udp4", laddr, raddr)
	if err != nil {
		return err
	}
	defer conn.Close()

	var gh [24]byte
	if _, err := io.ReadFull(f, gh[:]); err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(gh[:4]) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return errors.New("not a pcap file")
	}
	if lt := bo.Uint32(gh[20:24]); lt != 1 {
		return fmt.Errorf("link type %d, want 1 (Ethernet)", lt)
	}
	var (
		rh            [16]byte
		buf           = make([]byte, 1<<18)
		out           = make([]byte, 0, 1<<18)
		first         time.Duration
		start         time.Time
		sent, skipped int
	)
	for {
		if _, err := io.ReadFull(f, rh[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("record header: %w", err)
		}
		sec, frac := bo.Uint32(rh[0:4]), bo.Uint32(rh[4:8])
		capLen := bo.Uint32(rh[8:12])
		if int(capLen) > len(buf) {
			return fmt.Errorf("record of %d bytes", capLen)
		}
		data := buf[:capLen]
		if _, err := io.ReadFull(f, data); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		ts := time.Duration(sec) * time.Second
		if nano {
			ts += time.Duration(frac)
		} else {
			ts += time.Duration(frac) * time.Microsecond
		}
		ip, sport, ok := vxlanDatagram(data)
		if !ok {
			skipped++
			continue
		}
		// Keep the original spacing: sleep to 1 ms, then spin.
		if start.IsZero() {
			start, first = time.Now(), ts
		} else {
			due := start.Add(ts - first)
			if d := time.Until(due); d > 2*time.Millisecond {
				time.Sleep(d - time.Millisecond)
			}
			for time.Now().Before(due) {
			}
		}
		out = geneve(out[:0], ip, sport)
		if _, err := conn.Write(out); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		sent++
	}
	fmt.Printf("{\"sent\": %d, \"skipped_not_vxlan\": %d}\n", sent, skipped)
	return nil
}

// vxlanDatagram returns the IPv4 datagram of an Ethernet frame carrying UDP to
// port 4789, whole (the capture must not have cut it), and its UDP source port.
func vxlanDatagram(fr []byte) ([]byte, uint16, bool) {
	if len(fr) < 14+20+8+8 || binary.BigEndian.Uint16(fr[12:14]) != 0x0800 {
		return nil, 0, false
	}
	ip := fr[14:]
	ihl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ihl < 20 || tot > len(ip) || tot < ihl+16 || ip[9] != 17 {
		return nil, 0, false
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:4]) != vxlanPort {
		return nil, 0, false
	}
	return ip[:tot], binary.BigEndian.Uint16(udp[0:2]), true
}

// geneve appends the GENEVE header with the GWLB options and then ip. The
// flow cookie stands for GWLB's per-flow value: a hash of the mirror
// packet's outer UDP source port, which AWS derives from the inner flow.
func geneve(b, ip []byte, sport uint16) []byte {
	h := fnv.New32a()
	h.Write([]byte{byte(sport >> 8), byte(sport)})
	cookie := h.Sum32()
	const optWords = (4 + 8 + 4 + 8 + 4 + 4) / 4
	b = append(b, optWords&0x3f, 0, 0x08, 0x00, 0, 0, 0, 0) // ver 0, O=C=0, IPv4, VNI 0
	b = append(b, 0x01, 0x08, 1, 2)                         // class 0x0108, type 1, 2 words
	b = binary.BigEndian.AppendUint64(b, endpointID)
	b = append(b, 0x01, 0x08, 2, 2) // type 2
	b = binary.BigEndian.AppendUint64(b, attachmentID)
	b = append(b, 0x01, 0x08, 3, 1) // type 3
	b = binary.BigEndian.AppendUint32(b, cookie)
	return append(b, ip...)
}
