//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// steerHash is what steerProgram computes: the socket index of an inner
// IPv4 TCP/UDP packet.
func steerHash(src, dst [4]byte, sport, dport uint16, n int) int {
	h := binary.BigEndian.Uint32(src[:]) ^ binary.BigEndian.Uint32(dst[:])
	h ^= uint32(sport) ^ uint32(dport)
	h ^= h >> 16
	h ^= h >> 8
	return int(h % uint32(n))
}

// vxlanTCP is a VXLAN datagram (VNI 4242) carrying an Ethernet/IPv4/TCP
// segment from 198.18.0.1 to 198.18.0.2.
func vxlanTCP(sport, dport uint16) []byte {
	b := []byte{0x08, 0, 0, 0, 0, 0x10, 0x92, 0}
	b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00)
	b = append(b, 0x45, 0, 0, 40+100, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2)
	b = append(b, byte(sport>>8), byte(sport), byte(dport>>8), byte(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0)
	return append(b, make([]byte, 100)...)
}

// geneveTCP wraps vxlanTCP as a Gateway Load Balancer delivers it: GENEVE
// with one 8-byte option around IPv4/UDP(4789)/VXLAN.
func geneveTCP(sport, dport uint16) []byte {
	v := vxlanTCP(sport, dport)
	b := []byte{2, 0, 0x08, 0x00, 0, 0, 0, 0, 0x01, 0x08, 3, 1, 0, 0, 0x5e, 0xed}
	b = append(b, 0x45, 0, 0, byte(28+len(v)), 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	b = append(b, 0xc0, 0x01, 0x12, 0xb5, 0, byte(8+len(v)), 0, 0)
	return append(b, v...)
}

// TestListenSymmetricSteering: with Symmetric the reuseport program sends
// both directions of a connection (each from its own outer source port,
// as AWS and the kernel's vxlan device send them) to the socket the
// program's hash picks, for VXLAN and for GENEVE around VXLAN.
func TestListenSymmetricSteering(t *testing.T) {
	for _, kind := range []Kind{VXLAN, GENEVE} {
		t.Run(kind.String(), func(t *testing.T) {
			l := listenLoopback(t, ListenConfig{Kind: kind, Sockets: 4, Symmetric: true})
			if !l.Steered() {
				t.Fatal("steering program not attached")
			}
			dst := l.LocalAddrs()[0].(*net.UDPAddr)
			const conns = 16
			for c := range conns {
				for _, d := range [][2]uint16{{uint16(40000 + c), 5201}, {5201, uint16(40000 + c)}} {
					conn, err := net.DialUDP("udp", nil, dst)
					if err != nil {
						t.Fatal(err)
					}
					p := vxlanTCP(d[0], d[1])
					if kind == GENEVE {
						p = geneveTCP(d[0], d[1])
					}
					conn.Write(p)
					conn.Close()
				}
			}
			var c collector
			stop := runListener(t, l, c.handle)
			c.wait(t, 2*conns)
			stop()
			off := 0
			if kind == GENEVE {
				off = 16 + 28
			}
			got := map[uint16]int{} // client port -> socket
			c.mu.Lock()
			defer c.mu.Unlock()
			for i, d := range c.got {
				tcp := d.Data[off+8+14+20:]
				sp, dp := binary.BigEndian.Uint16(tcp), binary.BigEndian.Uint16(tcp[2:])
				cp := max(sp, dp)
				sock := c.sockOf[i]
				if prev, ok := got[cp]; ok && prev != sock {
					t.Errorf("connection %d: directions read by sockets %d and %d", cp, prev, sock)
				}
				got[cp] = sock
				if want := steerHash([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, sp, dp, 4); want != sock {
					t.Errorf("connection %d read by socket %d, the program should pick %d", cp, sock, want)
				}
			}
			if len(c.socks) < 2 {
				t.Errorf("all connections on one socket: %v", c.socks)
			}
		})
	}
}

// TestListenDrainOnStop: datagrams queued in the socket when Run is
// cancelled are still handed over before Run returns.
func TestListenDrainOnStop(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1})
	conn, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	started, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int64
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(_ int, b []Datagram) {
			n.Add(int64(len(b)))
			once.Do(func() { close(started); <-release })
		})
	}()
	conn.Write(payload(0, 100))
	<-started
	const queued = 500
	for i := range queued {
		conn.Write(payload(i+1, 100))
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // the stop reaches the reader while it is busy
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != queued+1 {
		t.Errorf("handled %d datagrams, want %d", got, queued+1)
	}
}

// TestListenStopUnderLoad: draining ends even while datagrams keep coming.
func TestListenStopUnderLoad(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1})
	conn, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stopSend := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := payload(1, 64)
		for {
			select {
			case <-stopSend:
				return
			default:
				conn.Write(p)
			}
		}
	}()
	defer func() { close(stopSend); wg.Wait() }()
	var c atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, func(_ int, b []Datagram) { c.Add(int64(len(b))) }) }()
	for c.Load() < 1000 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return under load")
	}
}

// TestSenderOrder: a Sender's datagrams arrive in the order they were
// queued, each from the source port chosen for it, through the raw
// socket (when root) and through the UDP sockets.
func TestSenderOrder(t *testing.T) {
	for _, noRaw := range []bool{false, true} {
		l := listenLoopback(t, ListenConfig{Sockets: 1})
		snd, err := NewSender(l.LocalAddrs()[0].(*net.UDPAddr), 3, 0, noRaw)
		if err != nil {
			t.Fatal(err)
		}
		defer snd.Close()
		var c collector
		stop := runListener(t, l, c.handle)
		const n = 1000
		var bytes uint64
		for i := range n {
			if snd.Full() || snd.Len() == SendBatch {
				k, b, skipped, err := snd.Flush()
				if err != nil || skipped != 0 {
					t.Fatal(err, skipped)
				}
				_ = k
				bytes += b
			}
			// Runs of one source and alternating sources.
			src := (i / 7) % 3
			if i%2 == 0 {
				src = i % 3
			}
			snd.Commit(src, append(snd.Begin(), payload(i, 60+i%200)...))
		}
		k, b, _, err := snd.Flush()
		if err != nil || k == 0 {
			t.Fatal(err, k)
		}
		bytes += b
		c.wait(t, n)
		stop()
		if want := (noRaw == false) && syscall.Geteuid() == 0; snd.Raw() != want {
			t.Errorf("raw socket used: %v, want %v", snd.Raw(), want)
		}
		var wantBytes uint64
		for i, d := range c.got {
			seq := int(binary.BigEndian.Uint32(d.Data))
			if seq != i {
				t.Fatalf("raw %v: datagram %d arrived as number %d", snd.Raw(), seq, i)
			}
			src := (i / 7) % 3
			if i%2 == 0 {
				src = i % 3
			}
			if int(d.Src.Port()) != int(snd.ports[src]) {
				t.Errorf("datagram %d from port %d, want %d", i, d.Src.Port(), snd.ports[src])
			}
			wantBytes += uint64(len(d.Data))
		}
		if bytes != wantBytes || snd.Batches() < n/SendBatch {
			t.Errorf("Flush counted %d bytes (received %d), %d batches", bytes, wantBytes, snd.Batches())
		}
	}
}

// TestListenIdleCue: once the socket has been read empty, the handler is
// called with an empty batch (the cue to pass on what it keeps back).
func TestListenIdleCue(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1})
	conn, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got, cues atomic.Int64
	var lastWasData atomic.Bool
	stop := runListener(t, l, func(_ int, b []Datagram) {
		if len(b) == 0 {
			cues.Add(1)
			lastWasData.Store(false)
			return
		}
		got.Add(int64(len(b)))
		lastWasData.Store(true)
	})
	for i := range 10 {
		conn.Write(payload(i, 100))
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < 10 || lastWasData.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("%d datagrams, %d empty batches, last batch had data: %v", got.Load(), cues.Load(), lastWasData.Load())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	if cues.Load() == 0 {
		t.Error("no empty batch")
	}
}
