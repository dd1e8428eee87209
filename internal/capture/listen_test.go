//go:build linux

package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collector gathers copies of received datagrams.
type collector struct {
	mu     sync.Mutex
	got    []Datagram
	sockOf []int // socket of got[i]
	socks  map[int]int
	n      atomic.Int64
}

func (c *collector) handle(sock int, batch []Datagram) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.socks == nil {
		c.socks = map[int]int{}
	}
	for _, d := range batch {
		d.Data = append([]byte(nil), d.Data...)
		c.got = append(c.got, d)
		c.sockOf = append(c.sockOf, sock)
		c.socks[sock]++
	}
	c.n.Add(int64(len(batch)))
}

func (c *collector) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.n.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("received %d datagrams, want %d", c.n.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runListener starts Run in the background and returns a stop function
// that cancels it and checks it returned nil.
func runListener(t *testing.T, l *Listener, h func(int, []Datagram)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not stop after cancel")
		}
	}
}

func listenLoopback(t *testing.T, cfg ListenConfig) *Listener {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	l, err := Listen(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func payload(seq int, size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(seq*7 + i)
	}
	if size >= 4 {
		binary.BigEndian.PutUint32(p, uint32(seq))
	}
	return p
}

func TestListenJumboAndBurst(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 2})
	if n := len(l.LocalAddrs()); n != 2 {
		t.Fatalf("%d sockets", n)
	}
	dst := l.LocalAddrs()[0].(*net.UDPAddr)
	if dst.Port == 0 || l.LocalAddrs()[1].(*net.UDPAddr).Port != dst.Port {
		t.Fatalf("sockets bound to %v", l.LocalAddrs())
	}
	var c collector
	stop := runListener(t, l, c.handle)

	conn, err := net.DialUDP("udp", nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	src := netip.MustParseAddrPort(conn.LocalAddr().String())
	sizes := []int{9001 + 50, 9216, 1, 50, 1500, 65507}
	for i := range 300 {
		sizes = append(sizes, 100+i*13)
	}
	before := time.Now().UnixNano()
	for i, sz := range sizes {
		if _, err := conn.Write(payload(i, sz)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // stay well inside the receive buffer
		}
	}
	c.wait(t, len(sizes))
	after := time.Now().UnixNano()
	stop()

	seen := map[int]bool{}
	for _, d := range c.got {
		if d.Truncated || d.Len != len(d.Data) {
			t.Errorf("datagram truncated: Len %d, %d bytes", d.Len, len(d.Data))
		}
		seq := 2 // the 1-byte datagram (index 2) carries no sequence number
		if len(d.Data) >= 4 {
			seq = int(binary.BigEndian.Uint32(d.Data))
		}
		if seq >= len(sizes) || !bytes.Equal(d.Data, payload(seq, sizes[seq])) {
			t.Errorf("datagram %d (%d bytes) corrupted", seq, len(d.Data))
			continue
		}
		seen[seq] = true
		if d.TS < before || d.TS > after {
			t.Errorf("datagram %d: kernel timestamp %d outside [%d, %d]", seq, d.TS, before, after)
		}
		if d.Src != src {
			t.Errorf("datagram %d: Src %v, want %v", seq, d.Src, src)
		}
		if d.Dst != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("datagram %d: Dst %v", seq, d.Dst)
		}
	}
	if len(seen) != len(sizes) {
		t.Errorf("%d distinct datagrams, want %d", len(seen), len(sizes))
	}
	st := l.Stats().Total()
	if st.Datagrams != uint64(len(sizes)) || st.Drops != 0 || st.Truncated != 0 {
		t.Errorf("stats %+v", st)
	}
	var wantBytes uint64
	for _, s := range sizes {
		wantBytes += uint64(s)
	}
	if st.Bytes != wantBytes {
		t.Errorf("stats bytes %d, want %d", st.Bytes, wantBytes)
	}
}

func TestListenTruncated(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1, MaxDatagram: 1000})
	var c collector
	stop := runListener(t, l, c.handle)
	conn, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := payload(1, 2000)
	conn.Write(p)
	c.wait(t, 1)
	stop()
	d := c.got[0]
	if !d.Truncated || len(d.Data) != 1000 || !bytes.Equal(d.Data, p[:1000]) {
		t.Errorf("Truncated %v, %d bytes, Len %d", d.Truncated, len(d.Data), d.Len)
	}
	if st := l.Stats().Total(); st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestListenReusePort sends from many source ports: the kernel spreads
// them over the sockets by 4-tuple hash, and none is lost.
func TestListenReusePort(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 4})
	var c collector
	stop := runListener(t, l, c.handle)
	dst := l.LocalAddrs()[0].(*net.UDPAddr)
	const senders, each = 64, 5
	for i := range senders {
		conn, err := net.DialUDP("udp", nil, dst)
		if err != nil {
			t.Fatal(err)
		}
		for j := range each {
			conn.Write(payload(i*each+j, 200))
		}
		conn.Close()
	}
	c.wait(t, senders*each)
	stop()
	if len(c.socks) < 2 {
		t.Errorf("all datagrams on one socket: %v", c.socks)
	}
	per := l.Stats().Sockets
	var sum uint64
	for i, s := range per {
		if s.Datagrams != uint64(c.socks[i]) {
			t.Errorf("socket %d: stats %d, handler saw %d", i, s.Datagrams, c.socks[i])
		}
		sum += s.Datagrams
	}
	if sum != senders*each {
		t.Errorf("%d datagrams, want %d", sum, senders*each)
	}
}

// TestListenDrops overflows a tiny receive buffer while nobody reads and
// checks the kernel's drop counter (SO_RXQ_OVFL) comes through.
func TestListenDrops(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1, RcvBuf: 4096})
	if rb := l.Stats().Sockets[0].RcvBuf; rb > 64<<10 {
		t.Fatalf("receive buffer %d, wanted a tiny one", rb)
	}
	conn, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sent = 500
	for i := range sent {
		conn.Write(payload(i, 1000))
	}
	var c collector
	stop := runListener(t, l, c.handle)
	c.wait(t, 1)
	time.Sleep(20 * time.Millisecond)
	queued := c.n.Load()
	// The kernel stamps the drop count on datagrams queued after the
	// drops: send one more.
	conn.Write(payload(sent, 1000))
	c.wait(t, int(queued)+1)
	stop()
	st := l.Stats().Sockets[0]
	if st.Drops == 0 || st.Drops+st.Datagrams != sent+1 {
		t.Errorf("drops %d + datagrams %d, want > 0 and a sum of %d", st.Drops, st.Datagrams, sent+1)
	}
}

// TestListenDualStack listens on the IPv6 wildcard and receives IPv4 and
// IPv6 datagrams with unmapped addresses.
func TestListenDualStack(t *testing.T) {
	l, err := Listen(context.Background(), ListenConfig{Addr: ":0", Sockets: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.LocalAddrs()[0].(*net.UDPAddr).Port
	var c collector
	stop := runListener(t, l, c.handle)
	targets := []string{"127.0.0.1"}
	if c6, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		c6.Close()
		targets = append(targets, "::1")
	}
	for i, host := range targets {
		conn, err := net.Dial("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(payload(i, 64))
		conn.Close()
	}
	c.wait(t, len(targets))
	stop()
	for _, d := range c.got {
		seq := binary.BigEndian.Uint32(d.Data)
		want := netip.MustParseAddr(targets[seq])
		if d.Dst != want || d.Src.Addr() != want {
			t.Errorf("datagram to %v: Src %v Dst %v", want, d.Src, d.Dst)
		}
	}
}

func TestListenRunTwiceAndErrors(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1})
	var c collector
	stop := runListener(t, l, c.handle)
	for !l.running.Load() {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Run(ctx, c.handle); err == nil {
		t.Error("second concurrent Run accepted")
	}
	stop()
	// Run again after it returned: the deadline is cleared.
	stop = runListener(t, l, c.handle)
	conn, _ := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	conn.Write([]byte("hello"))
	conn.Close()
	c.wait(t, 1)
	stop()
	if _, err := Listen(context.Background(), ListenConfig{Addr: "256.1.1.1:0"}, nil); err == nil {
		t.Error("bad address accepted")
	}
	if _, err := ParseKind("nvgre"); err == nil {
		t.Error("ParseKind(nvgre) accepted")
	}
	if k, _ := ParseKind("gre-udp"); k != GREUDP || k.DefaultPort() != 4754 || GRE.DefaultPort() != 0 {
		t.Error("GRE kinds")
	}
	if k, _ := ParseKind("geneve"); k != GENEVE || k.DefaultPort() != 6081 || VXLAN.DefaultPort() != 4789 {
		t.Error("kinds")
	}
}

// TestListenZeroAlloc: one recvmmsg batch plus parsing allocates nothing.
func TestListenZeroAlloc(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1, Batch: 8})
	s := l.socks[0]
	conn, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := payload(1, 1400)
	var got int
	allocs := testing.AllocsPerRun(200, func() {
		for range 8 {
			conn.Write(p)
		}
		if err := s.raw.Read(s.recvFn); err != nil || s.errno != 0 {
			t.Fatal(err, s.errno)
		}
		b, _ := s.parse()
		got += len(b)
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per batch (including the sends)", allocs)
	}
	if got == 0 {
		t.Error("nothing received")
	}
}

// BenchmarkListener measures datagrams/s through loopback: one sendmmsg
// sender, the listener's sockets reading with recvmmsg. On a 2-core
// machine sender, kernel and receiver share the CPUs.
func BenchmarkListener(b *testing.B) {
	for _, socks := range []int{1, 2} {
		b.Run(fmt.Sprintf("sockets=%d", socks), func(b *testing.B) {
			l, err := Listen(context.Background(), ListenConfig{Addr: "127.0.0.1:0", Sockets: socks}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var n atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx, func(_ int, batch []Datagram) { n.Add(int64(len(batch))) }) }()
			p := payload(1, 1400)
			// Several source ports so that SO_REUSEPORT spreads the load;
			// sendmmsg batches so that the sender costs little.
			snd, err := NewSender(l.LocalAddrs()[0].(*net.UDPAddr), 4, 4<<20, false)
			if err != nil {
				b.Fatal(err)
			}
			defer snd.Close()
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			sent := 0
			for i := 0; sent < b.N; i++ {
				for range min(SendBatch, b.N-sent) {
					snd.Commit(i%4, append(snd.Begin(), p...))
				}
				k, _, _, err := snd.Flush()
				if err != nil {
					b.Fatal(err)
				}
				sent += int(k)
				// Stay within the receive buffer: wait while far ahead.
				for int64(sent)-n.Load()-int64(l.Stats().Total().Drops) > 8192 {
					runtime.Gosched()
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for n.Load()+int64(l.Stats().Total().Drops) < int64(b.N) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "datagrams/s")
			b.ReportMetric(float64(l.Stats().Total().Drops), "drops")
			cancel()
			<-done
		})
	}
}
