package flow

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

func tcpPkt(src, dst string, sp, dp uint16, flags uint8) *decode.Packet {
	return &decode.Packet{
		IPVersion: 4, Proto: 6, L4: true,
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		SrcPort: sp, DstPort: dp, FrameLen: 100, PayloadLen: 46,
		TCP: decode.TCP{Flags: flags},
	}
}

func TestBothDirectionsMeet(t *testing.T) {
	var ended []*Flow
	tb := NewTable(DefaultConfig(), func(f *Flow) { ended = append(ended, f) })
	f1, d1 := tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 40000, 443, decode.TCPSyn), 1)
	f2, d2 := tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 443, 40000, decode.TCPSyn|decode.TCPAck), 2)
	f3, d3 := tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 40000, 443, decode.TCPAck), 3)
	if f1 != f2 || f2 != f3 {
		t.Fatalf("directions did not meet: %p %p %p", f1, f2, f3)
	}
	if got, want := []Dir{d1, d2, d3}, []Dir{ClientToServer, ServerToClient, ClientToServer}; !cmp.Equal(got, want) {
		t.Errorf("dirs (-got +want):\n%s", cmp.Diff(got, want))
	}
	if f1.Client.String() != "10.0.0.2:40000" || f1.Server.String() != "10.0.0.1:443" || f1.Roles != RoleFromHandshake {
		t.Errorf("roles: client %v server %v from %v", f1.Client, f1.Server, f1.Roles)
	}
	if f1.Dir[0].Packets != 2 || f1.Dir[1].Packets != 1 || f1.Bytes() != 300 {
		t.Errorf("counts: %+v", f1.Dir)
	}
	tb.Flush("end_of_capture")
	if len(ended) != 1 || ended[0].EndReason != "end_of_capture" {
		t.Fatalf("flush: %d flows ended", len(ended))
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		p          *decode.Packet
		client     string
		roleSource RoleSource
	}{
		{"syn", tcpPkt("10.0.0.1", "10.0.0.2", 80, 50000, decode.TCPSyn), "10.0.0.1:80", RoleFromHandshake},
		{"synack", tcpPkt("10.0.0.1", "10.0.0.2", 80, 50000, decode.TCPSyn|decode.TCPAck), "10.0.0.2:50000", RoleFromHandshake},
		{"midstream server first", tcpPkt("10.0.0.9", "10.0.0.2", 443, 50000, decode.TCPAck), "10.0.0.2:50000", RoleFromPorts},
		{"midstream client first", tcpPkt("10.0.0.2", "10.0.0.9", 50000, 443, decode.TCPAck), "10.0.0.2:50000", RoleFromPorts},
		{"equal ports", tcpPkt("10.0.0.9", "10.0.0.2", 7000, 7000, decode.TCPAck), "10.0.0.9:7000", RoleFromFirstPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable(DefaultConfig(), nil)
			f, _ := tb.Lookup(tc.p, 1)
			if f.Client.String() != tc.client || f.Roles != tc.roleSource {
				t.Errorf("client %v from %v, want %v from %v", f.Client, f.Roles, tc.client, tc.roleSource)
			}
		})
	}
}

func TestSessionsKeptApart(t *testing.T) {
	tb := NewTable(DefaultConfig(), nil)
	a := tcpPkt("10.0.0.1", "10.0.0.2", 1000, 80, decode.TCPAck)
	b := *a
	a.Session = decode.Session{OuterSrc: netip.MustParseAddr("192.0.2.1"), VNI: 1, HasVNI: true}
	b.Session = decode.Session{OuterSrc: netip.MustParseAddr("192.0.2.2"), VNI: 2, HasVNI: true}
	fa, _ := tb.Lookup(a, 1)
	fb, _ := tb.Lookup(&b, 2)
	if fa == fb || tb.Len() != 2 {
		t.Fatalf("two sessions share a flow (len %d)", tb.Len())
	}
}

func TestEvictionAndIdle(t *testing.T) {
	var reasons []string
	tb := NewTable(Config{MaxFlows: 2, IdleTimeout: time.Second}, func(f *Flow) { reasons = append(reasons, f.EndReason) })
	tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1001, 80, decode.TCPAck), 1)
	tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1002, 80, decode.TCPAck), 2)
	tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1003, 80, decode.TCPAck), 3) // evicts 1001
	if tb.Len() != 2 || tb.Stats().Evicted != 1 {
		t.Fatalf("len %d stats %+v", tb.Len(), tb.Stats())
	}
	tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1003, 80, decode.TCPAck), int64(3*time.Second))
	tb.Expire() // 1002 idle for > 1 s
	if diff := cmp.Diff(reasons, []string{"evicted", "idle"}); diff != "" {
		t.Errorf("end reasons (-got +want):\n%s", diff)
	}
	if tb.Stats().Peak != 2 {
		t.Errorf("peak %d", tb.Stats().Peak)
	}
}

func TestNewSYNAfterRSTStartsNewFlow(t *testing.T) {
	var ended []*Flow
	tb := NewTable(DefaultConfig(), func(f *Flow) { ended = append(ended, f) })
	f1, _ := tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1000, 80, decode.TCPSyn), 1)
	tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 80, 1000, decode.TCPRst|decode.TCPAck), 2)
	syn2 := tcpPkt("10.0.0.1", "10.0.0.2", 1000, 80, decode.TCPSyn)
	syn2.TCP.Seq = 12345 // a new ISN: a new connection
	f2, _ := tb.Lookup(syn2, 3)
	if f1 == f2 || len(ended) != 1 || ended[0].EndReason != "closed" {
		t.Fatalf("reused 4-tuple: same flow %v, ended %d", f1 == f2, len(ended))
	}
}

// A SYN with the same ISN after a RST is a retransmission of the same
// connection's SYN (tshark keeps its tcp.stream): the flow goes on.
func TestSameISNAfterRSTKeepsFlow(t *testing.T) {
	var ended []*Flow
	tb := NewTable(DefaultConfig(), func(f *Flow) { ended = append(ended, f) })
	f1, _ := tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1000, 80, decode.TCPSyn), 1)
	tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 80, 1000, decode.TCPRst|decode.TCPAck), 2)
	f2, _ := tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 1000, 80, decode.TCPSyn), 3)
	if f1 != f2 || len(ended) != 0 {
		t.Fatalf("retransmitted SYN after RST: same flow %v, ended %d", f1 == f2, len(ended))
	}
}

func TestLookupAllocs(t *testing.T) {
	tb := NewTable(DefaultConfig(), nil)
	p := tcpPkt("10.0.0.1", "10.0.0.2", 1000, 80, decode.TCPAck)
	q := tcpPkt("10.0.0.2", "10.0.0.1", 80, 1000, decode.TCPAck)
	tb.Lookup(p, 1)
	var ts int64 = 1
	if n := testing.AllocsPerRun(1000, func() {
		ts++
		tb.Lookup(p, ts)
		tb.Lookup(q, ts)
	}); n != 0 {
		t.Errorf("Lookup of existing flows allocates %.1f times per run", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	tb := NewTable(DefaultConfig(), nil)
	pkts := make([]*decode.Packet, 64)
	for i := range pkts {
		pkts[i] = tcpPkt("10.0.0.1", "10.0.0.2", uint16(1000+i/2), 80, decode.TCPAck)
		if i%2 == 1 {
			pkts[i] = tcpPkt("10.0.0.2", "10.0.0.1", 80, uint16(1000+i/2), decode.TCPAck)
		}
	}
	b.ReportAllocs()
	var ts int64
	for b.Loop() {
		ts++
		tb.Lookup(pkts[ts&63], ts)
	}
}

// TestClosedFlowsEndAfterLinger: a flow closed by FIN both ways (or RST)
// ends Linger after it closed, not at the idle timeout; a late packet
// within the linger still counts in it.
func TestClosedFlowsEndAfterLinger(t *testing.T) {
	const s = int64(time.Second)
	for _, tc := range []struct {
		name  string
		close func(tb *Table)
	}{
		{"fin", func(tb *Table) {
			tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 40000, 443, decode.TCPFin|decode.TCPAck), 10*s)
			tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 443, 40000, decode.TCPFin|decode.TCPAck), 10*s+1)
		}},
		{"rst", func(tb *Table) {
			tb.Lookup(tcpPkt("10.0.0.1", "10.0.0.2", 443, 40000, decode.TCPRst), 10*s+1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ended []*Flow
			cfg := DefaultConfig()
			cfg.Linger = 2 * time.Second
			tb := NewTable(cfg, func(f *Flow) { ended = append(ended, f) })
			tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 40000, 443, decode.TCPSyn), 1*s)
			tc.close(tb)
			tb.Lookup(tcpPkt("10.0.0.2", "10.0.0.1", 40000, 443, decode.TCPAck), 11*s) // late ACK
			tb.Advance(12 * s)
			tb.Expire()
			if len(ended) != 0 {
				t.Fatalf("flow ended %v after closing, before the linger", ended[0].EndReason)
			}
			tb.Advance(12*s + 2)
			tb.Expire()
			if len(ended) != 1 || ended[0].EndReason != "closed" || ended[0].Packets() < 3 || tb.Len() != 0 {
				t.Fatalf("ended %d flows (%+v), %d live; want the closed flow with its late ACK", len(ended), ended, tb.Len())
			}
			if st := tb.Stats(); st.Lingered != 1 || st.Idle != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestPacketHashSymmetric: both directions of a flow hash alike, packets
// of different flows (ports, protocol, session) mostly do not, and fields
// the key ignores (ports of an ICMP packet) do not change the hash.
func TestPacketHashSymmetric(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6 := netip.MustParseAddr("2001:db8::1")
	mk := func(src, dst netip.Addr, sp, dp uint16, proto uint8, vni uint32) *decode.Packet {
		p := &decode.Packet{IPVersion: 4, Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: proto, L4: true}
		if vni != 0 {
			p.Encap = decode.EncapVXLAN
			p.Session = decode.Session{OuterSrc: netip.MustParseAddr("192.0.2.9"), VNI: vni, HasVNI: true}
		}
		return p
	}
	for _, c := range []struct {
		name string
		p, q *decode.Packet
		same bool
	}{
		{"tcp both ways", mk(a, b, 40000, 443, 6, 0), mk(b, a, 443, 40000, 6, 0), true},
		{"udp both ways in a session", mk(a, v6, 53, 5353, 17, 7), mk(v6, a, 5353, 53, 17, 7), true},
		{"icmp ports ignored", mk(a, b, 1, 2, 1, 0), mk(b, a, 3, 4, 1, 0), true},
		{"other port", mk(a, b, 40000, 443, 6, 0), mk(a, b, 40001, 443, 6, 0), false},
		{"ports swapped on one side", mk(a, b, 443, 40000, 6, 0), mk(a, b, 40000, 443, 6, 0), false},
		{"other protocol", mk(a, b, 40000, 443, 6, 0), mk(a, b, 40000, 443, 17, 0), false},
		{"other session", mk(a, b, 40000, 443, 6, 7), mk(a, b, 40000, 443, 6, 8), false},
	} {
		var kp, kq Key
		MakeKey(c.p, &kp)
		MakeKey(c.q, &kq)
		if (kp == kq) != c.same {
			t.Fatalf("%s: keys equal %v, want %v", c.name, kp == kq, c.same)
		}
		if got := PacketHash(c.p) == PacketHash(c.q); got != c.same {
			t.Errorf("%s: hashes equal %v, want %v", c.name, got, c.same)
		}
	}
	// Spread: 10,000 flows over 4 workers, none with fewer than 20 %.
	var n [4]int
	for i := range 10000 {
		n[PacketHash(mk(a, b, uint16(32768+i), 443, 6, 0))%4]++
	}
	for w, c := range n {
		if c < 2000 {
			t.Errorf("worker %d got %d of 10000 flows: %v", w, c, n)
		}
	}
}

// TestKeySame: Key.same is ==, field by field.
// TestSameAsLastEqualsKey: after a packet, sameAsLast takes another one
// exactly when MakeKey gives both the same Key, with MakeKey's direction:
// edits of every field MakeKey reads, the endpoints swapped, equal
// addresses and equal ports, and ports MakeKey leaves out (ICMP, a
// packet without its L4 header).
func TestSameAsLastEqualsKey(t *testing.T) {
	// A field added to the key must be added to sameAsLast, setLast and
	// here.
	if n, m := reflect.TypeOf(Key{}).NumField(), reflect.TypeOf(SessionKey{}).NumField(); n != 6 || m != 6 {
		t.Fatalf("Key has %d fields, SessionKey %d: update sameAsLast, setLast and this test", n, m)
	}
	a1, a2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	sess := decode.Session{OuterSrc: netip.MustParseAddr("192.0.2.1"), OuterDst: netip.MustParseAddr("192.0.2.9"),
		VNI: 7, HasVNI: true, GWLBEndpointID: 9, GWLBAttachmentID: 4, OverlayVNI: 3, HasOverlay: true}
	bases := []decode.Packet{
		{IPVersion: 4, Proto: 6, L4: true, Src: a1, Dst: a2, SrcPort: 1000, DstPort: 80, Session: sess},
		{IPVersion: 4, Proto: 6, L4: true, Src: a2, Dst: a1, SrcPort: 80, DstPort: 1000},
		{IPVersion: 4, Proto: 17, L4: true, Src: a1, Dst: a1, SrcPort: 53, DstPort: 5353},
		{IPVersion: 4, Proto: 17, L4: true, Src: a1, Dst: a1, SrcPort: 5353, DstPort: 53},
		{IPVersion: 4, Proto: 6, L4: true, Src: a1, Dst: a1, SrcPort: 7, DstPort: 7},
		{IPVersion: 4, Proto: 1, L4: true, Src: a1, Dst: a2, ICMPType: 8, SrcPort: 0, DstPort: 0},
		{IPVersion: 4, Proto: 6, L4: false, Src: a2, Dst: a1},
	}
	edits := []func(*decode.Packet){
		func(p *decode.Packet) {},
		func(p *decode.Packet) { p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort },
		func(p *decode.Packet) { p.Src, p.Dst = p.Dst, p.Src },
		func(p *decode.Packet) { p.SrcPort, p.DstPort = p.DstPort, p.SrcPort },
		func(p *decode.Packet) { p.Src = netip.MustParseAddr("10.0.0.3") },
		func(p *decode.Packet) { p.Dst = netip.MustParseAddr("::ffff:10.0.0.2") },
		func(p *decode.Packet) { p.Src = netip.MustParseAddr("fe80::1%eth0") },
		func(p *decode.Packet) { p.SrcPort++ },
		func(p *decode.Packet) { p.DstPort++ },
		func(p *decode.Packet) { p.Proto = 17 },
		func(p *decode.Packet) { p.Proto = 132 },
		func(p *decode.Packet) { p.L4 = !p.L4 },
		func(p *decode.Packet) { p.ICMPType = 0; p.TCP.Flags = decode.TCPSyn; p.FrameLen = 9 }, // not in the key
		func(p *decode.Packet) { p.Session.OuterSrc = netip.MustParseAddr("192.0.2.2") },
		func(p *decode.Packet) { p.Session.OuterSrc = netip.Addr{} },
		func(p *decode.Packet) { p.Session.OuterDst = netip.Addr{} }, // not in the key
		func(p *decode.Packet) { p.Session.VNI++ },
		func(p *decode.Packet) { p.Session.HasVNI = !p.Session.HasVNI },
		func(p *decode.Packet) { p.Session.GWLBEndpointID++ },
		func(p *decode.Packet) { p.Session.GWLBAttachmentID++ }, // not in the key
		func(p *decode.Packet) { p.Session.OverlayVNI++ },
		func(p *decode.Packet) { p.Session.HasOverlay = !p.Session.HasOverlay },
	}
	var hits, misses int
	for i, base := range bases {
		var bk Key
		bfromA := MakeKey(&base, &bk)
		for j, edit := range edits {
			p := base
			edit(&p)
			var k Key
			fromA := MakeKey(&p, &k)
			tb := NewTable(DefaultConfig(), nil)
			f := &Flow{Key: bk}
			tb.setLast(&base, f, bfromA)
			got, gotA := tb.sameAsLast(&p)
			switch {
			case k == bk && (got != f || gotA != fromA):
				t.Errorf("base %d edit %d: same key, sameAsLast gave %p fromA %v, want %p %v", i, j, got, gotA, f, fromA)
			case k != bk && got != nil:
				t.Errorf("base %d edit %d: other key %+v, sameAsLast took it", i, j, k)
			case k == bk:
				hits++
			default:
				misses++
			}
		}
	}
	if hits < len(bases)*3 || misses < len(bases)*10 {
		t.Fatalf("%d same keys, %d others: the edits do not cover both", hits, misses)
	}
}

// TestLookupLastFlowEnded: whatever ended the last packet's flow (idle,
// evicted by MaxFlows or EvictOldest, closed and linger, reused ports,
// Flush), the next packet of that flow never gets the ended Flow, which
// onEnd's owner may already have recycled: a random walk over 12 flows
// (two sessions, both directions, SYN, FIN, RST) in a table of 5 at most,
// checking after every Lookup that the flow returned is the one the map
// holds for the packet's key, live, with MakeKey's direction.
func TestLookupLastFlowEnded(t *testing.T) {
	const ms = int64(time.Millisecond)
	ended := map[*Flow]bool{}
	var tb *Table
	tb = NewTable(Config{MaxFlows: 5, IdleTimeout: 50 * time.Millisecond, Linger: 5 * time.Millisecond}, func(f *Flow) {
		ended[f] = true
		*f = Flow{Key: Key{Proto: 99}} // recycled by its owner
	})
	rng := uint64(1)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % n
	}
	flags := []uint8{decode.TCPAck, decode.TCPAck, decode.TCPAck, decode.TCPSyn, decode.TCPFin | decode.TCPAck, decode.TCPRst}
	ts := int64(1)
	for i := 0; i < 200000; i++ {
		n := next(12)
		p := tcpPkt("10.0.0.1", "10.0.0.2", uint16(1000+n%6), 80, flags[next(len(flags))])
		p.TCP.Seq = uint32(next(3))
		if n >= 6 {
			p.Session = decode.Session{OuterSrc: netip.MustParseAddr("192.0.2.1"), VNI: 5, HasVNI: true}
		}
		if next(2) == 0 {
			p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
		}
		// Mostly runs of one flow, as in a capture.
		for run := next(4); run >= 0; run-- {
			ts += int64(next(3)) * ms
			f, d := tb.Lookup(p, ts)
			var k Key
			fromA := MakeKey(p, &k)
			if ended[f] || tb.m[k] != f || f.Key != k {
				t.Fatalf("packet %d: Lookup gave flow %p (ended %v, key %+v), the table holds %p for %+v", i, f, ended[f], f.Key, tb.m[k], k)
			}
			if want := d == ClientToServer; want != (fromA == f.clientIsA) {
				t.Fatalf("packet %d: direction %v, fromA %v, clientIsA %v", i, d, fromA, f.clientIsA)
			}
		}
		switch next(50) {
		case 0:
			tb.Expire()
		case 1:
			tb.EvictOldest()
		case 2:
			tb.Flush("end_of_capture")
		case 3:
			ts += 60 * ms // the other flows go idle
			tb.Expire()
		}
		if f := tb.last.flow; f != nil && ended[f] {
			t.Fatalf("packet %d: the last flow %p has ended", i, f)
		}
	}
	st := tb.Stats()
	for name, v := range map[string]uint64{"evicted": st.Evicted, "idle": st.Idle, "closed": st.Closed, "lingered": st.Lingered} {
		if v == 0 {
			t.Errorf("no flow %s: the walk does not cover it", name)
		}
	}
}
