package listen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// BenchmarkListen measures the whole live pipeline over loopback: a
// capture's frames, VXLAN-wrapped as replay sends them, are sent from 8
// source sockets to a listener (4 sockets, 2 shards by default) and each
// op waits until the listener has read or the kernel has dropped every
// datagram. Set MIRRORSCOPE_BENCH_PCAP for another capture. pkts/s is
// what the listener read; drops/op what the kernel dropped (our socket
// buffers overflowing: the sender is faster than the listener).
func BenchmarkListen(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	if path == "" {
		path = testdata + "/policer/policer.srv.pcap"
	}
	dgrams := loadDatagrams(b, path)
	r := startListener(b, func(c *Config) {
		c.GENEVE, c.HTTP = "", ""
		c.Sockets, c.Shards = 4, 2
		c.RcvBuf = 32 << 20
		c.Out = nil
	})
	conns := make([]*net.UDPConn, 8)
	to := net.UDPAddrFromAddrPort(r.l.VXLANAddr())
	for i := range conns {
		c, err := net.DialUDP("udp", nil, to)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	// Per source socket, its datagrams as sendmmsg batches, so the sender
	// costs as little as the kernel allows.
	batches := make([][]ipv4.Message, len(conns))
	for i, d := range dgrams {
		k := i % len(conns)
		batches[k] = append(batches[k], ipv4.Message{Buffers: [][]byte{d}})
	}
	pcs := make([]*ipv4.PacketConn, len(conns))
	for i, c := range conns {
		pcs[i] = ipv4.NewPacketConn(c)
	}
	send := func(k int) {
		ms := batches[k]
		for len(ms) > 0 {
			n, err := pcs[k].WriteBatch(ms[:min(64, len(ms))], 0)
			if err != nil {
				b.Error(err)
				return
			}
			ms = ms[n:]
		}
	}
	var sent uint64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := g; k < len(conns); k += 2 {
					send(k)
				}
			}()
		}
		wg.Wait()
		sent += uint64(len(dgrams))
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := r.l.counts()
			if r.datagrams()+c.drops >= sent {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("listener read %d + dropped %d of %d", r.datagrams(), c.drops, sent)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	drops := r.l.counts().drops
	b.ReportMetric(float64(r.datagrams())/el.Seconds(), "pkts/s")
	b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
	r.stop(b)
}

// loadDatagrams builds the datagrams replay would send for path.
func loadDatagrams(b *testing.B, path string) [][]byte {
	b.Helper()
	src, err := capture.OpenFiles([]string{path}, capture.Options{})
	if err != nil {
		b.Skipf("capture: %v", err)
	}
	defer src.Close()
	cfg := ReplayConfig{VNI: 4242, Encap: "vxlan", Decode: decode.DefaultConfig()}
	oc := cfg.Decode
	oc.NoDecap = true
	odec := decode.New(oc)
	var p decode.Packet
	var out [][]byte
	var f capture.Frame
	for {
		err := src.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		d, ok := datagramOf(nil, f.Data, f.Link, f.OrigLen, odec, &p, &cfg)
		if ok {
			out = append(out, d)
		}
	}
	return out
}

// BenchmarkReplay measures replay's sending rate (frames read, wrapped and
// sent with sendmmsg) into a UDP socket nobody reads (the kernel drops
// what does not fit). One op is one pass over the capture.
func BenchmarkReplay(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	if path == "" {
		path = testdata + "/policer/policer.srv.pcap"
	}
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	for _, noRaw := range []bool{false, true} {
		b.Run(fmt.Sprintf("noRaw=%v", noRaw), func(b *testing.B) {
			var sent uint64
			b.ReportAllocs()
			for b.Loop() {
				st, err := Replay(context.Background(), ReplayConfig{Files: []string{path}, To: sink.LocalAddr().String(),
					VNI: 4242, Encap: "vxlan", Sources: 8, Decode: decode.DefaultConfig(), NoRaw: noRaw})
				if err != nil {
					b.Fatal(err)
				}
				sent += st.Sent
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
