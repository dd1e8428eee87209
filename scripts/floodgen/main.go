// Command floodgen writes a classic pcap of many distinct TCP flows to
// stdout (or -o FILE), fast, for the memory-budget tests of analyze and
// listen (docs/benchmarks.md): a SYN scan (-kind syn: one SYN per flow) or
// data flows (-kind data: handshake, data segments and their ACKs, FIN in
// both directions), -concurrent flows open at once, interleaved packet by
// packet. Nothing is random: the same flags write the same bytes.
//
//	go run ./scripts/floodgen -flows 10000000 -kind syn | mirrorscope analyze -
//
// With -vxlan the frames are VXLAN mirror packets (VNI 100), for replay
// into listen.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "floodgen:", err)
		os.Exit(2)
	}
}

type gen struct {
	w       *bufio.Writer
	vxlan   bool
	payload int
	ts      int64 // µs
	rec     [16]byte
	frame   []byte
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("floodgen", flag.ContinueOnError)
	flows := fs.Int("flows", 1_000_000, "distinct flows")
	kind := fs.String("kind", "syn", "syn (one SYN per flow) or data (handshake, data, ACKs, FINs)")
	segs := fs.Int("segments", 4, "data segments per flow (-kind data); a flow has 2*segments+6 packets")
	payload := fs.Int("payload", 100, "TCP payload bytes per data segment (zero bytes, then a marker)")
	conc := fs.Int("concurrent", 100_000, "flows open at once (-kind data): their packets are interleaved")
	vxlan := fs.Bool("vxlan", false, "wrap each frame in VXLAN (VNI 100) from 10.255.0.1 to 10.255.0.2:4789")
	out := fs.String("o", "-", "output file (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *flows < 1 || *segs < 0 || *payload < 0 || *payload > 1400 || *conc < 1 {
		return errors.New("bad flag value")
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	g := &gen{w: bufio.NewWriterSize(w, 1<<20), vxlan: *vxlan, payload: *payload, ts: 1_700_000_000_000_000}
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	g.w.Write(hdr[:])
	switch *kind {
	case "syn":
		for i := 0; i < *flows; i++ {
			g.packet(i, false, synFlag, 1000, 0, 0)
		}
	case "data":
		for base := 0; base < *flows; base += *conc {
			n := min(*conc, *flows-base)
			steps := 2**segs + 6
			for s := 0; s < steps; s++ {
				for i := base; i < base+n; i++ {
					g.dataStep(i, s, *segs)
				}
			}
		}
	default:
		return fmt.Errorf("unknown -kind %q", *kind)
	}
	return g.w.Flush()
}

const (
	finFlag = 0x01
	synFlag = 0x02
	ackFlag = 0x10
	pshFlag = 0x08
)

// dataStep writes step s of flow i: SYN, SYN/ACK, ACK, then segs times
// (data, ACK), then FIN/ACK, ACK+FIN back, last ACK.
func (g *gen) dataStep(i, s, segs int) {
	const isn, isnS = 1000, 5000
	pl := uint32(g.payload)
	switch {
	case s == 0:
		g.packet(i, false, synFlag, isn, 0, 0)
	case s == 1:
		g.packet(i, true, synFlag|ackFlag, isnS, isn+1, 0)
	case s == 2:
		g.packet(i, false, ackFlag, isn+1, isnS+1, 0)
	case s < 3+2*segs:
		k := uint32(s-3) / 2
		if (s-3)%2 == 0 {
			g.packet(i, false, ackFlag|pshFlag, isn+1+k*pl, isnS+1, g.payload)
		} else {
			g.packet(i, true, ackFlag, isnS+1, isn+1+(k+1)*pl, 0)
		}
	default:
		end := isn + 1 + uint32(segs)*pl
		switch s - (3 + 2*segs) {
		case 0:
			g.packet(i, false, finFlag|ackFlag, end, isnS+1, 0)
		case 1:
			g.packet(i, true, finFlag|ackFlag, isnS+1, end+1, 0)
		case 2:
			g.packet(i, false, ackFlag, end+1, isnS+2, 0)
		}
	}
}

// packet writes one frame of flow i: client 10.(i>>16 & 0xff).(i>>8 & 0xff).(i&0xff)
// and port 1024+(i>>24) to server 192.0.2.1:80 (reverse when fromServer).
func (g *gen) packet(i int, fromServer bool, flags uint8, seq, ack uint32, payload int) {
	f := g.frame[:0]
	if g.vxlan {
		f = append(f, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00)
		f = ipv4(f, [4]byte{10, 255, 0, 1}, [4]byte{10, 255, 0, 2}, 17, 8+8+14+20+20+payload)
		f = binary.BigEndian.AppendUint16(f, uint16(40000+i&0x3fff))
		f = binary.BigEndian.AppendUint16(f, 4789)
		f = binary.BigEndian.AppendUint16(f, uint16(8+8+14+20+20+payload))
		f = append(f, 0, 0) // UDP checksum 0 (none), then VXLAN: I flag, VNI 100
		f = append(f, 0x08, 0, 0, 0, 0, 0, 100, 0)
	}
	cli := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	srv := [4]byte{192, 0, 2, 1}
	cport, sport := uint16(1024+(i>>24)), uint16(80)
	src, dst, sp, dp := cli, srv, cport, sport
	if fromServer {
		src, dst, sp, dp = srv, cli, sport, cport
	}
	f = append(f, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00)
	f = ipv4(f, src, dst, 6, 20+payload)
	f = binary.BigEndian.AppendUint16(f, sp)
	f = binary.BigEndian.AppendUint16(f, dp)
	f = binary.BigEndian.AppendUint32(f, seq)
	f = binary.BigEndian.AppendUint32(f, ack)
	f = append(f, 5<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
	for k := 0; k < payload; k++ {
		f = append(f, 0)
	}
	if payload >= 8 {
		copy(f[len(f)-8:], "FLOODMRK")
	}
	g.frame = f
	g.ts++
	binary.LittleEndian.PutUint32(g.rec[0:], uint32(g.ts/1_000_000))
	binary.LittleEndian.PutUint32(g.rec[4:], uint32(g.ts%1_000_000))
	binary.LittleEndian.PutUint32(g.rec[8:], uint32(len(f)))
	binary.LittleEndian.PutUint32(g.rec[12:], uint32(len(f)))
	g.w.Write(g.rec[:])
	g.w.Write(f)
}

func ipv4(f []byte, src, dst [4]byte, proto uint8, l4len int) []byte {
	start := len(f)
	f = append(f, 0x45, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(20+l4len))
	f = append(f, 0, 0, 0x40, 0, 64, proto, 0, 0)
	f = append(f, src[:]...)
	f = append(f, dst[:]...)
	var sum uint32
	for k := start; k < start+20; k += 2 {
		sum += uint32(f[k])<<8 | uint32(f[k+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(f[start+10:], ^uint16(sum))
	return f
}
