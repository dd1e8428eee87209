package mirror

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// VXLAN encapsulation overhead AWS documents per mirrored packet, for an
// IPv4 and an IPv6 outer header (the source ENI's primary IP decides).
const (
	OverheadIPv4 = 54
	OverheadIPv6 = 74
)

// etherHdr is the inner Ethernet header AWS puts in front of every
// mirrored IP packet, whatever link type the capture has.
const etherHdr = 14

// MirroredFrameLen is the length of the inner frame AWS mirrors for p
// (an Ethernet frame: 14 + the IP total length) before PacketLength
// truncation. Non-IP frames keep their captured frame length.
func MirroredFrameLen(p *decode.Packet) uint32 {
	if p.IPVersion == 0 {
		return p.FrameLen
	}
	return etherHdr + p.IPLen
}

// Counts is a packet and byte count (bytes: MirroredFrameLen).
type Counts struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func (c *Counts) add(n uint32) { c.Packets++; c.Bytes += uint64(n) }

// FlowKey is a directional 5-tuple.
type FlowKey struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

func (k FlowKey) String() string {
	if k.Proto == protoTCP || k.Proto == protoUDP {
		return fmt.Sprintf("%s %s -> %s", ProtoName(k.Proto), netip.AddrPortFrom(k.Src, k.SrcPort), netip.AddrPortFrom(k.Dst, k.DstPort))
	}
	return fmt.Sprintf("%s %s -> %s", ProtoName(k.Proto), k.Src, k.Dst)
}

// FlowCount is one flow's share of a rule.
type FlowCount struct {
	Flow       string  `json:"flow"`
	Key        FlowKey `json:"-"`
	FirstFrame uint64  `json:"first_frame"`
	Counts
}

// RuleCounts is what one rule decided, evaluating its filter alone.
type RuleCounts struct {
	Direction string `json:"direction"`
	Number    int    `json:"rule_number"`
	Action    string `json:"action"`
	Rule      string `json:"rule"`
	ID        string `json:"id,omitempty"`
	Counts
	FlowCount int         `json:"flows"`
	Flows     []FlowCount `json:"top_flows,omitempty"`
}

// SessionReport is one session (or the filter given alone) over the
// capture.
type SessionReport struct {
	Number       int    `json:"session_number"`
	ID           string `json:"session_id,omitempty"`
	FilterID     string `json:"filter_id,omitempty"`
	VNI          uint32 `json:"vni,omitempty"`
	PacketLength int    `json:"packet_length,omitempty"`
	AmazonDNS    bool   `json:"amazon_dns"`
	// Rules: each rule's decisions when the session's filter is
	// evaluated alone (a packet a higher-priority session mirrors is
	// still counted here).
	Rules []RuleCounts `json:"rules"`
	// NoMatch per direction: packets no rule matched (not mirrored).
	NoMatchIngress Counts `json:"no_match_ingress"`
	NoMatchEgress  Counts `json:"no_match_egress"`
	AmazonDNSCount Counts `json:"amazon_dns_mirrored"`
	// Mirrored: packets this session actually mirrors after session
	// priority (each packet once, by the lowest-numbered session).
	MirroredIngress Counts `json:"mirrored_ingress"`
	MirroredEgress  Counts `json:"mirrored_egress"`
	// WireBytes: what the mirror packets cost the source's bandwidth:
	// truncated inner frame + VXLAN overhead.
	WireBytes uint64 `json:"mirror_wire_bytes"`
	Truncated uint64 `json:"truncated_packets"`

	flows []map[FlowKey]*FlowCount // per rule index in Rules
}

// NeverCount is traffic AWS never mirrors, by reason.
type NeverCount struct {
	Reason string `json:"reason"`
	Text   string `json:"text"`
	Counts
}

// TestReport is the result of replaying captures through filters.
type TestReport struct {
	ENIAddrs    []string `json:"eni_addresses"`
	ENIInferred bool     `json:"eni_inferred"`
	Overhead    int      `json:"overhead_bytes_per_packet"`
	Total       Counts   `json:"total"`
	Ingress     Counts   `json:"ingress"`
	Egress      Counts   `json:"egress"`
	// UnknownDirection: IP packets with neither end an ENI address; not
	// the source interface's traffic, so never mirrored from it.
	UnknownDirection Counts          `json:"unknown_direction"`
	Never            []NeverCount    `json:"never_mirrored"`
	DecodeErrors     uint64          `json:"decode_errors"`
	Sessions         []SessionReport `json:"sessions"`
	// NotMirrored: packets of the interface no session mirrors, by the
	// decision of the highest-priority session (no match or reject).
	NotMirroredNoMatch Counts  `json:"not_mirrored_no_match"`
	NotMirroredReject  Counts  `json:"not_mirrored_rejected"`
	Mirrored           Counts  `json:"mirrored"`
	MirrorWireBytes    uint64  `json:"mirror_wire_bytes"`
	DurationSeconds    float64 `json:"duration_seconds"`
	// MirrorRateBps is MirrorWireBytes in bits/s over the capture's
	// duration (0 for captures shorter than 1 ms).
	MirrorRateBps float64 `json:"mirror_rate_bps"`
	// OtherSessions: packets of mirror sessions left out by --vni.
	OtherSessions uint64 `json:"other_sessions_packets,omitempty"`

	never  [NumReasons]Counts
	first  int64
	last   int64
	hasTS  bool
	topN   int
	addrs  Addrs
	decap  bool
	ss     Sessions
	byName map[*Session]int
}

// Decision is what the tester decided for one packet.
type Decision struct {
	Frame    uint64
	DirKnown bool
	Dir      Direction
	Session  *Session // the session that mirrors it, nil if none
	Verdict  Verdict  // that session's verdict, or the first session's
	Len      uint32   // MirroredFrameLen
}

// TestOptions configure a capture replay.
type TestOptions struct {
	// Addrs are the source interface's addresses. Empty: inferred as the
	// address in the most packets (an error when two tie).
	Addrs Addrs
	// Decap: the captures are of a mirror stream (VXLAN/GENEVE), not
	// taken on the source; packets are decapsulated and, without Addrs,
	// the direction comes from the outer source (the source ENI).
	Decap bool
	// TopFlows is how many flows per rule the report lists (default 5;
	// negative lists all).
	TopFlows int
	// VNIs, with Decap, keep only the mirror sessions with these VNIs;
	// packets of others are counted in TestReport.OtherSessions.
	VNIs []uint32
	// OnPacket, when set, sees every decision (for per-packet listings).
	OnPacket func(*decode.Packet, Decision)
	Logger   *slog.Logger
}

// ErrAmbiguousENI is returned when the interface address cannot be
// inferred because the two busiest addresses tie (a capture of a single
// conversation): pass the address explicitly.
var ErrAmbiguousENI = errors.New("cannot infer the source interface address")

// Inference is what a first look at capture files says about where they
// were taken (InferInterface).
type Inference struct {
	Packets   uint64 // frames looked at
	IPPackets uint64 // of those, IP packets that were not mirror traffic
	// Mirrored counts VXLAN/GENEVE mirror packets; VNIs counts them per
	// VNI (at most 16 VNIs are kept).
	Mirrored uint64
	VNIs     map[uint32]uint64
	// Addr is the address in the most IP packets, in AddrPackets of them;
	// Tie is true when the runner-up is in as many (one conversation).
	Addr        netip.Addr
	AddrPackets uint64
	Tie         bool
}

// IsMirror reports whether most packets are mirror traffic.
func (in *Inference) IsMirror() bool { return in.Mirrored*2 > in.Packets }

// VNIList names the VNIs seen, most packets first ("4242 (1,990 packets)").
func (in *Inference) VNIList() string {
	type vc struct {
		vni uint32
		n   uint64
	}
	var l []vc
	for v, n := range in.VNIs {
		l = append(l, vc{v, n})
	}
	slices.SortFunc(l, func(a, b vc) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.vni, b.vni)) })
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = fmt.Sprintf("%d (%d packets)", x.vni, x.n)
	}
	return strings.Join(parts, ", ")
}

// InferInterface reads up to limit frames of the files (all when limit is
// 0) and says whether they are a mirror stream and which address is the
// capture host's: on a host's interface its address is in every packet
// and each peer only in its own flows. Standard input ("-") cannot be
// read twice and is refused.
func InferInterface(paths []string, limit uint64) (Inference, error) {
	var in Inference
	if slices.Contains(paths, "-") {
		return in, fmt.Errorf("%w: standard input can be read only once", ErrAmbiguousENI)
	}
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		return in, err
	}
	defer src.Close()
	dec := decode.New(decode.DefaultConfig())
	var c AddrCounter
	var f capture.Frame
	var p decode.Packet
	for limit == 0 || in.Packets < limit {
		if err := src.Next(&f); err != nil {
			if err == io.EOF {
				break
			}
			return in, err
		}
		in.Packets++
		if dec.Decode(f.Data, f.Link, f.OrigLen, &p) != nil && p.IPVersion == 0 {
			continue
		}
		if p.Encap != decode.EncapNone {
			in.Mirrored++
			if p.Session.HasVNI {
				if in.VNIs == nil {
					in.VNIs = map[uint32]uint64{}
				}
				if _, ok := in.VNIs[p.Session.VNI]; ok || len(in.VNIs) < 16 {
					in.VNIs[p.Session.VNI]++
				}
			}
			continue
		}
		if p.IPVersion != 0 {
			in.IPPackets++
			c.Add(&p)
		}
	}
	top := c.Top(2)
	if len(top) > 0 {
		in.Addr, in.AddrPackets = top[0].Addr, top[0].Packets
		in.Tie = len(top) == 2 && top[1].Packets == top[0].Packets
	}
	return in, nil
}

// ErrMirrorCapture is returned by TestCaptures for a mirror stream read
// without Decap: its packets are the VXLAN/GENEVE datagrams, not the
// source interface's traffic.
var ErrMirrorCapture = errors.New("the capture is a mirror stream")

// ErrNoSuchVNI is returned by TestCaptures when TestOptions.VNIs select
// no packet.
var ErrNoSuchVNI = errors.New("no such mirror session")

// TestCaptures replays capture files taken on the source interface
// through the sessions (use SingleFilter for a filter alone) and reports
// what each rule would mirror.
func TestCaptures(paths []string, ss Sessions, opt TestOptions) (*TestReport, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := decode.DefaultConfig()
	cfg.NoDecap = !opt.Decap
	dec := decode.New(cfg)
	inferred := false
	if len(opt.Addrs) == 0 && !opt.Decap {
		in, err := InferInterface(paths, 0)
		if err != nil {
			return nil, err
		}
		switch {
		case in.IsMirror():
			return nil, fmt.Errorf("%w: %d of %d packets are VXLAN/GENEVE mirror traffic (VNI %s): test it with --decap, and --vni N to pick one session",
				ErrMirrorCapture, in.Mirrored, in.Packets, in.VNIList())
		case !in.Addr.IsValid():
			return nil, fmt.Errorf("%w: no IP packets", ErrAmbiguousENI)
		case in.Tie:
			return nil, fmt.Errorf("%w: the two busiest addresses each appear in %d packets (one conversation, %s the first); pass the interface address",
				ErrAmbiguousENI, in.AddrPackets, in.Addr)
		}
		opt.Addrs = Addrs{in.Addr}
		inferred = true
		opt.Logger.Info("inferred source interface address", "addr", in.Addr, "packets", in.AddrPackets)
	}
	r := NewTestReport(ss, opt.Addrs, opt.Decap, opt.TopFlows)
	r.ENIInferred = inferred
	vnis := map[uint32]uint64{}
	err := eachPacket(paths, dec, func(p *decode.Packet, f *capture.Frame, err error) {
		if err != nil {
			r.DecodeErrors++
			return
		}
		if len(opt.VNIs) > 0 {
			if p.Session.HasVNI && len(vnis) < 16 {
				vnis[p.Session.VNI]++
			}
			if !p.Session.HasVNI || !slices.Contains(opt.VNIs, p.Session.VNI) {
				r.OtherSessions++
				return
			}
		}
		d := r.Add(p, f.TS, f.Index)
		if opt.OnPacket != nil {
			opt.OnPacket(p, d)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(opt.VNIs) > 0 && r.Total.Packets == 0 {
		in := Inference{VNIs: vnis}
		if len(vnis) == 0 {
			return nil, fmt.Errorf("%w: no packet has VNI %v: the capture has no VXLAN/GENEVE mirror sessions", ErrNoSuchVNI, opt.VNIs)
		}
		return nil, fmt.Errorf("%w: no packet has VNI %v; the capture has VNI %s", ErrNoSuchVNI, opt.VNIs, in.VNIList())
	}
	r.Finish()
	return r, nil
}

// SingleFilter wraps a filter as the only session (number 1, whole
// packets).
func SingleFilter(f *Filter) Sessions { return Sessions{{Number: 1, Filter: f, FilterID: f.ID}} }

func eachPacket(paths []string, dec *decode.Decoder, fn func(*decode.Packet, *capture.Frame, error)) error {
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	var f capture.Frame
	var p decode.Packet
	for {
		if err := src.Next(&f); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		err := dec.Decode(f.Data, f.Link, f.OrigLen, &p)
		// A cut TCP/UDP header still leaves the IP fields usable for
		// rules without ports; only packets without IP are errors.
		if err != nil && p.IPVersion == 0 && p.EtherType == 0 {
			fn(&p, &f, err)
			continue
		}
		fn(&p, &f, nil)
	}
}

// NewTestReport starts a report for packets fed with Add.
func NewTestReport(ss Sessions, addrs Addrs, decap bool, topFlows int) *TestReport {
	if topFlows == 0 {
		topFlows = 5
	}
	r := &TestReport{ss: ss, addrs: addrs, decap: decap, topN: topFlows, Overhead: OverheadIPv4, byName: map[*Session]int{}}
	for _, a := range addrs {
		r.ENIAddrs = append(r.ENIAddrs, a.String())
	}
	if len(addrs) > 0 && addrs[0].Is6() && !addrs[0].Is4In6() {
		r.Overhead = OverheadIPv6
	}
	for i, s := range ss {
		sr := SessionReport{Number: s.Number, ID: s.ID, FilterID: s.FilterID, VNI: s.VNI, PacketLength: s.PacketLength, AmazonDNS: s.Filter.AmazonDNS}
		for _, d := range [2]Direction{Ingress, Egress} {
			for _, rule := range s.Filter.Rules(d) {
				sr.Rules = append(sr.Rules, RuleCounts{Direction: d.String(), Number: rule.Number, Action: rule.Action.String(), Rule: rule.String(), ID: rule.ID})
				sr.flows = append(sr.flows, map[FlowKey]*FlowCount{})
			}
		}
		r.Sessions = append(r.Sessions, sr)
		r.byName[s] = i
	}
	return r
}

func (r *TestReport) direction(p *decode.Packet) (Direction, bool) {
	if len(r.addrs) > 0 {
		return r.addrs.Direction(p)
	}
	if r.decap {
		return (&Predicate{}).Direction(p)
	}
	return 0, false
}

// ruleIndex returns the index in SessionReport.Rules of rule.
func ruleIndex(f *Filter, rule *Rule) int {
	off := 0
	if rule.Direction == Egress {
		off = len(f.Ingress)
	}
	for i := range f.Rules(rule.Direction) {
		if &f.Rules(rule.Direction)[i] == rule {
			return off + i
		}
	}
	return -1
}

// Add counts one decoded packet; ts is its time in Unix nanoseconds.
func (r *TestReport) Add(p *decode.Packet, ts int64, frame uint64) Decision {
	if !r.hasTS || ts < r.first {
		r.first = ts
	}
	if !r.hasTS || ts > r.last {
		r.last = ts
	}
	r.hasTS = true
	n := MirroredFrameLen(p)
	r.Total.add(n)
	d := Decision{Frame: frame, Len: n}
	if reason := NeverMirrored(p); reason != ReasonNone {
		r.never[reason].add(n)
		d.Verdict = Verdict{Outcome: Never, Reason: reason}
		return d
	}
	dir, ok := r.direction(p)
	if !ok {
		r.UnknownDirection.add(n)
		return d
	}
	d.Dir, d.DirKnown = dir, true
	if dir == Ingress {
		r.Ingress.add(n)
	} else {
		r.Egress.add(n)
	}
	key := FlowKey{Src: p.Src, Dst: p.Dst, Proto: p.Proto}
	if p.L4 {
		key.SrcPort, key.DstPort = p.SrcPort, p.DstPort
	}
	// Each session's filter alone, for per-rule counts.
	for i, s := range r.ss {
		sr := &r.Sessions[i]
		v := s.Filter.Classify(p, dir)
		switch v.Outcome {
		case Accepted, Rejected:
			ri := ruleIndex(s.Filter, v.Rule)
			rc := &sr.Rules[ri]
			rc.add(n)
			fc := sr.flows[ri][key]
			if fc == nil {
				fc = &FlowCount{Key: key, FirstFrame: frame}
				sr.flows[ri][key] = fc
			}
			fc.add(n)
		case NoMatch:
			if dir == Ingress {
				sr.NoMatchIngress.add(n)
			} else {
				sr.NoMatchEgress.add(n)
			}
		case AmazonDNSService:
			sr.AmazonDNSCount.add(n)
		}
	}
	s, v := r.ss.SelectVerdict(p, dir)
	d.Session, d.Verdict = s, v
	if s == nil {
		switch v.Outcome {
		case Never:
			r.never[v.Reason].add(n)
		case Rejected:
			r.NotMirroredReject.add(n)
		default:
			r.NotMirroredNoMatch.add(n)
		}
		return d
	}
	sr := &r.Sessions[r.byName[s]]
	if dir == Ingress {
		sr.MirroredIngress.add(n)
	} else {
		sr.MirroredEgress.add(n)
	}
	m := n
	if s.PacketLength > 0 && m > uint32(s.PacketLength) {
		m = uint32(s.PacketLength)
		sr.Truncated++
	}
	sr.WireBytes += uint64(m) + uint64(r.Overhead)
	r.Mirrored.add(n)
	r.MirrorWireBytes += uint64(m) + uint64(r.Overhead)
	return d
}

// Finish computes the summary fields; call it after the last Add.
func (r *TestReport) Finish() {
	r.Never = r.Never[:0]
	for reason := Reason(1); reason < NumReasons; reason++ {
		if c := r.never[reason]; c.Packets > 0 {
			r.Never = append(r.Never, NeverCount{Reason: reason.Name(), Text: reason.String(), Counts: c})
		}
	}
	if r.hasTS {
		r.DurationSeconds = float64(r.last-r.first) / 1e9
	}
	if r.DurationSeconds >= 0.001 {
		r.MirrorRateBps = float64(r.MirrorWireBytes) * 8 / r.DurationSeconds
	}
	for i := range r.Sessions {
		sr := &r.Sessions[i]
		for ri := range sr.Rules {
			rc := &sr.Rules[ri]
			rc.FlowCount = len(sr.flows[ri])
			fl := make([]FlowCount, 0, len(sr.flows[ri]))
			for _, fc := range sr.flows[ri] {
				c := *fc
				c.Flow = c.Key.String()
				fl = append(fl, c)
			}
			slices.SortFunc(fl, func(a, b FlowCount) int {
				return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.FirstFrame, b.FirstFrame))
			})
			if r.topN > 0 && len(fl) > r.topN {
				fl = fl[:r.topN]
			}
			rc.Flows = fl
		}
	}
}
