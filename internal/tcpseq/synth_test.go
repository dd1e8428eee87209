package tcpseq

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// synPkt describes one synthetic TCP packet between client c (10.0.0.1:40000)
// and server s (10.0.0.2:80).
type synPkt struct {
	fromServer bool
	at         time.Duration // since the start
	seq, ack   uint32
	flags      uint8
	win        uint16
	payload    int
	ws         int // window scale option; -1 none
	mss        uint16
	sack       [][2]uint32
	ts         [2]uint32 // TSval, TSecr; both 0 = no timestamp option
	ecn        uint8
	v6         bool // IPv6 (2001:db8::1 and ::2) instead of IPv4
	ipExtra    int  // bytes the IP length claims beyond the frame (a bad length)
}

func buildTCPFrame(p synPkt) []byte {
	opts := []byte{}
	if p.mss != 0 {
		opts = append(opts, 2, 4, byte(p.mss>>8), byte(p.mss))
	}
	if p.ws >= 0 {
		opts = append(opts, 1, 3, 3, byte(p.ws))
	}
	if p.ts != [2]uint32{} {
		opts = append(opts, 1, 1, 8, 10)
		opts = binary.BigEndian.AppendUint32(opts, p.ts[0])
		opts = binary.BigEndian.AppendUint32(opts, p.ts[1])
	}
	if len(p.sack) > 0 {
		opts = append(opts, 1, 1, 5, byte(2+8*len(p.sack)))
		for _, b := range p.sack {
			opts = binary.BigEndian.AppendUint32(opts, b[0])
			opts = binary.BigEndian.AppendUint32(opts, b[1])
		}
	}
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	tcpLen := 20 + len(opts)
	ipHdr := 20
	if p.v6 {
		ipHdr = 40
	}
	ipLen := ipHdr + tcpLen + p.payload
	b := make([]byte, 14+ipLen)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	ip := b[14:]
	sp, dp := uint16(40000), uint16(80)
	if p.fromServer {
		sp, dp = dp, sp
	}
	if p.v6 {
		b[12], b[13] = 0x86, 0xdd
		ip[0] = 0x60 | p.ecn>>4
		ip[1] = p.ecn << 4
		binary.BigEndian.PutUint16(ip[4:], uint16(ipLen-40+p.ipExtra))
		ip[6], ip[7] = 6, 64
		src, dst := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
		if p.fromServer {
			src, dst = dst, src
		}
		copy(ip[8:24], src[:])
		copy(ip[24:40], dst[:])
	} else {
		b[12], b[13] = 0x08, 0x00
		ip[0] = 0x45
		ip[1] = p.ecn
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen+p.ipExtra))
		ip[8] = 64
		ip[9] = 6
		src, dst := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}
		if p.fromServer {
			src, dst = dst, src
		}
		copy(ip[12:16], src)
		copy(ip[16:20], dst)
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
	}
	tcp := ip[ipHdr:]
	binary.BigEndian.PutUint16(tcp[0:], sp)
	binary.BigEndian.PutUint16(tcp[2:], dp)
	binary.BigEndian.PutUint32(tcp[4:], p.seq)
	binary.BigEndian.PutUint32(tcp[8:], p.ack)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = p.flags
	binary.BigEndian.PutUint16(tcp[14:], p.win)
	copy(tcp[20:], opts)
	return b
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func writeSynth(t *testing.T, pkts []synPkt) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	for _, p := range pkts {
		b := buildTCPFrame(p)
		ci := gopacket.CaptureInfo{Timestamp: base.Add(p.at), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

const (
	fS = 0x02
	fA = 0x10
	fF = 0x01
	fR = 0x04
	fP = 0x08
	fE = 0x40
	fC = 0x80
)

// synthScenario exercises the flags the lab captures rarely show: window
// scaling, window full, zero window and its probes, keep-alives, ACKs of
// unseen segments, a retransmitted SYN and a new SYN reusing the ports.
func synthScenario() []synPkt {
	ms := time.Millisecond
	const c0, s0 = 1000, 5000
	n := -1
	return []synPkt{
		{at: 0, seq: c0, flags: fS, win: 64240, ws: 7, mss: 1460, ts: [2]uint32{100, 0}},
		{fromServer: true, at: 10 * ms, seq: s0, ack: c0 + 1, flags: fS | fA, win: 65160, ws: 2, mss: 1460, ts: [2]uint32{500, 100}},
		{at: 20 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA, win: 502, ws: n, ts: [2]uint32{110, 500}},
		// Data up to the server's window (1000 << 2 = 4000 bytes after its first ACK).
		{fromServer: true, at: 21 * ms, seq: s0 + 1, ack: c0 + 1, flags: fA, win: 1000, ws: n, ts: [2]uint32{510, 110}},
		{at: 22 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA | fP, win: 502, ws: n, payload: 2000, ts: [2]uint32{112, 510}},
		{at: 23 * ms, seq: c0 + 2001, ack: s0 + 1, flags: fA | fP, win: 502, ws: n, payload: 2000, ts: [2]uint32{113, 510}},
		{fromServer: true, at: 40 * ms, seq: s0 + 1, ack: c0 + 4001, flags: fA, win: 0, ws: n, ts: [2]uint32{530, 113}, ecn: 3},
		// Zero window probe, its ACK, window update.
		{at: 300 * ms, seq: c0 + 4001, ack: s0 + 1, flags: fA, win: 502, ws: n, payload: 1, ts: [2]uint32{400, 530}},
		{fromServer: true, at: 310 * ms, seq: s0 + 1, ack: c0 + 4001, flags: fA, win: 0, ws: n, ts: [2]uint32{800, 400}},
		{fromServer: true, at: 500 * ms, seq: s0 + 1, ack: c0 + 4001, flags: fA, win: 2000, ws: n, ts: [2]uint32{990, 400}},
		{at: 510 * ms, seq: c0 + 4001, ack: s0 + 1, flags: fA | fP | fC, win: 502, ws: n, payload: 1000, ts: [2]uint32{610, 990}, ecn: 2},
		// A hole: the next segment is not captured, then the ACK covers it.
		{at: 511 * ms, seq: c0 + 6001, ack: s0 + 1, flags: fA | fP, win: 502, ws: n, payload: 1000, ts: [2]uint32{611, 990}, ecn: 2},
		{fromServer: true, at: 530 * ms, seq: s0 + 1, ack: c0 + 5001, flags: fA | fE, win: 2000, ws: n, sack: [][2]uint32{{c0 + 6001, c0 + 7001}}, ts: [2]uint32{1010, 610}},
		{fromServer: true, at: 531 * ms, seq: s0 + 1, ack: c0 + 5001, flags: fA, win: 2000, ws: n, sack: [][2]uint32{{c0 + 6001, c0 + 7001}}, ts: [2]uint32{1011, 611}},
		{fromServer: true, at: 532 * ms, seq: s0 + 1, ack: c0 + 5001, flags: fA, win: 2000, ws: n, sack: [][2]uint32{{c0 + 6001, c0 + 7001}}, ts: [2]uint32{1012, 611}},
		{at: 535 * ms, seq: c0 + 5001, ack: s0 + 1, flags: fA, win: 502, ws: n, payload: 1000, ts: [2]uint32{620, 1012}},
		{fromServer: true, at: 550 * ms, seq: s0 + 1, ack: c0 + 9001, flags: fA, win: 2000, ws: n, ts: [2]uint32{1030, 620}},
		// Keep-alive and its ACK, then an RTO retransmission.
		{at: 2 * time.Second, seq: c0 + 7000, ack: s0 + 1, flags: fA, win: 502, ws: n, ts: [2]uint32{2100, 1030}},
		{fromServer: true, at: 2010 * ms, seq: s0 + 1, ack: c0 + 9001, flags: fA, win: 2000, ws: n, ts: [2]uint32{2500, 2100}},
		{at: 2100 * ms, seq: c0 + 7001, ack: s0 + 1, flags: fA | fP, win: 502, ws: n, payload: 500, ts: [2]uint32{2200, 2500}},
		{at: 2500 * ms, seq: c0 + 7501, ack: s0 + 1, flags: fA | fP, win: 502, ws: n, payload: 500, ts: [2]uint32{2600, 2500}},
		{at: 3200 * ms, seq: c0 + 7501, ack: s0 + 1, flags: fA | fP, win: 502, ws: n, payload: 500, ts: [2]uint32{3300, 2500}},
		{fromServer: true, at: 3210 * ms, seq: s0 + 1, ack: c0 + 8001, flags: fA, win: 2000, ws: n, ts: [2]uint32{3700, 3300}},
		{at: 3300 * ms, seq: c0 + 8001, ack: s0 + 1, flags: fA | fF, win: 502, ws: n, ts: [2]uint32{3400, 3700}},
		{fromServer: true, at: 3310 * ms, seq: s0 + 1, ack: c0 + 8002, flags: fA | fR, win: 0, ws: n},
		// Same ports again: a SYN, its retransmission, a new ISN.
		{at: 5 * time.Second, seq: 90000, flags: fS, win: 64240, ws: n, mss: 1460},
		{at: 6 * time.Second, seq: 90000, flags: fS, win: 64240, ws: n, mss: 1460},
		{fromServer: true, at: 6010 * ms, seq: 70000, ack: 90001, flags: fS | fA, win: 65160, ws: n, mss: 1460},
		{at: 6020 * ms, seq: 90001, ack: 70001, flags: fA, win: 64240, ws: n},
		{at: 6021 * ms, seq: 90001, ack: 70001, flags: fA | fP, win: 64240, ws: n, payload: 64240},
		{fromServer: true, at: 6040 * ms, seq: 70001, ack: 90001 + 64240, flags: fA, win: 0, ws: n},
		{fromServer: true, at: 6041 * ms, seq: 70001, ack: 90001 + 64240 + 3000, flags: fA, win: 0, ws: n},
	}
}

func TestSyntheticParity(t *testing.T) {
	needTshark(t)
	path := writeSynth(t, synthScenario())
	frames, err := readCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	compareFile(t, path, frames)
}
