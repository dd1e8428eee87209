// Command genevewrap rewrites a VXLAN mirror capture as a Gateway Load
// Balancer delivers the same mirror packets to its targets: each frame's
// IP packet (outer IPv4/UDP/VXLAN and the mirrored frame) goes inside
// GENEVE (UDP 6081) with the three AWS options (class 0x0108: endpoint
// id, attachment id, flow cookie), from 10.0.1.7 to the frame's outer
// destination. Timestamps and the mirrored frames are unchanged, so
// `mirrorscope analyze` gives the same flows for both files. It is the
// GENEVE capture of the speed benchmark (scripts/bench-speed.sh); nothing
// it writes is stored in the repository.
//
//	go run ./scripts/genevewrap -o bulk.geneve.pcap bulk.mon.pcap
//
// Frames that are not Ethernet/IPv4 are copied as they are (counted on
// standard error). Output: classic pcap, nanosecond timestamps.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mirrorscope/mirrorscope/internal/capture"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "genevewrap:", err)
		os.Exit(2)
	}
}

// prefix is what goes in front of a frame's IP packet: Ethernet (14),
// IPv4 (20), UDP (8), GENEVE (8) and its options (32).
const prefix = 14 + 20 + 8 + 8 + 32

func run(args []string) error {
	fs := flag.NewFlagSet("genevewrap", flag.ContinueOnError)
	out := fs.String("o", "", "output pcap `file` (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 1 {
		return errors.New("usage: genevewrap -o OUT.pcap MIRROR.pcap")
	}
	src, err := capture.OpenFiles([]string{fs.Arg(0)}, capture.Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b23c4d) // nanosecond pcap
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.Write(hdr[:])
	var fr capture.Frame
	var buf []byte
	var wrapped, copied uint64
	for {
		if err := src.Next(&fr); err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		d := fr.Data
		origLen := fr.OrigLen
		if fr.Link == 1 && len(d) >= 34 && binary.BigEndian.Uint16(d[12:14]) == 0x0800 && d[14]>>4 == 4 {
			ipLen := int(origLen) - 14 // the IP packet on the wire
			buf = wrap(buf[:0], d[14:], ipLen, [4]byte(d[30:34]))
			d, origLen = buf, origLen+prefix-14
			wrapped++
		} else {
			copied++
		}
		var rec [16]byte
		binary.LittleEndian.PutUint32(rec[0:], uint32(fr.TS/1e9))
		binary.LittleEndian.PutUint32(rec[4:], uint32(fr.TS%1e9))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(d)))
		binary.LittleEndian.PutUint32(rec[12:], origLen)
		w.Write(rec[:])
		w.Write(d)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "genevewrap: %d frames wrapped in GENEVE, %d copied as they were\n", wrapped, copied)
	return nil
}

// wrap appends to b the GENEVE frame around ip (captured bytes of an IP
// packet of ipLen bytes on the wire) addressed to dst.
func wrap(b, ip []byte, ipLen int, dst [4]byte) []byte {
	b = append(b, 0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 1, 7, 0x08, 0x00)
	total := 20 + 8 + 8 + 32 + ipLen
	iph := len(b)
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 1, 7)
	b = append(b, dst[:]...)
	binary.BigEndian.PutUint16(b[iph+10:], checksum(b[iph:iph+20]))
	ul := total - 20
	b = append(b, 0xc3, 0x50, 0x17, 0xc1, byte(ul>>8), byte(ul), 0, 0) // 50000 -> 6081, no checksum
	b = append(b, 8, 0, 0x08, 0x00, 0, 0, 0, 0)                        // 8 option words, protocol IPv4
	b = append(b, 0x01, 0x08, 1, 2)
	b = binary.BigEndian.AppendUint64(b, 0x0a1b2c3d4e5f6071)
	b = append(b, 0x01, 0x08, 2, 2)
	b = binary.BigEndian.AppendUint64(b, 0x1122334455667788)
	b = append(b, 0x01, 0x08, 3, 1)
	b = binary.BigEndian.AppendUint32(b, 0x5eed)
	return append(b, ip...)
}

func checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
