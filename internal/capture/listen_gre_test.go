//go:build linux

package capture

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// greLoopbackSeq makes each test's loopback address unique in the
// process; the pid makes it unique among test processes running at once
// (a raw GRE socket gets every GRE packet sent to its address).
var greLoopbackSeq atomic.Uint32

// uniqueLoopback returns an address of 127.0.0.0/8 (all of it is on lo)
// that no other test uses at the same time.
func uniqueLoopback() netip.Addr {
	pid := os.Getpid()
	n := greLoopbackSeq.Add(1)
	return netip.AddrFrom4([4]byte{127, byte(pid>>16) | 0x40, byte(pid >> 8), byte(pid)&0xf0 | byte(n&0x0f)})
}

// listenGRE opens a GRE listener on addr, skipping the test without
// CAP_NET_RAW.
func listenGRETest(t *testing.T, addr netip.Addr) *Listener {
	t.Helper()
	l, err := Listen(context.Background(), ListenConfig{Kind: GRE, Addr: addr.String(), Batch: 16}, nil)
	if errors.Is(err, syscall.EPERM) {
		t.Skip("raw GRE sockets need CAP_NET_RAW (run as root)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// greFrame is a GRE header (key present: key) and a payload whose first
// bytes are tag and the sequence number.
func greFrame(key uint32, tag []byte, seq, size int) []byte {
	b := []byte{0x20, 0x00, 0x65, 0x58, byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)}
	b = append(b, tag...)
	return append(b, payload(seq, size)...)
}

// TestListenGRE sends GRE packets through a raw socket to a loopback
// address and checks that the listener hands each over whole (GRE header
// onwards, the outer IPv4 header removed), with the outer addresses and a
// kernel timestamp, jumbo and 64 KiB packets included.
func TestListenGRE(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) {
			dst := uniqueLoopback()
			if v6 {
				dst = netip.IPv6Loopback()
			}
			l := listenGRETest(t, dst)
			tag := make([]byte, 8)
			rand.Read(tag)
			var c collector
			stop := runListener(t, l, func(sock int, b []Datagram) {
				// ::1 is shared with any other test sending GRE: keep ours.
				k := 0
				for _, d := range b {
					if len(d.Data) >= 16 && string(d.Data[8:16]) == string(tag) {
						b[k] = d
						k++
					}
				}
				c.handle(sock, b[:k])
			})
			q, err := NewGRESender(dst, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			sizes := []int{0, 1, 60, 1500, 9001, 65000}
			for i := range 200 {
				sizes = append(sizes, 64+i*7)
			}
			var sent [][]byte
			before := time.Now().UnixNano()
			for i, sz := range sizes {
				f := greFrame(uint32(i), tag, i, sz)
				sent = append(sent, f)
				q.Commit(0, append(q.Begin(), f...))
				if q.Len() >= 32 || q.Full() || i < 6 {
					if n, _, skipped, err := q.Flush(); err != nil || skipped > 0 || n == 0 {
						t.Fatalf("flush: sent %d skipped %d: %v", n, skipped, err)
					}
					time.Sleep(time.Millisecond)
				}
			}
			if _, _, _, err := q.Flush(); err != nil {
				t.Fatal(err)
			}
			c.wait(t, len(sent))
			after := time.Now().UnixNano()
			stop()
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.got) != len(sent) {
				t.Fatalf("received %d, sent %d", len(c.got), len(sent))
			}
			src := netip.MustParseAddr("127.0.0.1")
			if v6 {
				src = dst
			}
			for i, d := range c.got {
				if string(d.Data) != string(sent[i]) {
					t.Errorf("packet %d: %d bytes received, %d sent (or different bytes)", i, len(d.Data), len(sent[i]))
				}
				if d.Len != len(sent[i]) || d.Truncated {
					t.Errorf("packet %d: Len %d truncated %v, want %d", i, d.Len, d.Truncated, len(sent[i]))
				}
				if d.Src.Addr() != src || d.Src.Port() != 0 || d.Dst != dst {
					t.Errorf("packet %d: %v -> %v, want %v -> %v", i, d.Src, d.Dst, src, dst)
				}
				if d.TS < before || d.TS > after {
					t.Errorf("packet %d: kernel time %d outside [%d, %d]", i, d.TS, before, after)
				}
			}
			st := l.Stats().Total()
			if st.Datagrams < uint64(len(sent)) || st.Drops != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestListenGRENeedsCapNetRaw: without CAP_NET_RAW the listener says what
// it needs. Capabilities are per thread in Linux: the check runs on a
// locked thread that gave CAP_NET_RAW up and then exits.
func TestListenGRENeedsCapNetRaw(t *testing.T) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		l, err := Listen(context.Background(), ListenConfig{Kind: GRE, Addr: "127.0.0.1"}, nil)
		if err == nil {
			l.Close()
			err = errors.New("no error")
		}
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Fatalf("err %v, want EPERM naming CAP_NET_RAW", err)
	}
}

// TestListenGREBadAddr: a GRE listen address has no port.
func TestListenGREBadAddr(t *testing.T) {
	if _, err := Listen(context.Background(), ListenConfig{Kind: GRE, Addr: "127.0.0.1:4754"}, nil); err == nil ||
		!strings.Contains(err.Error(), "without port") {
		t.Fatalf("err %v", err)
	}
}

// TestStripIPv4 covers headers the kernel would never hand over.
func TestStripIPv4(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"ok", append([]byte{0x45, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 1, 2, 3, 4), 4},
		{"options", append([]byte{0x46, 0, 0, 28, 0, 0, 0, 0, 64, 47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1}, 1, 2, 3, 4), 4},
		{"short", []byte{0x45, 0}, 0},
		{"ihl past end", []byte{0x4f, 0, 0, 20, 0, 0, 0, 0, 64, 47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 0},
		{"ihl < 5", []byte{0x44, 0, 0, 20, 0, 0, 0, 0, 64, 47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 0},
		{"ipv6", make([]byte, 40), 0},
	} {
		d := Datagram{Data: c.b, Len: len(c.b)}
		stripIPv4(&d)
		if len(d.Data) != c.want || d.Len != c.want {
			t.Errorf("%s: %d bytes, Len %d, want %d", c.name, len(d.Data), d.Len, c.want)
		}
		if c.want > 0 && d.Dst != netip.AddrFrom4([4]byte{5, 6, 7, 8}) {
			t.Errorf("%s: dst %v", c.name, d.Dst)
		}
	}
}

// FuzzStripIPv4: whatever a raw IPv4 socket hands over, removing the
// header leaves a payload inside the buffer, never a panic.
func FuzzStripIPv4(f *testing.F) {
	f.Add(append([]byte{0x45, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 0x10, 0, 0x88, 0xbe))
	f.Add([]byte{0x4f, 0})
	f.Add([]byte{0x46, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Datagram{Data: b, Len: len(b)}
		stripIPv4(&d)
		if len(d.Data) > len(b) || d.Len != len(d.Data) || d.Len < 0 {
			t.Fatalf("payload %d bytes, Len %d, of %d", len(d.Data), d.Len, len(b))
		}
		if len(d.Data) > 0 && &d.Data[len(d.Data)-1] != &b[len(b)-1] {
			t.Fatal("payload does not end where the packet does")
		}
	})
}
