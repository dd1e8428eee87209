package tcpseq

import (
	"net/netip"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// MaxUnacked is how many unacknowledged segments one direction remembers,
// Wireshark's TCP_MAX_UNACKED_SEGMENTS. Like Wireshark, a segment arriving
// when the list is full is not remembered (it is counted in
// DirStats.UnackedOverflow); keeping the same bound keeps the verdicts
// identical and bounds memory at about 240 KB per direction.
const MaxUnacked = 10000

// Wireshark 4.0 constants (packet-tcp.c, tcp_analyze_sequence_number).
const (
	fastRetransWindow = 20_000_000 // ns: fast retransmission within 20 ms of the dup ACK
	oooDefaultThresh  = 3_000_000  // ns: out-of-order threshold when no iRTT is known
	bifLimit          = 2_000_000_000
)

// StreamCounter numbers TCP conversations the way tcp.stream does: one
// counter shared by all Conns of a capture, incremented when a
// conversation starts (first packet, or a SYN reusing the ports). It is
// not safe for concurrent use; the engine that owns the Conns owns it.
type StreamCounter struct{ n uint32 }

// Next returns the next stream index.
func (s *StreamCounter) Next() uint32 { v := s.n; s.n++; return v }

// Config tunes a Conn. The zero value is Wireshark 4.0's defaults.
type Config struct {
	// Streams, when set, assigns Result.Stream across conversations as
	// tshark's tcp.stream does. When nil, Stream counts the
	// conversations seen by this Conn only (0, then 1 after a port reuse).
	Streams *StreamCounter
	// ReusedPorts says the conversation reuses the ports of an earlier
	// one the caller has ended (a flow table that starts a new flow at a
	// SYN with a new ISN): its first packet is flagged ReusedPorts, as
	// tshark flags the SYN when it sees both in one conversation.
	ReusedPorts bool
}

// Conn is the analysis state of one TCP conversation, both directions.
// It is not safe for concurrent use. Memory per Conn is bounded: two
// segment lists of at most MaxUnacked entries, fixed-size statistics.
type Conn struct {
	cfg Config

	started bool
	aAddr   netip.Addr // endpoint that sent the first packet: direction 0
	aPort   uint16
	bAddr   netip.Addr // the other endpoint, once it has been seen
	bPort   uint16
	bSet    bool

	stream   uint32
	localGen uint32

	// Conversation-wide state (Wireshark's struct tcp_analysis).
	mruSyn   int64 // ts of the most recent SYN without ACK; 0 = none
	firstRTT int64 // iRTT; 0 = unknown (Wireshark tests nstime_is_zero)

	d [2]dir

	st   statsState
	last int64 // ts of the last packet
}

// dir is one direction's state (Wireshark's tcp_flow_t plus
// tcp_analyze_seq_flow_info_t), "fwd" when it sends the current packet.
type dir struct {
	baseSet    bool
	baseSeq    uint32
	window     uint32 // last raw window; starts at 0xffffffff
	winScale   int16  // -1 unknown, -2 not used, else the shift
	isFirstAck bool
	validBIF   bool

	lastack      uint32
	lastackTime  int64
	dupacknum    uint32 // uint32 as in Wireshark: "-1" is 0xffffffff
	nextseq      uint32
	nextseqTime  int64
	maxseqtobeck uint32
	lostSince    bool // a lost_segment since the peer last flagged ack_lost_segment
	lastFlags    Flag

	numSack int // SACK blocks of this direction's last packet (max 3, as stored by 4.0)
	sackL   [3]uint32
	sackR   [3]uint32

	segs segList
}

// NewConn returns the state for a new conversation.
func NewConn(cfg Config) *Conn {
	c := &Conn{}
	c.Reset(cfg)
	return c
}

// Reset makes c a fresh conversation, keeping the memory of its segment
// lists. A zero Conn must be Reset before use.
func (c *Conn) Reset(cfg Config) {
	s0, s1 := c.d[0].segs.buf[:0], c.d[1].segs.buf[:0]
	*c = Conn{cfg: cfg}
	c.d[0].segs.buf, c.d[1].segs.buf = s0, s1
	c.d[0].init()
	c.d[1].init()
	c.st.init()
}

func (d *dir) init() {
	buf := d.segs.buf[:0]
	*d = dir{window: 0xffffffff, winScale: -1, validBIF: true}
	d.segs.buf = buf
}

// restart begins a new Wireshark conversation on the same ports (a SYN
// with a new ISN). Statistics keep accumulating over both.
func (c *Conn) restart() {
	c.mruSyn, c.firstRTT = 0, 0
	c.d[0].init()
	c.d[1].init()
	c.newStream()
	c.st.restarts++
}

func (c *Conn) newStream() {
	if c.cfg.Streams != nil {
		c.stream = c.cfg.Streams.Next()
	} else {
		c.stream = c.localGen
		c.localGen++
	}
}

// Sequence comparisons as Wireshark's GT_SEQ & co: signed difference.
func gtSeq(x, y uint32) bool { return int32(y-x) < 0 }
func ltSeq(x, y uint32) bool { return int32(x-y) < 0 }
func leSeq(x, y uint32) bool { return int32(x-y) <= 0 }

// Analyze runs Wireshark 4.0's TCP sequence analysis on one packet of this
// conversation, in capture order, with ts its capture time in ns (used as
// given, even when it steps backwards). p must carry a TCP header
// (p.HasTCP()); p is only read during the call. r is overwritten.
func (c *Conn) Analyze(p *decode.Packet, ts int64, r *Result) {
	*r = Result{BytesInFlight: -1}
	t := &p.TCP
	flags := t.Flags

	var fl Flag
	if !c.started {
		c.started = true
		c.aAddr, c.aPort = p.Src, p.SrcPort
		c.newStream()
		if c.cfg.ReusedPorts {
			fl |= ReusedPorts
		}
	}
	di := 1
	if p.SrcPort == c.aPort && p.Src == c.aAddr {
		di = 0
	} else if !c.bSet {
		c.bAddr, c.bPort, c.bSet = p.Src, p.SrcPort, true
	}
	fwd, rev := &c.d[di], &c.d[1-di]

	// Port reuse (dissect_tcp, before the analysis).
	if flags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn && fwd.baseSet {
		if t.Seq != fwd.baseSeq {
			c.restart()
			fl |= ReusedPorts
		} else {
			// Retransmitted SYN: restore nextseq (a RST may have moved
			// it); tshark 4.0.17 flags it as a retransmission only.
			fwd.nextseq = fwd.maxseqtobeck
		}
	}
	if flags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn|decode.TCPAck && fwd.baseSet && t.Seq != fwd.baseSeq {
		fwd.baseSeq = t.Seq
		fl |= ReusedPorts
	}
	fwd.numSack = 0

	analyzed := !p.Fragment
	var seglen uint32
	if analyzed {
		seglen = p.PayloadLen
		fl = c.analyzeSeq(fwd, rev, t, seglen, ts, fl, r)
	}

	// Scaled window as tcp.window_size (SYNs are never scaled).
	r.Window = uint32(t.Window)
	if flags&decode.TCPSyn == 0 && fwd.winScale >= 0 {
		r.Window <<= uint(fwd.winScale)
	}
	switch {
	case fwd.winScale >= 0:
		r.WindowScale = 1 << uint(fwd.winScale)
	default:
		r.WindowScale = int32(fwd.winScale)
	}

	if flags&decode.TCPSyn != 0 {
		if flags&decode.TCPAck == 0 {
			c.mruSyn = ts
		}
		fwd.isFirstAck = true
	}
	if flags&(decode.TCPSyn|decode.TCPAck) == decode.TCPAck {
		if c.mruSyn != 0 && c.firstRTT == 0 {
			c.firstRTT = ts - c.mruSyn
		}
		fwd.isFirstAck = false
	}
	// Options are dissected after the analysis in 4.0.
	if t.NSACK > 0 {
		n := int(t.NSACK)
		if n > 3 {
			n = 3
		}
		fwd.numSack = n
		for i := 0; i < n; i++ {
			fwd.sackL[i], fwd.sackR[i] = t.SACK[i].Left, t.SACK[i].Right
		}
	}
	if t.HasWScale {
		ws := int16(t.WScale)
		if ws > 14 {
			ws = 14
		}
		fwd.winScale = ws
	}
	if flags&decode.TCPSyn != 0 {
		// verify_tcp_window_scaling
		if fwd.winScale == -1 {
			fwd.winScale, rev.winScale = -2, -2
		} else if flags&decode.TCPAck != 0 && rev.winScale == -2 {
			fwd.winScale = -2
		}
	}

	if flags&decode.TCPRst != 0 {
		fl |= Reset
	}
	r.Flags = fl
	r.InitialRTT = c.firstRTT
	r.Stream = c.stream
	if fwd.baseSet {
		r.RelSeq = t.Seq - fwd.baseSeq
	}
	c.account(p, di, ts, seglen, r)
}

// analyzeSeq is tcp_analyze_sequence_number of Wireshark 4.0.
func (c *Conn) analyzeSeq(fwd, rev *dir, t *decode.TCP, seglen uint32, ts int64, fl Flag, r *Result) Flag {
	seq, ack, flags := t.Seq, t.Ack, t.Flags
	window := uint32(t.Window)
	const sfr = decode.TCPSyn | decode.TCPFin | decode.TCPRst
	synfin := flags&(decode.TCPSyn|decode.TCPFin) != 0

	if !fwd.baseSet {
		if flags&decode.TCPSyn != 0 {
			fwd.baseSeq = seq
		} else {
			fwd.baseSeq = seq - 1
		}
		fwd.baseSet = true
	}
	if !rev.baseSet && flags&decode.TCPAck != 0 {
		rev.baseSeq = ack - 1
		rev.baseSet = true
	}
	if flags&decode.TCPAck != 0 {
		rev.validBIF = true
	}

	sameAck := seq == fwd.nextseq && ack == fwd.lastack && flags&sfr == 0 && seglen == 0

	if seglen == 1 && seq == fwd.nextseq && rev.window == 0 {
		fl |= ZeroWindowProbe
		goto finishedFwd
	}
	if window == 0 && flags&sfr == 0 {
		fl |= ZeroWindow
	}
	if fwd.nextseq != 0 && gtSeq(seq, fwd.nextseq) && flags&decode.TCPRst == 0 {
		fl |= LostSegment
		fwd.validBIF = false
		fwd.lostSince = true
	}
	if (seglen == 0 || seglen == 1) && seq == fwd.nextseq-1 && flags&sfr == 0 {
		fl |= KeepAlive
	}
	if sameAck && window != 0 && window != fwd.window {
		fl |= WindowUpdate
	}
	if seglen > 0 && rev.winScale != -1 && flags&sfr == 0 {
		var shift uint
		if !rev.isFirstAck && rev.winScale >= 0 {
			shift = uint(rev.winScale)
		}
		if seq+seglen == rev.lastack+(rev.window<<shift) {
			fl |= WindowFull
		}
	}
	if sameAck && window != 0 && window == fwd.window && rev.lastFlags&KeepAlive != 0 {
		fl |= KeepAliveAck
		goto finishedFwd
	}
	if sameAck && window == 0 && window == fwd.window && rev.lastFlags&ZeroWindowProbe != 0 {
		fl |= ZeroWindowProbeAck
		goto finishedFwd
	}
	if sameAck && window != 0 && window == fwd.window {
		if fwd.dupacknum == 0xffffffff {
			fwd.dupacknum = 1
		} else {
			fwd.dupacknum++
		}
		fl |= DuplicateAck
		r.DupAckNum = fwd.dupacknum
	}

finishedFwd:
	if ack != fwd.lastack {
		fwd.dupacknum = 0
	}
	if rev.maxseqtobeck != 0 && gtSeq(ack, rev.maxseqtobeck) && flags&decode.TCPAck != 0 {
		if rev.maxseqtobeck > rev.nextseq { // plain unsigned compare, as in 4.0
			fl |= AckLostSegment
		} else {
			if rev.dupacknum == 0 || rev.lostSince {
				fl |= AckLostSegment
			}
			rev.dupacknum = 0xffffffff
		}
		rev.lostSince = false
		rev.maxseqtobeck = rev.nextseq
	}

	if seglen > 0 || synfin {
		notAdvanced := fwd.nextseq != 0 && ltSeq(seq, fwd.nextseq)
		if fl&KeepAlive != 0 {
			goto finishedRetrans
		}
		if seglen > 1 && fwd.nextseq-1 == seq {
			notAdvanced = false
		}
		if seglen > 0 && rev.lastack != 0 && leSeq(seq+seglen, rev.lastack) {
			fl |= SpuriousRetransmission | Retransmission
			goto finishedRetrans
		}
		if notAdvanced && rev.dupacknum >= 2 && rev.lastack == seq && uint64(ts-rev.lastackTime) < fastRetransWindow {
			fl |= FastRetransmission | Retransmission
			goto finishedRetrans
		}
		var end uint32 = seq + seglen
		if synfin {
			end++
		}
		thres := uint64(oooDefaultThresh)
		if c.firstRTT != 0 {
			thres = uint64(c.firstRTT)
		}
		if notAdvanced && uint64(ts-fwd.nextseqTime) < thres && fwd.nextseq != end {
			fl |= OutOfOrder
			goto finishedRetrans
		}
		if notAdvanced {
			fl |= Retransmission
			r.RTO = ts - fwd.nextseqTime
			if fwd.segs.n() > 0 {
				r.RTO = ts - fwd.segs.oldest().ts
			}
		}
	}

finishedRetrans:
	nextseq := seq + seglen
	if seglen > 0 || synfin {
		if synfin {
			// Wireshark adds the SYN/FIN byte only when it stores the segment.
			if fwd.segs.n() < MaxUnacked {
				nextseq++
			}
		}
		if fwd.segs.n() < MaxUnacked {
			fwd.segs.push(segment{seq: seq, next: nextseq, ts: ts, retrans: fl&(Retransmission|OutOfOrder) != 0})
		} else {
			c.st.unackedOverflow[c.dirIndex(fwd)]++
		}
	}
	if (gtSeq(nextseq, fwd.nextseq) || fwd.nextseq == 0) && fl&ZeroWindowProbe == 0 {
		fwd.nextseq = nextseq
		fwd.nextseqTime = ts
	}
	if (seq == fwd.maxseqtobeck || fwd.maxseqtobeck == 0) && fl&ZeroWindowProbe == 0 {
		fwd.maxseqtobeck = fwd.nextseq
	}
	fwd.window = window
	fwd.lastack = ack
	fwd.lastackTime = ts
	fwd.lastFlags = fl

	// Remove what this packet acknowledges from the reverse list.
	if rev.segs.n() > 0 {
		if acked, rtt, retr := rev.segs.ack(ack, ts); acked {
			r.HasAckRTT = true
			r.AckRTT = rtt
			r.ackOfRetrans = retr
		}
	}

	if seglen != 0 && fwd.segs.n() > 0 && fwd.validBIF {
		inFlight := fwd.segs.span(fwd.baseSeq)
		for i := 0; i < rev.numSack; i++ {
			inFlight -= rev.sackR[i] - rev.sackL[i]
		}
		if inFlight > 0 && inFlight < bifLimit {
			b := int64(inFlight)
			if synfin {
				b--
			}
			if b != 0 {
				r.BytesInFlight = b
			}
		}
	}
	return fl
}

func (c *Conn) dirIndex(d *dir) int {
	if d == &c.d[0] {
		return 0
	}
	return 1
}
