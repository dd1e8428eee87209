package flow

import (
	"net/netip"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Config bounds the table.
type Config struct {
	// MaxFlows is the most live flows kept; when a new flow would exceed
	// it, the least recently active flow is ended with reason "evicted".
	MaxFlows int
	// IdleTimeout ends flows that saw no packet for this long, measured in
	// capture time. 0 disables it.
	IdleTimeout time.Duration
	// Linger ends a flow this long (capture time) after it closed on the
	// wire (RST, or FIN both ways), leaving time for late packets (the
	// last ACK, retransmitted FINs). 0 keeps closed flows until their
	// ports are reused, the idle timeout or the end.
	Linger time.Duration
}

// DefaultConfig keeps up to a million live flows and ends flows idle for
// five minutes (pping's and conntrack's order of magnitude).
func DefaultConfig() Config {
	return Config{MaxFlows: 1 << 20, IdleTimeout: 5 * time.Minute, Linger: 2 * time.Second}
}

// Stats counts what the table did.
type Stats struct {
	Created  uint64 // flows created
	Evicted  uint64 // flows ended early: MaxFlows reached, or EvictOldest (memory budget)
	Idle     uint64 // flows ended by IdleTimeout
	Closed   uint64 // flows ended by RST/FIN and then ended at a new SYN
	Lingered uint64 // flows ended Linger after they closed
	Peak     int    // most live flows at once
}

// Table maps keys to live flows.
type Table struct {
	cfg    Config
	m      map[Key]*Flow
	head   *Flow // most recently active
	tail   *Flow // least recently active
	n      int
	nextID uint64
	now    int64 // latest timestamp seen (capture time never runs back here)
	onEnd  func(*Flow)
	stats  Stats

	// closing lists flows in the order they closed on the wire, for
	// Linger; entries whose flow has ended since are skipped.
	closing []closingFlow

	// last is the flow of the last packet looked up, with that packet's
	// own fields (sameAsLast). remove clears last.flow when it ends that
	// flow, so it never points at a flow the table no longer holds (or
	// that onEnd's owner has reused).
	last lastPacket
	key  Key // scratch, avoids taking the address of a local per call
}

// lastPacket is what sameAsLast compares a packet with: the last packet's
// addresses and ports as it carried them (not ordered into a Key), its
// protocol and session fields, and its direction relative to the key.
type lastPacket struct {
	flow         *Flow
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	fromA        bool
	hasVNI       bool
	hasOverlay   bool
	vni          uint32
	overlayVNI   uint32
	gwlb         uint64
	outerSrc     netip.Addr
}

// NewTable returns an empty table. onEnd receives every flow the table
// ends (idle, evicted, or at Flush); it must not call back into the table.
func NewTable(cfg Config, onEnd func(*Flow)) *Table {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultConfig().MaxFlows
	}
	return &Table{cfg: cfg, m: make(map[Key]*Flow, 1024), onEnd: onEnd}
}

// Stats returns the counters so far.
func (t *Table) Stats() Stats { return t.stats }

// Len returns the number of live flows.
func (t *Table) Len() int { return t.n }

// Now returns the latest packet timestamp seen.
func (t *Table) Now() int64 { return t.now }

// Lookup finds or creates the flow of p (an IP packet), counts p in it and
// returns the flow and p's direction. ts is the packet time in ns.
func (t *Table) Lookup(p *decode.Packet, ts int64) (*Flow, Dir) {
	if ts > t.now {
		t.now = ts
	}
	f, fromA := t.sameAsLast(p)
	if f == nil {
		fromA = MakeKey(p, &t.key)
		f = t.m[t.key]
		if f != nil && f.Closed && f.isNewSYN(p, fromA) {
			// A new connection on the same 4-tuple after RST/FIN: end the
			// old one so each connection is its own flow.
			t.stats.Closed++
			t.remove(f, "closed")
			f = t.create(p, ts, fromA)
			f.ReusedPorts = true
		}
		if f == nil {
			f = t.create(p, ts, fromA)
		}
		t.setLast(p, f, fromA)
	} else if f.Closed && f.isNewSYN(p, fromA) {
		// The key is f's: taken before remove hands f to onEnd's owner.
		t.key = f.Key
		t.stats.Closed++
		t.remove(f, "closed") // clears t.last.flow
		f = t.create(p, ts, fromA)
		f.ReusedPorts = true
		t.last.flow = f // same key, same packet fields
	}
	d := ClientToServer
	if fromA != f.clientIsA {
		d = ServerToClient
	}
	ds := &f.Dir[d]
	ds.Packets++
	ds.Bytes += uint64(p.FrameLen)
	ds.PayloadBytes += uint64(p.PayloadLen)
	if p.Truncated {
		ds.Truncated++
	}
	if ds.First == 0 || ts < ds.First {
		ds.First = ts
	}
	if ts > ds.Last {
		ds.Last = ts
	}
	if ts < f.First {
		f.First = ts
	}
	if ts > f.Last {
		f.Last = ts
	}
	if p.Proto == 6 && p.L4 {
		fl := p.TCP.Flags
		was := f.Closed
		if fl&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn {
			f.synSeq[b2i(fromA)], f.synSet[b2i(fromA)] = p.TCP.Seq, true
		}
		if fl&decode.TCPRst != 0 {
			f.Closed = true
		}
		if fl&decode.TCPFin != 0 {
			f.finSeen[d] = true
			if f.finSeen[0] && f.finSeen[1] {
				f.Closed = true
			}
		}
		if f.Closed && !was && t.cfg.Linger > 0 {
			t.closing = append(t.closing, closingFlow{f: f, id: f.ID, at: ts})
		}
	}
	t.touch(f)
	return f, d
}

// sameAsLast returns the flow of the last packet looked up and p's
// direction in it when p belongs to it, else nil. In a bulk transfer
// nearly every packet does (the data one way, its ACKs the other): the
// comparison of the packet's own fields, its endpoints as carried or
// swapped, replaces building the ordered Key (MakeKey, Addr.Compare) and
// the map lookup: 286 -> 161 instructions a packet on a bulk capture
// (docs/benchmarks.md, tenth session).
//
// Same session, protocol and endpoint pair is exactly the same Key
// (MakeKey orders the pair; the ports are those MakeKey keeps), and
// swapping the endpoints flips the direction relative to the key's A side
// (a packet with both endpoints equal matches as carried, with the
// direction the first one got).
func (t *Table) sameAsLast(p *decode.Packet) (*Flow, bool) {
	l := &t.last
	if l.flow == nil || p.Proto != l.proto {
		return nil, false
	}
	sp, dp := keyPorts(p)
	fromA := l.fromA
	switch {
	case sp == l.sport && dp == l.dport && p.Src == l.src && p.Dst == l.dst:
	case sp == l.dport && dp == l.sport && p.Src == l.dst && p.Dst == l.src:
		fromA = !fromA
	default:
		return nil, false
	}
	// Field by field: a struct comparison is a runtime call.
	s := &p.Session
	if s.VNI != l.vni || s.GWLBEndpointID != l.gwlb || s.HasVNI != l.hasVNI || s.OuterSrc != l.outerSrc ||
		s.OverlayVNI != l.overlayVNI || s.HasOverlay != l.hasOverlay {
		return nil, false
	}
	return l.flow, fromA
}

// setLast makes p, of flow f in direction fromA, what sameAsLast compares
// the next packets with.
func (t *Table) setLast(p *decode.Packet, f *Flow, fromA bool) {
	l := &t.last
	sp, dp := keyPorts(p)
	s := &p.Session
	l.flow, l.fromA = f, fromA
	l.src, l.dst, l.sport, l.dport, l.proto = p.Src, p.Dst, sp, dp, p.Proto
	l.vni, l.gwlb, l.hasVNI, l.outerSrc = s.VNI, s.GWLBEndpointID, s.HasVNI, s.OuterSrc
	l.overlayVNI, l.hasOverlay = s.OverlayVNI, s.HasOverlay
}

// isNewSYN reports whether p starts a new connection on f's 4-tuple: a
// SYN without ACK whose ISN differs from the SYN f last saw from that
// side. The same ISN is a retransmitted SYN of the same connection (a
// client retrying after a RST), which tshark keeps in the same stream.
func (f *Flow) isNewSYN(p *decode.Packet, fromA bool) bool {
	if !(p.Proto == 6 && p.L4 && p.TCP.Flags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn) {
		return false
	}
	i := b2i(fromA)
	return !f.synSet[i] || f.synSeq[i] != p.TCP.Seq
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t *Table) create(p *decode.Packet, ts int64, fromA bool) *Flow {
	if t.n >= t.cfg.MaxFlows && t.tail != nil {
		t.stats.Evicted++
		t.remove(t.tail, "evicted")
	}
	f := &Flow{
		ID:      t.nextID,
		Key:     t.key,
		Session: p.Session,
		Encap:   p.Encap,
		First:   ts,
		Last:    ts,
	}
	t.nextID++
	t.stats.Created++
	sp, dp := keyPorts(p)
	src, dst := netip.AddrPortFrom(p.Src, sp), netip.AddrPortFrom(p.Dst, dp)
	srcIsClient := true
	switch {
	case p.Proto == 6 && p.L4 && p.TCP.Flags&decode.TCPSyn != 0:
		f.Roles = RoleFromHandshake
		srcIsClient = p.TCP.Flags&decode.TCPAck == 0
	case sp != dp: // (ports of TCP, UDP or SCTP: keyPorts)
		f.Roles = RoleFromPorts
		srcIsClient = sp > dp
	case p.Proto == 1 && p.L4 && (p.ICMPType == 0 || p.ICMPType == 14 || p.ICMPType == 16 || p.ICMPType == 18):
		// ICMP replies: the receiver asked.
		f.Roles = RoleFromHandshake
		srcIsClient = false
	case p.Proto == 58 && p.L4 && p.ICMPType == 129:
		f.Roles = RoleFromHandshake
		srcIsClient = false
	default:
		f.Roles = RoleFromFirstPacket
	}
	if srcIsClient {
		f.Client, f.Server = src, dst
		f.clientIsA = fromA
	} else {
		f.Client, f.Server = dst, src
		f.clientIsA = !fromA
	}
	t.m[t.key] = f
	t.n++
	if t.n > t.stats.Peak {
		t.stats.Peak = t.n
	}
	t.pushFront(f)
	return f
}

// SetNextID sets the id the next flow created gets (later ones count on
// from it). A parallel analysis gives each flow its creation frame
// number as a provisional id, which orders flows across tables as one
// table's creation order does, and renumbers them at the end.
func (t *Table) SetNextID(id uint64) { t.nextID = id }

// Advance moves the table's clock to now (ns) if it is later: live
// sources call it when no packet arrives.
func (t *Table) Advance(now int64) {
	if now > t.now {
		t.now = now
	}
}

// Expire ends flows idle for longer than the idle timeout at the latest
// timestamp seen. Call it every so often (the engine does so once per
// capture second); it only looks at the idle end of the list.
func (t *Table) Expire() {
	t.endClosed()
	if t.cfg.IdleTimeout <= 0 {
		return
	}
	limit := t.now - int64(t.cfg.IdleTimeout)
	for t.tail != nil && t.tail.Last < limit {
		t.stats.Idle++
		t.remove(t.tail, "idle")
	}
}

// EvictOldest ends the least recently active flow with reason "evicted"
// and counts it (the engine's memory budget). It reports whether there
// was a flow to end.
func (t *Table) EvictOldest() bool {
	if t.tail == nil {
		return false
	}
	t.stats.Evicted++
	t.remove(t.tail, "evicted")
	return true
}

type closingFlow struct {
	f  *Flow
	id uint64
	at int64 // capture time it closed
}

// endClosed ends the flows that closed Linger ago or more.
func (t *Table) endClosed() {
	limit := t.now - int64(t.cfg.Linger)
	n := 0
	for n < len(t.closing) && t.closing[n].at <= limit {
		c := t.closing[n]
		if t.m[c.f.Key] == c.f && c.f.ID == c.id && c.f.Closed {
			t.stats.Lingered++
			t.remove(c.f, "closed")
		}
		t.closing[n] = closingFlow{}
		n++
	}
	if n > 0 {
		t.closing = t.closing[n:]
		if len(t.closing) == 0 {
			t.closing = t.closing[:0:0] // let the backing array go
		}
	}
}

// Flush ends every live flow, least recently active first, with the given
// reason ("end_of_capture" at the end of a file).
func (t *Table) Flush(reason string) {
	for t.tail != nil {
		t.remove(t.tail, reason)
	}
}

// Range calls fn for each live flow, most recently active first, without
// ending them (for periodic reports of long flows).
func (t *Table) Range(fn func(*Flow) bool) {
	for f := t.head; f != nil; f = f.next {
		if !fn(f) {
			return
		}
	}
}

func (t *Table) remove(f *Flow, reason string) {
	if f.EndReason == "" || reason != "closed" {
		f.EndReason = reason
	}
	if reason == "closed" || f.Closed && reason == "end_of_capture" {
		f.EndReason = "closed"
	}
	delete(t.m, f.Key)
	t.unlink(f)
	t.n--
	if t.last.flow == f {
		t.last.flow = nil
	}
	if t.onEnd != nil {
		t.onEnd(f)
	}
}

func (t *Table) touch(f *Flow) {
	if t.head == f {
		return
	}
	t.unlink(f)
	t.pushFront(f)
}

func (t *Table) pushFront(f *Flow) {
	f.prev = nil
	f.next = t.head
	if t.head != nil {
		t.head.prev = f
	}
	t.head = f
	if t.tail == nil {
		t.tail = f
	}
}

func (t *Table) unlink(f *Flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else if t.head == f {
		t.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else if t.tail == f {
		t.tail = f.prev
	}
	f.prev, f.next = nil, nil
}
