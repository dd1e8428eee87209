package mirror

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Addrs is the set of the source interface's addresses (its primary and
// secondary IPs). It tells a packet's direction relative to the
// interface: to one of them is ingress, from one of them is egress.
type Addrs []netip.Addr

// Direction returns p's direction relative to the interface, and false
// when neither end of p is one of the addresses (or p is not IP). A
// packet from one of the addresses to another is egress. It allocates
// nothing.
func (a Addrs) Direction(p *decode.Packet) (Direction, bool) {
	if p.IPVersion == 0 {
		return 0, false
	}
	for _, x := range a {
		if p.Src == x {
			return Egress, true
		}
	}
	for _, x := range a {
		if p.Dst == x {
			return Ingress, true
		}
	}
	return 0, false
}

// AddrCounter finds the source interface's address in a capture taken on
// it: the address that appears (as source or destination) in the most
// packets. On a host's interface every unicast packet has the host's
// address at one end, while each peer appears only in its own flows, so
// the busiest address is the host's unless the capture holds a single
// conversation, where both ends tie (then pass the address explicitly).
type AddrCounter struct {
	n map[netip.Addr]uint64
}

// Add counts p's addresses.
func (c *AddrCounter) Add(p *decode.Packet) {
	if p.IPVersion == 0 {
		return
	}
	if c.n == nil {
		c.n = make(map[netip.Addr]uint64)
	}
	c.n[p.Src]++
	if p.Dst != p.Src {
		c.n[p.Dst]++
	}
}

// AddrCount is an address and the packets it appears in.
type AddrCount struct {
	Addr    netip.Addr
	Packets uint64
}

// Top returns the addresses by packet count, most first, ties by
// address, at most n (all if n <= 0).
func (c *AddrCounter) Top(n int) []AddrCount {
	out := make([]AddrCount, 0, len(c.n))
	for a, k := range c.n {
		out = append(out, AddrCount{a, k})
	}
	slices.SortFunc(out, func(x, y AddrCount) int {
		return cmp.Or(cmp.Compare(y.Packets, x.Packets), x.Addr.Compare(y.Addr))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// Best returns the address in the most packets. ok is false when no IP
// packet was counted; tie is true when the runner-up appears in as many
// packets (a capture of one conversation), so the choice is arbitrary.
func (c *AddrCounter) Best() (addr netip.Addr, ok, tie bool) {
	top := c.Top(2)
	if len(top) == 0 {
		return netip.Addr{}, false, false
	}
	return top[0].Addr, true, len(top) == 2 && top[1].Packets == top[0].Packets
}

// Predicate decides per packet whether AWS would mirror it, for the
// analysis engine (analyze/listen --filter). It allocates nothing and is
// safe for concurrent use.
type Predicate struct {
	sessions Sessions
	addrs    Addrs
}

// NewPredicate returns a predicate for sessions of one source interface.
// addrs are the interface's addresses; when empty, the direction of a
// packet that arrived through a mirror session is taken from the outer
// source address (the source ENI's primary IP), and other packets are
// not mirrored since their direction is unknown.
func NewPredicate(sessions Sessions, addrs Addrs) *Predicate {
	return &Predicate{sessions: sessions, addrs: addrs}
}

// PredicateForFilter returns a predicate for one filter (a session with
// number 1 and whole packets).
func PredicateForFilter(f *Filter, addrs Addrs) *Predicate {
	return NewPredicate(Sessions{{Number: 1, Filter: f}}, addrs)
}

// Direction returns p's direction relative to the source interface.
func (pr *Predicate) Direction(p *decode.Packet) (Direction, bool) {
	if len(pr.addrs) > 0 {
		return pr.addrs.Direction(p)
	}
	if p.Encap != decode.EncapNone && p.Session.OuterSrc.IsValid() && p.IPVersion != 0 {
		// The outer source is the ENI's primary IP. A packet the ENI
		// sends carries it as source (or a secondary IP, which we cannot
		// know), so what does not come from it is taken as ingress.
		if p.Src == p.Session.OuterSrc {
			return Egress, true
		}
		return Ingress, true
	}
	return 0, false
}

// Keep reports whether AWS would mirror p, and through which session.
func (pr *Predicate) Keep(p *decode.Packet) (*Session, bool) {
	dir, ok := pr.Direction(p)
	if !ok {
		return nil, false
	}
	s, _ := pr.sessions.SelectVerdict(p, dir)
	return s, s != nil
}
