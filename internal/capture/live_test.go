//go:build linux

package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// netnsPair creates two network namespaces joined by a veth pair
// (a: 10.231.0.1/24 on veth "msa", b: 10.231.0.2/24 on veth "msb"),
// removed at cleanup. It skips when not root or when ip(8) is missing.
func netnsPair(t *testing.T) (nsA, nsB string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture test needs root (network namespaces, AF_PACKET)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed")
	}
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	nsA, nsB = "mscapA-"+suffix, "mscapB-"+suffix
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	run("netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run("netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	// Fixed MACs and permanent neighbour entries: no ARP, so the first
	// packets are not held back or dropped waiting for resolution.
	run("-n", nsA, "link", "add", "msa", "address", "02:00:0a:e7:00:01", "type", "veth",
		"peer", "name", "msb", "address", "02:00:0a:e7:00:02", "netns", nsB)
	run("-n", nsA, "neigh", "add", "10.231.0.2", "lladdr", "02:00:0a:e7:00:02", "dev", "msa", "nud", "permanent")
	run("-n", nsB, "neigh", "add", "10.231.0.1", "lladdr", "02:00:0a:e7:00:01", "dev", "msb", "nud", "permanent")
	run("-n", nsA, "addr", "add", "10.231.0.1/24", "dev", "msa")
	run("-n", nsB, "addr", "add", "10.231.0.2/24", "dev", "msb")
	run("-n", nsA, "link", "set", "msa", "mtu", "9001", "up")
	run("-n", nsB, "link", "set", "msb", "mtu", "9001", "up")
	run("-n", nsA, "link", "set", "lo", "up")
	run("-n", nsB, "link", "set", "lo", "up")
	return nsA, nsB
}

// inNetns runs f on an OS thread switched into the named namespace, so
// that sockets f creates live there. The thread is switched back after;
// if that fails it is left locked and dies with the goroutine.
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return // thread stays locked: the runtime discards it
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestLiveCapture(t *testing.T) {
	nsA, nsB := netnsPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var src *LiveSource
	var tcpLn net.Listener
	var udpB net.PacketConn
	var openErr error
	// Every frame is captured after this: the interface may send IPv6
	// neighbour discovery as soon as the ring is open.
	before := time.Now().UnixNano()
	inNetns(t, nsB, func() {
		if src, openErr = OpenLive(ctx, LiveConfig{Iface: "msb", BlockTimeout: time.Millisecond}, nil); openErr != nil {
			return
		}
		if tcpLn, openErr = net.Listen("tcp4", "10.231.0.2:5201"); openErr != nil {
			return
		}
		udpB, openErr = net.ListenPacket("udp4", "10.231.0.2:4789")
	})
	if openErr != nil {
		t.Fatal(openErr)
	}
	defer src.Close()
	defer tcpLn.Close()
	defer udpB.Close()
	if ifs := src.Interfaces(); len(ifs) != 1 || ifs[0].Link != decode.LinkEthernet || ifs[0].Name != "msb" {
		t.Errorf("interfaces %+v", ifs)
	}

	// Traffic from A: jumbo and small UDP datagrams, and a TCP transfer.
	var udpA net.Conn
	var tcpA net.Conn
	inNetns(t, nsA, func() {
		if udpA, openErr = net.Dial("udp4", "10.231.0.2:4789"); openErr != nil {
			return
		}
		tcpA, openErr = net.Dial("tcp4", "10.231.0.2:5201")
	})
	if openErr != nil {
		t.Fatal(openErr)
	}
	defer udpA.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := tcpLn.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	sizes := []int{8000, 100, 1472, 8900}
	for i, sz := range sizes {
		if _, err := udpA.Write(payload(i, sz)); err != nil {
			t.Fatal(err)
		}
	}
	tcpA.Write(bytes.Repeat([]byte("x"), 20000))
	tcpA.Close()
	wg.Wait()

	srcA := netip.MustParseAddr("10.231.0.1")
	dstB := netip.MustParseAddr("10.231.0.2")
	dec := decode.New(decode.Config{NoDecap: true})
	var p decode.Packet
	var f Frame
	udpSeen := map[int]bool{}
	var synSeen, finSeen bool
	var tcpBytes uint32
	deadline := time.Now().Add(10 * time.Second)
	for (len(udpSeen) < len(sizes) || !finSeen || tcpBytes < 20000) && time.Now().Before(deadline) {
		if err := src.Next(&f); err != nil {
			t.Fatal(err)
		}
		if f.Link != decode.LinkEthernet || int(f.CapLen) != len(f.Data) || f.OrigLen < f.CapLen {
			t.Fatalf("frame %d: link %d caplen %d len %d orig %d", f.Index, f.Link, f.CapLen, len(f.Data), f.OrigLen)
		}
		if f.TS < before || f.TS > time.Now().UnixNano() {
			t.Errorf("frame %d: timestamp %d not in [%d, now]", f.Index, f.TS, before)
		}
		if err := dec.Decode(f.Data, f.Link, f.OrigLen, &p); err != nil || p.IPVersion != 4 {
			continue // ARP, IPv6 ND
		}
		switch {
		case p.HasUDP() && p.DstPort == 4789:
			if p.Src != srcA || p.Dst != dstB {
				t.Errorf("UDP %v -> %v", p.Src, p.Dst)
			}
			l4 := int(p.L2Len) + int(p.IPHdrLen) + 8
			data := f.Data[l4:]
			for i, sz := range sizes {
				if bytes.Equal(data, payload(i, sz)) {
					udpSeen[i] = true
				}
			}
		case p.HasTCP() && p.Src == srcA && p.DstPort == 5201:
			if p.TCP.Flags&decode.TCPSyn != 0 {
				synSeen = true
			}
			if p.TCP.Flags&decode.TCPFin != 0 {
				finSeen = true
			}
			tcpBytes += p.PayloadLen
		}
	}
	if len(udpSeen) != len(sizes) || !synSeen || !finSeen || tcpBytes != 20000 {
		t.Errorf("udp datagrams seen %v, syn %v fin %v, tcp payload %d", udpSeen, synSeen, finSeen, tcpBytes)
	}
	st, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets < f.Index || st.Drops != 0 {
		t.Errorf("stats %+v after %d frames", st, f.Index)
	}
	// Next is zero-alloc: queue datagrams, then read them.
	for i := range 300 {
		udpA.Write(payload(i, 200))
	}
	if allocs := testing.AllocsPerRun(200, func() {
		if err := src.Next(&f); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("LiveSource.Next allocates %.1f times per frame", allocs)
	}
	// Cancelling the context ends Next with io.EOF, without traffic.
	cancel()
	done := make(chan error, 1)
	go func() {
		for {
			if err := src.Next(&f); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Next after cancel: %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancel")
	}
}

// TestLiveFanout opens two sockets in one fanout group: every datagram of
// many flows is captured exactly once across them.
func TestLiveFanout(t *testing.T) {
	nsA, nsB := netnsPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var srcs [2]*LiveSource
	var openErr error
	var sink net.PacketConn // a receiver, so that no ICMP port-unreachable fails later writes
	inNetns(t, nsB, func() {
		if sink, openErr = net.ListenPacket("udp4", "10.231.0.2:9"); openErr != nil {
			return
		}
		for i := range srcs {
			if srcs[i], openErr = OpenLive(ctx, LiveConfig{Iface: "msb", FanoutGroup: 4242, BlockTimeout: time.Millisecond}, nil); openErr != nil {
				return
			}
		}
	})
	if openErr != nil {
		t.Fatal(openErr)
	}
	defer sink.Close()
	const flows, each = 32, 4
	var conns []net.Conn
	inNetns(t, nsA, func() {
		for range flows {
			c, err := net.Dial("udp4", "10.231.0.2:9")
			if err != nil {
				openErr = err
				return
			}
			conns = append(conns, c)
		}
	})
	if openErr != nil {
		t.Fatal(openErr)
	}
	for i, c := range conns {
		for j := range each {
			if _, err := c.Write(payload(i*each+j, 300)); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	var counts [2]atomic.Int64
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := decode.New(decode.Config{NoDecap: true})
			var p decode.Packet
			var f Frame
			for {
				if err := s.Next(&f); err != nil {
					return
				}
				if dec.Decode(f.Data, f.Link, f.OrigLen, &p) == nil && p.HasUDP() && p.DstPort == 9 && len(f.Data) > 300 {
					counts[i].Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for counts[0].Load()+counts[1].Load() < flows*each && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let any duplicate show up
	cancel()
	wg.Wait()
	for _, s := range srcs {
		s.Close()
	}
	c0, c1 := counts[0].Load(), counts[1].Load()
	if c0+c1 != flows*each || c0 == 0 || c1 == 0 {
		t.Errorf("fanout counts %d and %d, want a split of %d", c0, c1, flows*each)
	}
}

func TestLiveErrors(t *testing.T) {
	if _, err := OpenLive(context.Background(), LiveConfig{}, nil); err == nil {
		t.Error("empty interface accepted")
	}
	if _, err := OpenLive(context.Background(), LiveConfig{Iface: "nonexistent0"}, nil); err == nil {
		t.Error("missing interface accepted")
	}
}
