package listen

import (
	"net/netip"
	"testing"
)

// vxlanTCP is a VXLAN datagram carrying an Ethernet/IPv4/TCP segment.
func vxlanTCP(sport, dport uint16) []byte {
	b := []byte{0x08, 0, 0, 0, 0, 0x10, 0x92, 0} // VNI 4242
	b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 40 + 100, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	b = append(b, ip...)
	tcp := []byte{byte(sport >> 8), byte(sport), byte(dport >> 8), byte(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0}
	b = append(b, tcp...)
	return append(b, make([]byte, 100)...)
}

// TestReceivePathZeroAlloc: decoding, allow-lists, session counting,
// sharding and batching allocate nothing per packet.
func TestReceivePathZeroAlloc(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VXLAN, cfg.HTTP = "127.0.0.1:0", ""
	cfg.Sockets, cfg.Shards = 1, 4
	cfg.AllowSrc = mustPrefixes("127.0.0.0/8")
	cfg.AllowVNI = []uint32{4242}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeAll()
	// Stand in for the shard goroutines: recycle batches at once.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, sh := range l.shards {
				select {
				case b := <-sh.in:
					b.n = 0
					sh.free <- b
				case <-stop:
					return
				default:
				}
			}
		}
	}()
	defer func() { close(stop); <-done }()
	r := l.recvs[0]
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	pkts := [][]byte{vxlanTCP(40000, 5201), vxlanTCP(5201, 40000), vxlanTCP(40001, 80)}
	i := 0
	n := testing.AllocsPerRun(5000, func() {
		d := pkts[i%len(pkts)]
		r.packet(d, len(d), from, int64(i))
		i++
		if i%64 == 0 {
			r.flushAll()
		}
	})
	if n != 0 {
		t.Errorf("%.1f allocations per packet, want 0", n)
	}
	if got := r.stats.accepted.Load(); got < 5000 {
		t.Errorf("accepted %d packets", got)
	}
}

// TestSteeringSymmetric: the reuseport program sends both directions of
// a connection to the same socket, so they are read in order.
func TestSteeringSymmetric(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VXLAN, cfg.HTTP = "127.0.0.1:0", ""
	cfg.Sockets, cfg.Shards = 4, 1
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeAll()
	to := l.VXLANAddr().String()
	// Each direction from its own source port, as AWS and the kernel's
	// vxlan device send them.
	const conns = 16
	for c := 0; c < conns; c++ {
		sendUDP(t, to, vxlanTCP(uint16(40000+c), 5201))
		sendUDP(t, to, vxlanTCP(5201, uint16(40000+c)))
	}
	got := map[uint16]int{} // client port -> socket index
	seen := 0
	for i, s := range l.socks {
		for {
			n := s.recvNow()
			if n == 0 {
				break
			}
			for j := 0; j < n; j++ {
				d, _, _ := s.datagram(j)
				sp := uint16(d[8+14+20])<<8 | uint16(d[8+14+21])
				dp := uint16(d[8+14+22])<<8 | uint16(d[8+14+23])
				cp := min(sp, dp)
				if cp == 5201 {
					cp = max(sp, dp)
				}
				if prev, ok := got[cp]; ok && prev != i {
					t.Errorf("connection %d: directions read by sockets %d and %d", cp, prev, i)
				}
				got[cp] = i
				if want := steerHash([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, sp, dp, len(l.socks)); want != i {
					t.Errorf("connection %d read by socket %d, program should pick %d", cp, i, want)
				}
				seen++
			}
		}
	}
	if seen != 2*conns {
		t.Fatalf("read %d datagrams, want %d", seen, 2*conns)
	}
	used := map[int]bool{}
	for _, i := range got {
		used[i] = true
	}
	if len(used) < 2 {
		t.Errorf("all connections on one socket: %v", got)
	}
}
