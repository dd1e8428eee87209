package listen

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// sessionKey identifies a mirror session as the target sees it: the outer
// source (the source ENI, or the switch/host sending ERSPAN), the VNI
// (for ERSPAN the session id, for GRE the key), the encapsulation, and
// behind a GWLB its endpoint and attachment ids. For --iface capture of plain traffic it is the zero key.
type sessionKey struct {
	src      netip.Addr
	vni      uint32
	hasVNI   bool
	encap    decode.Encap
	gwlbEP   uint64
	gwlbAtt  uint64
	hasGWLB  bool
	overflow bool // the catch-all once maxSessions is reached
}

func keyOf(p *decode.Packet) sessionKey {
	s := &p.Session
	return sessionKey{src: s.OuterSrc, vni: s.VNI, hasVNI: s.HasVNI, encap: p.Encap,
		gwlbEP: s.GWLBEndpointID, gwlbAtt: s.GWLBAttachmentID, hasGWLB: s.HasGWLB}
}

// session counts one session's traffic. Counters are atomics: several
// receiving goroutines update the same session.
type session struct {
	id      uint32 // index in the registry, also the pcapng session id
	key     sessionKey
	dst     netip.Addr
	allowed bool

	packets, bytes, drops, truncated atomic.Uint64
	first, last                      atomic.Int64
	// dirs counts the session's packets by direction (dirflow.go).
	dirs dirCounts
}

// registry holds every session seen, up to a bound; later ones are
// counted in one overflow session so a flood of spoofed sources cannot
// grow memory without end.
type registry struct {
	max  int
	mu   sync.RWMutex
	m    map[sessionKey]*session
	list []*session
}

func newRegistry(max int) *registry {
	return &registry{max: max, m: make(map[sessionKey]*session)}
}

// get returns the session of k, creating it on first sight.
func (r *registry) get(k sessionKey, dst netip.Addr, allowed bool) *session {
	r.mu.RLock()
	s := r.m[k]
	r.mu.RUnlock()
	if s != nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s = r.m[k]; s != nil {
		return s
	}
	if len(r.list) >= r.max {
		ok := sessionKey{overflow: true}
		if s = r.m[ok]; s != nil {
			return s
		}
		k, allowed = ok, true
	}
	s = &session{id: uint32(len(r.list)), key: k, dst: dst, allowed: allowed}
	r.m[k] = s
	r.list = append(r.list, s)
	return s
}

// lookup returns the session of k if it exists, creating none.
func (r *registry) lookup(k sessionKey) *session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[k]
}

func (r *registry) byID(id uint32) *session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if int(id) < len(r.list) {
		return r.list[id]
	}
	return nil
}

func (r *registry) all() []*session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*session(nil), r.list...)
}

// pendingCount accumulates one receiver's counts for its current session
// within a batch; flush adds them to the session's atomics.
type pendingCount struct {
	s                         *session
	packets, bytes, truncated uint64
	first, last               int64
	dir                       dirPending
}

func (c *pendingCount) count(s *session, p *decode.Packet, ts int64) {
	if s != c.s {
		c.flush()
		c.s, c.first = s, ts
	}
	c.packets++
	c.bytes += uint64(p.FrameLen)
	if p.Truncated {
		c.truncated++
	}
	c.dir.count(s, p)
	c.last = ts
}

func (c *pendingCount) flush() {
	s := c.s
	if s == nil || c.packets == 0 {
		return
	}
	s.packets.Add(c.packets)
	s.bytes.Add(c.bytes)
	if c.truncated > 0 {
		s.truncated.Add(c.truncated)
	}
	s.first.CompareAndSwap(0, c.first)
	s.last.Store(c.last)
	c.dir.flush(&s.dirs)
	c.packets, c.bytes, c.truncated = 0, 0, 0
	c.s = nil
}

// SessionInfo is a session in /api/sessions and the summary.
type SessionInfo struct {
	OuterSrc         string `json:"outer_src,omitempty"`
	OuterDst         string `json:"outer_dst,omitempty"`
	VNI              uint32 `json:"vni"`
	Encap            string `json:"encap"`
	GWLBEndpointID   string `json:"gwlb_endpoint_id,omitempty"`
	GWLBAttachmentID string `json:"gwlb_attachment_id,omitempty"`
	// Allowed is always true: traffic outside --allow-vni/--allow-src is
	// counted in the listener's rejected counts and creates no session
	// (kept for the JSON contract).
	Allowed bool `json:"allowed"`
	// Overflow marks the catch-all of sessions beyond the registry's bound.
	Overflow  bool   `json:"overflow,omitempty"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	Drops     uint64 `json:"drops"` // datagrams of this session not analysed (inner decode error)
	Truncated uint64 `json:"truncated"`
	First     string `json:"first,omitempty"`
	Last      string `json:"last,omitempty"`
	DirCounts
}

func (s *session) info() SessionInfo {
	k := s.key
	in := SessionInfo{
		VNI: k.vni, Encap: k.encap.String(), Allowed: s.allowed, Overflow: k.overflow,
		Packets: s.packets.Load(), Bytes: s.bytes.Load(), Drops: s.drops.Load(), Truncated: s.truncated.Load(),
		DirCounts: s.dirs.load(),
	}
	if k.src.IsValid() {
		in.OuterSrc = k.src.String()
	}
	if s.dst.IsValid() {
		in.OuterDst = s.dst.String()
	}
	if k.hasGWLB {
		in.GWLBEndpointID = fmt.Sprintf("%016x", k.gwlbEP)
		in.GWLBAttachmentID = fmt.Sprintf("%016x", k.gwlbAtt)
	}
	if t := s.first.Load(); t != 0 {
		in.First = formatTS(t)
		in.Last = formatTS(s.last.Load())
	}
	return in
}

// name is the session's pcapng interface name; description says the rest.
func (s *session) name() string {
	k := s.key
	switch {
	case k.overflow:
		return "overflow"
	case k.encap == decode.EncapNone:
		return "plain"
	case k.hasGWLB:
		return fmt.Sprintf("%s vni %d gwlbe %016x", k.src, k.vni, k.gwlbEP)
	case k.encap.IsERSPAN():
		return fmt.Sprintf("%s %s session %d", k.src, k.encap, k.vni)
	case k.encap == decode.EncapGRE && k.hasVNI:
		return fmt.Sprintf("%s gre key %d", k.src, k.vni)
	case k.encap == decode.EncapGRE:
		return fmt.Sprintf("%s gre", k.src)
	}
	return fmt.Sprintf("%s vni %d", k.src, k.vni)
}

func (s *session) description() string {
	i := s.info()
	d := fmt.Sprintf("mirrorscope session: encap=%s outer_src=%s outer_dst=%s vni=%d", i.Encap, i.OuterSrc, i.OuterDst, i.VNI)
	if i.GWLBEndpointID != "" {
		d += fmt.Sprintf(" gwlb_endpoint_id=%s gwlb_attachment_id=%s", i.GWLBEndpointID, i.GWLBAttachmentID)
	}
	return d
}

// sessionInfos returns every session, busiest first.
func (r *registry) infos() []SessionInfo {
	ss := r.all()
	out := make([]SessionInfo, len(ss))
	for i, s := range ss {
		out[i] = s.info()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Packets > out[j].Packets })
	return out
}
