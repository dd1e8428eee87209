//go:build linux

package capture

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiveAll runs l until want datagrams arrived (or 5 s passed) and
// returns copies of them in arrival order, with their timestamps.
func receiveAll(t *testing.T, l *Listener, want int, send func()) ([][]byte, []int64) {
	t.Helper()
	var mu sync.Mutex
	var got [][]byte
	var ts []int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(_ int, b []Datagram) {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range b {
				got = append(got, bytes.Clone(d.Data))
				ts = append(ts, d.TS)
			}
		})
	}()
	send()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return got, ts
}

// TestSenderGSO: runs of equal-sized datagrams of one group leave as GSO
// sends and arrive as the same datagrams, in order, whether the listener
// takes them one by one (the kernel splits them) or coalesced (UDP GRO:
// the listener splits them); groups, sources and size changes end runs.
func TestSenderGSO(t *testing.T) {
	for _, gro := range []bool{false, true} {
		t.Run(fmt.Sprintf("gro=%v", gro), func(t *testing.T) {
			l := listenLoopback(t, ListenConfig{Sockets: 1, Batch: 8, GRO: gro})
			snd, err := NewSender(l.LocalAddrs()[0].(*net.UDPAddr), 2, 4<<20, false)
			if err != nil {
				t.Fatal(err)
			}
			defer snd.Close()
			if err := snd.EnableGSO(); err != nil {
				t.Skip(err)
			}
			if !snd.GSO() || snd.Raw() {
				t.Fatalf("GSO %v, raw %v after EnableGSO", snd.GSO(), snd.Raw())
			}
			// Sizes and groups: runs of 100-byte datagrams ended by a
			// shorter one, a group change, a source change and a longer
			// one, and group 0 (never coalesced).
			type dg struct{ src, group, size int }
			var plan []dg
			for i := 0; i < 300; i++ {
				switch {
				case i%10 == 9:
					plan = append(plan, dg{0, 1, 60})
				case i%37 == 0:
					plan = append(plan, dg{1, 1, 100})
				case i%41 == 0:
					plan = append(plan, dg{0, 2, 100})
				case i%53 == 0:
					plan = append(plan, dg{0, 1, 1400})
				case i%61 == 0:
					plan = append(plan, dg{0, 0, 100})
				default:
					plan = append(plan, dg{0, 1, 100})
				}
			}
			var want [][]byte
			for i, p := range plan {
				want = append(want, payload(i, p.size))
			}
			got, ts := receiveAll(t, l, len(want), func() {
				for i, p := range plan {
					if snd.Full() {
						if _, _, _, err := snd.Flush(); err != nil {
							t.Error(err)
						}
					}
					snd.CommitGroup(p.src, uint32(p.group), append(snd.Begin(), want[i]...))
				}
				if n, _, _, err := snd.Flush(); err != nil || n == 0 {
					t.Error(n, err)
				}
			})
			if len(got) != len(want) {
				t.Fatalf("got %d datagrams, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("datagram %d: %d bytes %x..., want %d bytes %x...", i, len(got[i]), got[i][:4], len(want[i]), want[i][:4])
				}
				if ts[i] == 0 {
					t.Fatalf("datagram %d without a kernel timestamp", i)
				}
			}
			// 300 datagrams, a run ends at least every 10: at least 30
			// GSO sends, fewer than 60 (most runs are 9 or 10 long).
			if g := snd.GSOSends(); g < 20 || g > 60 {
				t.Errorf("%d GSO sends for %d datagrams", g, len(want))
			}
			if st := l.Stats().Total(); st.Datagrams != uint64(len(want)) || st.Batches == 0 {
				t.Errorf("stats %+v, want %d datagrams", st, len(want))
			}
		})
	}
}

// TestListenGROLargeMessage: one GSO send of more datagrams than a
// recvmmsg result has room for (groSegs per message) is handed over in
// several slices, nothing lost, in order.
func TestListenGROLargeMessage(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1, Batch: 1, GRO: true})
	if !l.socks[0].gro {
		t.Skip("no UDP GRO")
	}
	c, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const seg, n = 20, 100 // 100 segments: more than groSegs, within UDP_MAX_SEGMENTS of 6.x
	var msg []byte
	var want [][]byte
	for i := 0; i < n; i++ {
		p := payload(i, seg)
		if i == n-1 {
			p = p[:7]
		}
		want = append(want, p)
		msg = append(msg, p...)
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = seg
	rc, _ := c.SyscallConn()
	got, _ := receiveAll(t, l, n, func() {
		var serr error
		rc.Control(func(fd uintptr) { _, serr = unix.SendmsgN(int(fd), msg, oob, nil, 0) })
		if serr != nil {
			t.Skipf("kernel refuses a %d-segment GSO send: %v", n, serr)
		}
	})
	if len(got) != n {
		t.Fatalf("got %d datagrams, want %d", len(got), n)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d: %x, want %x", i, got[i], want[i])
		}
	}
}

// TestDropsWithoutLaterTraffic: drops at the end of a burst that
// overflowed the socket buffer are reported although no datagram queued
// after them could carry the SO_RXQ_OVFL count.
func TestDropsWithoutLaterTraffic(t *testing.T) {
	l := listenLoopback(t, ListenConfig{Sockets: 1, RcvBuf: 64 << 10})
	c, err := net.DialUDP("udp", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := payload(1, 1000)
	for range 2000 { // ~2 MB into a buffer of at most a few hundred KB
		c.Write(p)
	}
	if d := l.Stats().Total().Drops; d == 0 {
		t.Fatal("no drops reported after overflowing the socket buffer")
	}
}
