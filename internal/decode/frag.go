package decode

import "net/netip"

// FragConfig bounds a Reassembler.
type FragConfig struct {
	// MaxDatagrams is how many incomplete datagrams are held at once;
	// when full, the oldest is given up (FragStats.Evicted).
	MaxDatagrams int
	// Timeout (ns of capture time) after a datagram's first fragment
	// when it is given up (FragStats.TimedOut). Linux's ipfrag_time is 30 s.
	Timeout int64
}

// DefaultFragConfig: 1024 datagrams (about 300 KB), 30 s.
func DefaultFragConfig() FragConfig { return FragConfig{MaxDatagrams: 1024, Timeout: 30e9} }

// FragStats counts what a Reassembler did.
type FragStats struct {
	Fragments   uint64 // fragments seen
	Reassembled uint64 // datagrams completed
	TimedOut    uint64 // datagrams given up at the timeout
	Evicted     uint64 // datagrams given up because MaxDatagrams were pending
	Invalid     uint64 // datagrams given up as malformed: overlapping ends, over 64 KiB, too many holes, bad transport header
}

// GivenUp is the number of datagrams given up, for any reason.
func (s FragStats) GivenUp() uint64 { return s.TimedOut + s.Evicted + s.Invalid }

// maxFragRanges bounds the holes tracked per datagram: a datagram arriving
// in more than this many disjoint pieces at once is given up.
const maxFragRanges = 16

type fragKey struct {
	outer    netip.Addr
	vni      uint32
	hasVNI   bool
	gwlb     uint64
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 only: IPv6 fragments are keyed without it
}

type fragEntry struct {
	key       fragKey
	first     int64 // ts of the first fragment seen
	total     int32 // datagram length (fragmentable part), -1 until the last fragment
	nr        int
	r         [maxFragRanges][2]uint32 // received [start, end), sorted, disjoint
	haveFirst bool
	proto     uint8 // transport protocol from the first fragment
	l4Off     uint8
	hdr       [60]byte // the datagram's first bytes
}

// Reassembler puts IPv4 and IPv6 fragments back together far enough to
// decode the transport header of the whole datagram, as Wireshark
// analyses a fragmented TCP segment at its last fragment. It keeps only
// the first 60 bytes of each datagram (the transport header), never the
// payload, and at most MaxDatagrams of them. It is not safe for
// concurrent use. Packets that are not fragments never reach it.
type Reassembler struct {
	cfg   FragConfig
	m     map[fragKey]int32
	ents  []fragEntry
	free  []int32
	stats FragStats
}

// NewReassembler returns a Reassembler bounded by cfg (zero fields take
// DefaultFragConfig's values). Its memory is allocated at the first
// fragment.
func NewReassembler(cfg FragConfig) *Reassembler {
	def := DefaultFragConfig()
	if cfg.MaxDatagrams <= 0 {
		cfg.MaxDatagrams = def.MaxDatagrams
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	return &Reassembler{cfg: cfg}
}

// Stats returns the counters so far.
func (r *Reassembler) Stats() FragStats { return r.stats }

// Pending returns the number of incomplete datagrams held.
func (r *Reassembler) Pending() int { return len(r.m) }

// Add takes one fragment p (p.Fragment) captured at ts. It returns true
// when p completes its datagram: p is then rewritten as the whole
// datagram's packet (Fragment false, Reassembled true, transport fields
// decoded from the first fragment, PayloadLen, IPLen and FrameLen of the
// whole datagram). Otherwise p is left as is and false is returned.
func (r *Reassembler) Add(p *Packet, ts int64) bool {
	if !p.Fragment {
		return false
	}
	r.stats.Fragments++
	if r.m == nil {
		r.m = make(map[fragKey]int32, r.cfg.MaxDatagrams)
		r.ents = make([]fragEntry, r.cfg.MaxDatagrams)
		r.free = make([]int32, 0, r.cfg.MaxDatagrams)
		for i := r.cfg.MaxDatagrams - 1; i >= 0; i-- {
			r.free = append(r.free, int32(i))
		}
	}
	k := fragKey{outer: p.Session.OuterSrc, vni: p.Session.VNI, hasVNI: p.Session.HasVNI,
		gwlb: p.Session.GWLBEndpointID, src: p.Src, dst: p.Dst, id: p.IPID}
	if p.IPVersion == 4 {
		k.proto = p.Proto
	}
	i, ok := r.m[k]
	if !ok {
		if len(r.free) == 0 {
			r.evictOldest()
		}
		i = r.free[len(r.free)-1]
		r.free = r.free[:len(r.free)-1]
		r.m[k] = i
		r.ents[i] = fragEntry{key: k, first: ts, total: -1}
	}
	e := &r.ents[i]
	start := uint32(p.FragOff)
	end := start + uint32(p.FragDataLen)
	if end > 0xffff || (e.total >= 0 && end > uint32(e.total)) {
		r.drop(i, &r.stats.Invalid)
		return false
	}
	if !p.MoreFrags {
		if e.total >= 0 && uint32(e.total) != end {
			r.drop(i, &r.stats.Invalid)
			return false
		}
		for j := 0; j < e.nr; j++ {
			if e.r[j][1] > end {
				r.drop(i, &r.stats.Invalid)
				return false
			}
		}
		e.total = int32(end)
	}
	if p.FragOff == 0 && !e.haveFirst {
		e.haveFirst = true
		e.proto, e.l4Off = p.Proto, p.FragL4Off
	}
	if int(p.FragOff) < len(e.hdr) {
		copy(e.hdr[p.FragOff:], p.FragHdr[:p.FragHdrLen])
	}
	if end > start && !e.addRange(start, end) {
		r.drop(i, &r.stats.Invalid)
		return false
	}
	if !e.haveFirst || e.total < 0 || e.nr != 1 || e.r[0] != [2]uint32{0, uint32(e.total)} {
		return false
	}
	// Whole: decode the transport header of the datagram into p.
	total, l4Off := int(e.total), int(e.l4Off)
	hdr, proto := e.hdr, e.proto
	r.drop(i, nil)
	hl := len(hdr)
	if hl > total {
		hl = total
	}
	grow := uint32(total) - uint32(p.FragDataLen)
	p.IPLen += grow
	p.FrameLen += grow
	p.IPHdrLen += uint16(l4Off)
	p.Proto = proto
	p.Fragment, p.MoreFrags, p.FragOff, p.Reassembled = false, false, 0, true
	p.PayloadLen = 0
	if l4Off > hl {
		r.stats.Invalid++
		return false
	}
	if _, err := decodeL4(hdr[:], 0, l4Off, hl, total, hl < total, p); err != nil {
		r.stats.Invalid++
		return false
	}
	r.stats.Reassembled++
	return true
}

// addRange merges [s, e) into the sorted range list. It returns false when
// the list would exceed maxFragRanges.
func (e *fragEntry) addRange(s, t uint32) bool {
	// Merge every range overlapping or touching [s, t).
	out := 0
	var tmp [maxFragRanges + 1][2]uint32
	placed := false
	for j := 0; j < e.nr; j++ {
		a := e.r[j]
		switch {
		case a[1] < s:
			tmp[out] = a
			out++
		case a[0] > t:
			if !placed {
				tmp[out] = [2]uint32{s, t}
				out++
				placed = true
			}
			tmp[out] = a
			out++
		default:
			if a[0] < s {
				s = a[0]
			}
			if a[1] > t {
				t = a[1]
			}
		}
		if out > maxFragRanges {
			return false
		}
	}
	if !placed {
		tmp[out] = [2]uint32{s, t}
		out++
	}
	if out > maxFragRanges {
		return false
	}
	copy(e.r[:], tmp[:out])
	e.nr = out
	return true
}

func (r *Reassembler) drop(i int32, counter *uint64) {
	delete(r.m, r.ents[i].key)
	r.free = append(r.free, i)
	if counter != nil {
		*counter++
	}
}

func (r *Reassembler) evictOldest() {
	var (
		oldest int32 = -1
		ts     int64
	)
	for _, i := range r.m {
		if oldest < 0 || r.ents[i].first < ts {
			oldest, ts = i, r.ents[i].first
		}
	}
	if oldest >= 0 {
		r.drop(oldest, &r.stats.Evicted)
	}
}

// Expire gives up the datagrams whose first fragment is older than the
// timeout at capture time now.
func (r *Reassembler) Expire(now int64) {
	for _, i := range r.m {
		if now-r.ents[i].first > r.cfg.Timeout {
			r.drop(i, &r.stats.TimedOut)
		}
	}
}
