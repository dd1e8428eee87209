package engine

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// memFrame is one frame held in memory for the in-memory benchmarks.
type memFrame struct {
	data    []byte
	ts      int64
	origLen uint32
	link    decode.LinkType
}

// loadFrames reads up to max Ethernet frames of path into memory.
func loadFrames(tb testing.TB, path string, max int) []memFrame {
	tb.Helper()
	src, err := capture.OpenFiles([]string{path}, capture.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var out []memFrame
	var buf []byte
	var f capture.Frame
	for len(out) < max && src.Next(&f) == nil {
		if len(buf)+len(f.Data) > cap(buf) {
			buf = make([]byte, 0, 16<<20)
		}
		off := len(buf)
		buf = append(buf, f.Data...)
		out = append(out, memFrame{data: buf[off:len(buf):len(buf)], ts: f.TS, origLen: f.OrigLen, link: f.Link})
	}
	return out
}

// vxlanPrefixLen is what wrapVXLAN puts in front of a frame: Ethernet,
// IPv4, UDP and VXLAN headers.
const vxlanPrefixLen = 14 + 20 + 8 + 8

// geneveOptLen is the GENEVE header with the three AWS GWLB options.
const geneveOptLen = 8 + 12 + 12 + 8

// wrapVXLAN returns frame as an AWS mirror session delivers it: in VXLAN
// (VNI 4242) from 10.0.0.5 to the target 10.0.0.9:4789. The outer UDP
// source port is fixed (AWS derives it from the inner 5-tuple).
func wrapVXLAN(frame []byte) []byte {
	b := make([]byte, 0, vxlanPrefixLen+len(frame))
	b = appendEthIPv4UDP(b, [4]byte{10, 0, 0, 5}, [4]byte{10, 0, 0, 9}, 49152, 4789, 8+len(frame))
	b = append(b, 0x08, 0, 0, 0, 0, 0x10, 0x92, 0) // I flag, VNI 4242
	return append(b, frame...)
}

// wrapGENEVE returns frame as a Gateway Load Balancer delivers a mirror
// packet: GENEVE with the AWS options around IPv4/UDP/VXLAN.
func wrapGENEVE(frame []byte) []byte {
	inner := wrapVXLAN(frame)[14:] // the VXLAN packet from its IPv4 header
	b := make([]byte, 0, 14+20+8+geneveOptLen+len(inner))
	b = appendEthIPv4UDP(b, [4]byte{10, 0, 1, 7}, [4]byte{10, 0, 0, 9}, 50000, 6081, geneveOptLen+len(inner))
	b = append(b, (geneveOptLen-8)/4, 0, 0x08, 0x00, 0, 0, 0, 0) // option words, protocol IPv4
	b = append(b, 0x01, 0x08, 1, 2)
	b = binary.BigEndian.AppendUint64(b, 0x0a1b2c3d4e5f6071)
	b = append(b, 0x01, 0x08, 2, 2)
	b = binary.BigEndian.AppendUint64(b, 0x1122334455667788)
	b = append(b, 0x01, 0x08, 3, 1)
	b = binary.BigEndian.AppendUint32(b, 0x5eed)
	return append(b, inner...)
}

func appendEthIPv4UDP(b []byte, src, dst [4]byte, sport, dport uint16, udpPayload int) []byte {
	b = append(b, 0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 0, 5, 0x08, 0x00)
	total := 20 + 8 + udpPayload
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0x40, 0, 64, 17, 0, 0)
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(sport))
	b = binary.BigEndian.AppendUint16(b, uint16(dport))
	ul := 8 + udpPayload
	return append(b, byte(ul>>8), byte(ul), 0, 0)
}

// encapFrames returns frames wrapped by wrap; the wire length grows by
// the headers added, as on a mirror target.
func encapFrames(frames []memFrame, wrap func([]byte) []byte) []memFrame {
	out := make([]memFrame, len(frames))
	var buf []byte
	for i, f := range frames {
		w := wrap(f.data)
		// Packed one after the other, as the reader's buffers hold
		// them: wrapped one allocation each, the frames of a size class
		// were spread over spans shared with the wrappers' garbage.
		if len(buf)+len(w) > cap(buf) {
			buf = make([]byte, 0, 16<<20)
		}
		off := len(buf)
		buf = append(buf, w...)
		out[i] = memFrame{data: buf[off:len(buf):len(buf)], ts: f.ts, origLen: f.origLen + uint32(len(w)-len(f.data)), link: decode.LinkEthernet}
	}
	return out
}

// BenchmarkEngineEncap runs the whole engine (decode, sessions, flows,
// TCP analysis, diagnosis) over the same frames held in memory, plain,
// as a VXLAN mirror session delivers them and as a Gateway Load Balancer
// does (GENEVE around VXLAN): the cost of the mirror path over the plain
// one, with reading and system calls left out. MIRRORSCOPE_BENCH_PCAP
// names a plain Ethernet capture (its first million frames are used);
// the default is a small lab capture.
func BenchmarkEngineEncap(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	if path == "" {
		path = testdata + "/reorder/reorder.srv.pcap"
	}
	plain := loadFrames(b, path, 1_000_000)
	for _, m := range []struct {
		name   string
		frames []memFrame
	}{
		{"plain", plain},
		{"vxlan", encapFrames(plain, wrapVXLAN)},
		{"geneve+vxlan", encapFrames(plain, wrapGENEVE)},
	} {
		b.Run(m.name, func(b *testing.B) {
			cfg := DefaultConfig()
			b.ReportAllocs()
			for b.Loop() {
				e := New(cfg)
				for i := range m.frames {
					f := &m.frames[i]
					e.Packet(f.data, f.ts, f.origLen, f.link)
				}
				e.Finish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(m.frames)), "ns/pkt")
			b.ReportMetric(float64(len(m.frames))*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkEnginePacket is BenchmarkEngineEncap per packet: one op is one
// frame through an engine that has seen the capture's first half (the
// steady state of its flows), which shows 0 allocs/op on the plain,
// VXLAN and GENEVE+VXLAN paths. When the second half runs out, a new
// engine is warmed up outside the timer.
func BenchmarkEnginePacket(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	if path == "" {
		path = testdata + "/reorder/reorder.srv.pcap"
	}
	plain := loadFrames(b, path, 400_000)
	for _, m := range []struct {
		name   string
		frames []memFrame
	}{
		{"plain", plain},
		{"vxlan", encapFrames(plain, wrapVXLAN)},
		{"geneve+vxlan", encapFrames(plain, wrapGENEVE)},
	} {
		b.Run(m.name, func(b *testing.B) {
			half := len(m.frames) / 2
			var e *Engine
			i := len(m.frames)
			b.ReportAllocs()
			for b.Loop() {
				if i == len(m.frames) {
					b.StopTimer()
					e = New(DefaultConfig())
					for j := range m.frames[:half] {
						f := &m.frames[j]
						e.Packet(f.data, f.ts, f.origLen, f.link)
					}
					i = half
					b.StartTimer()
				}
				f := &m.frames[i]
				e.Packet(f.data, f.ts, f.origLen, f.link)
				i++
			}
		})
	}
}
