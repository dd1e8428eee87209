package listen

import (
	"net"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
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
	dst := netip.MustParseAddr("127.0.0.1")
	pkts := [][]byte{vxlanTCP(40000, 5201), vxlanTCP(5201, 40000), vxlanTCP(40001, 80)}
	i := 0
	n := testing.AllocsPerRun(5000, func() {
		d := pkts[i%len(pkts)]
		r.datagram(d, len(d), from, dst, int64(i))
		i++
		if i%64 == 0 {
			r.endBatch()
		}
	})
	if n != 0 {
		t.Errorf("%.1f allocations per packet, want 0", n)
	}
	r.endBatch()
	// AllocsPerRun runs the function once more to warm up.
	if got := r.stats.accepted.Load(); got != 5001 {
		t.Errorf("accepted %d packets, want 5001", got)
	}
	if ss := l.reg.infos(); len(ss) != 1 || ss[0].Packets != 5001 || ss[0].First == "" {
		t.Errorf("sessions %+v, want one of 5001 packets", ss)
	}
}

// TestSteeringOn: the listener asks its sockets for symmetric steering
// (tested in capture: TestListenSymmetricSteering), so both directions of
// a connection reach one receiver in order.
func TestSteeringOn(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VXLAN, cfg.GENEVE, cfg.HTTP = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Sockets, cfg.Shards = 3, 1
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeAll()
	if len(l.udp) != 2 || len(l.recvs) != 6 {
		t.Fatalf("%d listeners, %d receivers", len(l.udp), len(l.recvs))
	}
	for _, u := range l.udp {
		if c := u.l.Config(); !u.l.Steered() || c.Sockets != 3 {
			t.Errorf("%s listener: steered %v, %d sockets", c.Kind, u.l.Steered(), c.Sockets)
		}
	}
}

// TestReplaySendZeroAlloc: wrapping a frame (VXLAN, and GENEVE around
// VXLAN), queueing it and sending the batches with sendmmsg allocate
// nothing per datagram, through a raw socket (when root) and through the
// UDP sockets.
func TestReplaySendZeroAlloc(t *testing.T) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	to := sink.LocalAddr().(*net.UDPAddr)
	frame := vxlanTCP(40000, 5201)[8:] // an Ethernet frame
	for _, encap := range []string{"vxlan", "geneve"} {
		for _, noRaw := range []bool{false, true} {
			q, err := capture.NewSender(to, 4, 0, noRaw)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			cfg := ReplayConfig{VNI: 7, Encap: encap, Decode: decode.DefaultConfig()}
			oc := cfg.Decode
			oc.NoDecap = true
			odec := decode.New(oc)
			var p decode.Packet
			var sent uint64
			i := 0
			allocs := testing.AllocsPerRun(2000, func() {
				d, ok := datagramOf(q.Begin(), frame, decode.LinkEthernet, uint32(len(frame)), odec, &p, &cfg)
				if !ok {
					t.Fatal("frame not wrapped")
				}
				if err := odec.Decode(frame, decode.LinkEthernet, uint32(len(frame)), &p); err != nil {
					t.Fatal(err)
				}
				q.Commit(int(dirHash(p.Src, p.Dst, p.SrcPort, p.DstPort)+uint32(i))%4, d)
				i++
				if q.Len() >= capture.SendBatch || q.Full() {
					n, _, _, err := q.Flush()
					if err != nil {
						t.Fatal(err)
					}
					sent += n
				}
			})
			if allocs != 0 {
				t.Errorf("%s, raw %v: %.2f allocations per datagram", encap, q.Raw(), allocs)
			}
			if sent == 0 {
				t.Errorf("%s, raw %v: nothing sent", encap, q.Raw())
			}
		}
	}
}

// TestLonePacketHandedOn: receivers keep shard batches back only while
// datagrams keep coming; a lone packet reaches its shard at once.
func TestLonePacketHandedOn(t *testing.T) {
	r := startListener(t, nil)
	sendUDP(t, r.l.VXLANAddr().String(), vxlanTCP(40000, 5201))
	deadline := time.Now().Add(2 * time.Second)
	for {
		var live int64
		for _, sh := range r.l.shards {
			live += sh.live.Load()
		}
		if live == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d flows in the shards 2 s after the packet", live)
		}
		time.Sleep(time.Millisecond)
	}
}
