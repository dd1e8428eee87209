package tcpseq

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var updateCorpus = flag.Bool("update", false, "rewrite the parity corpus testdata/parity/*.pcap from its generator")

// corpusFrame is one frame of a generated parity capture. orig is its
// length on the wire when larger than data (a capture cut by snaplen).
type corpusFrame struct {
	at   time.Duration
	data []byte
	orig int
}

// corpusCase is one capture of the parity corpus: a case tshark 4.0.17
// decides in a way the lab captures never showed. The file
// testdata/parity/<name>.pcap is generated from it (-update) and is also
// part of TestWiresharkParity's corpus.
type corpusCase struct {
	name   string
	frames func() []corpusFrame
}

func synFrames(pkts []synPkt) []corpusFrame {
	out := make([]corpusFrame, len(pkts))
	for i, p := range pkts {
		out[i] = corpusFrame{at: p.at, data: buildTCPFrame(p)}
	}
	return out
}

// synHandshake returns a SYN, SYN/ACK, ACK between the client (ISN c0) and
// the server (ISN s0), without options, 10 ms apart.
func synHandshake(c0, s0 uint32, v6 bool) []synPkt {
	ms := time.Millisecond
	return []synPkt{
		{at: 0, seq: c0, flags: fS, win: 64240, ws: -1, mss: 1460, v6: v6},
		{fromServer: true, at: 10 * ms, seq: s0, ack: c0 + 1, flags: fS | fA, win: 65160, ws: -1, mss: 1460, v6: v6},
		{at: 20 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA, win: 502, ws: -1, v6: v6},
	}
}

var parityCorpus = []corpusCase{
	{"ackunseen-bidir", func() []corpusFrame {
		// Both sides send data; one client segment is missing from the
		// capture. tshark flags the first ACK covering it and the ACK of
		// the segment after the hole, then nothing: the ACKs that follow
		// are not "ACKed unseen" again.
		const c0, s0 = 1000, 5000
		pk := synHandshake(c0, s0, false)
		at, cs, ss := 30*time.Millisecond, uint32(c0+1), uint32(s0+1)
		for i := 0; i < 12; i++ {
			at += time.Millisecond
			if i != 3 {
				pk = append(pk, synPkt{at: at, seq: cs, ack: ss, flags: fA | fP, win: 502, ws: -1, payload: 100})
			}
			cs += 100
			at += time.Millisecond
			pk = append(pk, synPkt{fromServer: true, at: at, seq: ss, ack: cs, flags: fA | fP, win: 502, ws: -1, payload: 50})
			ss += 50
		}
		return synFrames(pk)
	}},
	{"ackunseen-dupacks", func() []corpusFrame {
		// The client has sent duplicate ACKs (its dup-ACK counter is 2)
		// when the server ACKs a client segment the capture missed;
		// then the client's data stops and the server keeps ACKing,
		// then a second hole.
		const c0, s0 = 1000, 5000
		pk := synHandshake(c0, s0, false)
		ms := time.Millisecond
		pk = append(pk,
			synPkt{fromServer: true, at: 30 * ms, seq: s0 + 1, ack: c0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
			// the server's 101..201 is lost: the client sends dup ACKs
			synPkt{fromServer: true, at: 31 * ms, seq: s0 + 201, ack: c0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{at: 32 * ms, seq: c0 + 1, ack: s0 + 101, flags: fA, win: 502, ws: -1},
			synPkt{at: 33 * ms, seq: c0 + 1, ack: s0 + 101, flags: fA, win: 502, ws: -1},
			synPkt{at: 34 * ms, seq: c0 + 1, ack: s0 + 101, flags: fA, win: 502, ws: -1},
			// the server ACKs client data the capture never had
			synPkt{fromServer: true, at: 35 * ms, seq: s0 + 301, ack: c0 + 201, flags: fA, win: 502, ws: -1},
			synPkt{fromServer: true, at: 36 * ms, seq: s0 + 301, ack: c0 + 401, flags: fA, win: 502, ws: -1},
			synPkt{at: 37 * ms, seq: c0 + 401, ack: s0 + 301, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 38 * ms, seq: s0 + 301, ack: c0 + 501, flags: fA, win: 502, ws: -1},
			synPkt{at: 39 * ms, seq: c0 + 601, ack: s0 + 301, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 40 * ms, seq: s0 + 301, ack: c0 + 701, flags: fA, win: 502, ws: -1},
			synPkt{fromServer: true, at: 41 * ms, seq: s0 + 301, ack: c0 + 701, flags: fA, win: 503, ws: -1},
			synPkt{at: 42 * ms, seq: c0 + 701, ack: s0 + 301, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 43 * ms, seq: s0 + 301, ack: c0 + 801, flags: fA, win: 503, ws: -1},
		)
		return synFrames(pk)
	}},
	{"ackunseen-oneway", func() []corpusFrame {
		// An FTP-data-like transfer: the client sends, the server only
		// ACKs; two holes in the capture, the ACKs run ahead.
		const c0, s0 = 1000, 5000
		pk := synHandshake(c0, s0, false)
		at, cs := 30*time.Millisecond, uint32(c0+1)
		for i := 0; i < 30; i++ {
			at += time.Millisecond
			if i != 5 && i != 17 && i != 18 {
				pk = append(pk, synPkt{at: at, seq: cs, ack: s0 + 1, flags: fA, win: 502, ws: -1, payload: 1000})
			}
			cs += 1000
			if i%2 == 1 {
				pk = append(pk, synPkt{fromServer: true, at: at + 500*time.Microsecond, seq: s0 + 1, ack: cs, flags: fA, win: 2000, ws: -1})
			}
		}
		return synFrames(pk)
	}},
}

// writeCorpus writes frames as a nanosecond pcap.
func writeCorpus(frames []corpusFrame) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		panic(err)
	}
	base := time.Unix(1_700_000_000, 0)
	for _, f := range frames {
		orig := f.orig
		if orig < len(f.data) {
			orig = len(f.data)
		}
		ci := gopacket.CaptureInfo{Timestamp: base.Add(f.at), CaptureLength: len(f.data), Length: orig}
		if err := w.WritePacket(ci, f.data); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// TestParityCorpus checks that each committed corpus capture is what its
// generator writes (run with -update after changing a generator) and
// compares our analysis of it with tshark's, frame by frame.
func TestParityCorpus(t *testing.T) {
	for _, c := range parityCorpus {
		t.Run(c.name, func(t *testing.T) {
			b := writeCorpus(c.frames())
			path := filepath.Join("..", "..", "testdata", "parity", c.name+".pcap")
			if *updateCorpus {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/tcpseq -run ParityCorpus -update)", err)
			}
			if !bytes.Equal(old, b) {
				t.Fatalf("%s differs from its generator: run go test ./internal/tcpseq -run ParityCorpus -update", path)
			}
			needTshark(t)
			frames, err := readCapture(path)
			if err != nil {
				t.Fatal(err)
			}
			compareFile(t, path, frames)
		})
	}
}

var _ = binary.BigEndian

func init() {
	parityCorpus = append(parityCorpus, corpusCase{"lost-after-dupacks", func() []corpusFrame {
		// The client has counted two duplicate ACKs when its own data
		// shows a hole; the server then retransmits what the dup ACKs
		// asked for, within 20 ms: fast retransmission or not depends on
		// whether the hole reset the client's dup-ACK counter.
		const c0, s0 = 1000, 5000
		pk := synHandshake(c0, s0, false)
		ms := time.Millisecond
		pk = append(pk,
			synPkt{fromServer: true, at: 30 * ms, seq: s0 + 1, ack: c0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 31 * ms, seq: s0 + 201, ack: c0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{at: 32 * ms, seq: c0 + 1, ack: s0 + 101, flags: fA, win: 502, ws: -1},
			synPkt{at: 33 * ms, seq: c0 + 1, ack: s0 + 101, flags: fA, win: 502, ws: -1},
			synPkt{at: 34 * ms, seq: c0 + 1, ack: s0 + 101, flags: fA, win: 502, ws: -1},
			synPkt{at: 35 * ms, seq: c0 + 101, ack: s0 + 101, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 36 * ms, seq: s0 + 101, ack: c0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 37 * ms, seq: s0 + 301, ack: c0 + 201, flags: fA, win: 502, ws: -1},
			synPkt{at: 38 * ms, seq: c0 + 201, ack: s0 + 301, flags: fA | fP, win: 502, ws: -1, payload: 100},
			synPkt{fromServer: true, at: 39 * ms, seq: s0 + 301, ack: c0 + 301, flags: fA, win: 502, ws: -1},
		)
		return synFrames(pk)
	}})
}

func init() {
	parityCorpus = append(parityCorpus,
		corpusCase{"syn-after-rst", func() []corpusFrame {
			// A connection is reset, then the client sends its SYN again
			// with the same ISN (a client retrying a connect whose SYN/ACK
			// it answered with a RST, or a capture of a SYN retry after
			// a RST from a middlebox). tshark keeps the stream: the SYN
			// is a retransmission. A new ISN afterwards is a new stream.
			const c0, s0 = 1000, 5000
			ms := time.Millisecond
			pk := synHandshake(c0, s0, false)
			pk = append(pk,
				synPkt{at: 30 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
				synPkt{fromServer: true, at: 40 * ms, seq: s0 + 1, ack: c0 + 101, flags: fA | fR, win: 0, ws: -1},
				synPkt{at: 1000 * ms, seq: c0, flags: fS, win: 64240, ws: -1, mss: 1460},
				synPkt{fromServer: true, at: 1010 * ms, seq: s0, ack: c0 + 1, flags: fS | fA, win: 65160, ws: -1, mss: 1460},
				synPkt{at: 1020 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA, win: 502, ws: -1},
				synPkt{at: 1030 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100},
				synPkt{fromServer: true, at: 1040 * ms, seq: s0 + 1, ack: c0 + 101, flags: fA, win: 502, ws: -1},
				synPkt{at: 1050 * ms, seq: c0 + 101, ack: s0 + 1, flags: fA | fR, win: 0, ws: -1},
				// the same SYN after a client RST, then a new ISN
				synPkt{at: 2000 * ms, seq: c0, flags: fS, win: 64240, ws: -1, mss: 1460},
				synPkt{at: 3000 * ms, seq: 777777, flags: fS, win: 64240, ws: -1, mss: 1460},
				synPkt{fromServer: true, at: 3010 * ms, seq: 99999, ack: 777778, flags: fS | fA, win: 65160, ws: -1, mss: 1460},
				synPkt{at: 3020 * ms, seq: 777778, ack: 100000, flags: fA, win: 502, ws: -1},
			)
			return synFrames(pk)
		}},
	)
}

func init() {
	parityCorpus = append(parityCorpus,
		corpusCase{"iplen-beyond-frame", func() []corpusFrame {
			// Data segments whose IP total length claims more bytes than
			// the frame has on the wire (a bad length, or a capture tool
			// that cut the frame and wrote the cut length as the wire
			// length). tshark takes the TCP length from the frame; by
			// the IP header the next segment would look lost and the ACKs
			// would ACK nothing seen. IPv4 and IPv6, plus one frame cut by
			// snaplen (wire length kept), which is not a bad length.
			var out []corpusFrame
			for _, v6 := range []bool{false, true} {
				c0, s0 := uint32(1000), uint32(5000)
				base := time.Duration(0)
				if v6 {
					base = 10 * time.Second
				}
				ms := time.Millisecond
				pk := synHandshake(c0, s0, v6)
				pk = append(pk,
					synPkt{at: 30 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100, ipExtra: 60, v6: v6},
					synPkt{at: 31 * ms, seq: c0 + 101, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100, ipExtra: 1, v6: v6},
					synPkt{fromServer: true, at: 40 * ms, seq: s0 + 1, ack: c0 + 201, flags: fA, win: 502, ws: -1, v6: v6},
					synPkt{at: 41 * ms, seq: c0 + 201, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100, v6: v6},
					synPkt{fromServer: true, at: 50 * ms, seq: s0 + 1, ack: c0 + 301, flags: fA, win: 502, ws: -1, v6: v6},
				)
				for _, f := range synFrames(pk) {
					f.at += base
					out = append(out, f)
				}
				// A frame cut by snaplen: 40 bytes captured, wire length kept.
				f := corpusFrame{at: base + 51*ms, data: buildTCPFrame(synPkt{at: 51 * ms, seq: c0 + 301, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100, v6: v6})}
				f.orig = len(f.data)
				f.data = f.data[:len(f.data)-80]
				out = append(out, f)
				out = append(out, synFrames([]synPkt{{fromServer: true, at: base + 60*ms, seq: s0 + 1, ack: c0 + 401, flags: fA, win: 502, ws: -1, v6: v6}})...)
			}
			return out
		}},
	)
}

// fragment splits the IP packet of an Ethernet frame made by buildTCPFrame
// into fragments carrying the datagram bytes [cuts[i], cuts[i+1]) (the
// last one up to the end), in the order given by order (indexes into the
// pieces). IPv6 fragments get a fragment header (id).
func fragment(frame []byte, v6 bool, id uint32, cuts []int, order []int) [][]byte {
	eth, ip := frame[:14], frame[14:]
	hl := 20
	if v6 {
		hl = 40
	}
	data := ip[hl:]
	var pieces [][]byte
	for i, c := range cuts {
		end := len(data)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		more := i+1 < len(cuts)
		var h []byte
		if v6 {
			h = append([]byte{}, ip[:40]...)
			h[6] = 44
			fh := make([]byte, 8)
			fh[0] = ip[6]
			off := uint16(c) | 0
			if more {
				off |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], off)
			binary.BigEndian.PutUint32(fh[4:], id)
			h = append(h, fh...)
			binary.BigEndian.PutUint16(h[4:], uint16(8+end-c))
		} else {
			h = append([]byte{}, ip[:20]...)
			fo := uint16(c / 8)
			if more {
				fo |= 0x2000
			}
			binary.BigEndian.PutUint16(h[6:], fo)
			binary.BigEndian.PutUint16(h[4:], uint16(id))
			binary.BigEndian.PutUint16(h[2:], uint16(20+end-c))
			h[10], h[11] = 0, 0
			binary.BigEndian.PutUint16(h[10:], ipChecksum(h[:20]))
		}
		f := append(append(append([]byte{}, eth...), h...), data[c:end]...)
		pieces = append(pieces, f)
	}
	out := make([][]byte, len(order))
	for i, j := range order {
		out[i] = pieces[j]
	}
	return out
}

func init() {
	parityCorpus = append(parityCorpus, corpusCase{"ip-fragments", func() []corpusFrame {
		// Fragmented TCP segments, analysed by tshark at the fragment
		// that completes the datagram: a SYN whose first fragment holds
		// only 8 bytes of the TCP header, a data segment in three
		// fragments arriving out of order, the same over IPv6, and a
		// datagram whose last fragment never comes (given up).
		var out []corpusFrame
		add := func(at time.Duration, fs ...[]byte) {
			for i, f := range fs {
				out = append(out, corpusFrame{at: at + time.Duration(i)*time.Microsecond, data: f})
			}
		}
		ms := time.Millisecond
		for _, v6 := range []bool{false, true} {
			base := time.Duration(0)
			if v6 {
				base = 10 * time.Second
			}
			const c0, s0 = 1000, 5000
			hs := synHandshake(c0, s0, v6)
			syn := buildTCPFrame(hs[0])
			add(base, fragment(syn, v6, 1, []int{0, 8}, []int{0, 1})...)
			add(base+10*ms, buildTCPFrame(hs[1]))
			add(base+20*ms, buildTCPFrame(hs[2]))
			d1 := buildTCPFrame(synPkt{at: 30 * ms, seq: c0 + 1, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 1000, v6: v6})
			add(base+30*ms, fragment(d1, v6, 2, []int{0, 400, 800}, []int{2, 0, 1})...)
			add(base+31*ms, buildTCPFrame(synPkt{at: 31 * ms, seq: c0 + 1001, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100, v6: v6}))
			add(base+40*ms, buildTCPFrame(synPkt{fromServer: true, at: 40 * ms, seq: s0 + 1, ack: c0 + 1101, flags: fA, win: 502, ws: -1, v6: v6}))
			// never completed: the last fragment is missing
			d2 := buildTCPFrame(synPkt{at: 50 * ms, seq: c0 + 1101, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 1000, v6: v6})
			add(base+50*ms, fragment(d2, v6, 3, []int{0, 400, 800}, []int{0, 1})...)
			add(base+60*ms, buildTCPFrame(synPkt{at: 60 * ms, seq: c0 + 2101, ack: s0 + 1, flags: fA | fP, win: 502, ws: -1, payload: 100, v6: v6}))
			add(base+70*ms, buildTCPFrame(synPkt{fromServer: true, at: 70 * ms, seq: s0 + 1, ack: c0 + 2201, flags: fA, win: 502, ws: -1, v6: v6}))
		}
		return out
	}})
}
