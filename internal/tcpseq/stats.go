package tcpseq

import (
	"net/netip"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

func netipPort(a netip.Addr, p uint16) string { return netip.AddrPortFrom(a, p).String() }

// FlagCounts counts packets per flag, keyed by the Wireshark field suffix
// (result.go names). Only non-zero counts appear in JSON.
type FlagCounts map[string]uint64

// statsState is the fixed-size, allocation-free accumulator behind Stats.
type statsState struct {
	flags           [2][NumFlags]uint64
	unackedOverflow [2]uint64
	restarts        uint64
	tsEvicted       uint64
	hs              handshake
	m               [2]dirMeasure
}

func (s *statsState) init() {
	for i := range s.m {
		s.m[i].init()
	}
}

// account updates the counters and measurements after the analysis of
// one packet sent in direction di.
func (c *Conn) account(p *decode.Packet, di int, ts int64, seglen uint32, r *Result) {
	f := r.Flags
	for f != 0 {
		i := trailingZeros(uint32(f))
		c.st.flags[di][i]++
		f &^= 1 << i
	}
	c.measure(p, di, ts, seglen, r)
	c.last = ts
}

func trailingZeros(x uint32) int {
	n := 0
	for x&1 == 0 {
		x >>= 1
		n++
	}
	return n
}

func countsOf(a *[NumFlags]uint64) FlagCounts {
	m := FlagCounts{}
	for i, v := range a {
		if v != 0 {
			m[flagNames[i]] = v
		}
	}
	return m
}

// Stats is the per-flow summary of the TCP analysis, for the JSON report
// (flows[].tcp). Direction "a" is the endpoint that sent the first packet
// of the flow (A in Stats.A), "b" the other one. Durations are in ms.
type Stats struct {
	// Analysis counts frames per Wireshark expert flag (tcp.analysis.*),
	// both directions. JSON "analysis" since schema 2 ("flags" before:
	// Wireshark's tcp.flags are the header flags).
	Analysis FlagCounts `json:"analysis"`
	Resets   uint64     `json:"resets"`
	Streams  uint64     `json:"streams"` // conversations on these ports (1 + port reuses)
	// Handshake halves at the capture point: SYN->SYN/ACK is the path to
	// the server and back, SYN/ACK->ACK the path to the client and back.
	// InitialRTTMS is Wireshark's tcp.analysis.initial_rtt (their sum when
	// the SYN was not retransmitted).
	Handshake *Handshake `json:"handshake,omitempty"`
	A         DirStats   `json:"a"`
	B         DirStats   `json:"b"`
	// TSEvicted counts timestamp entries dropped from the bounded table
	// before they could be matched.
	TSEvicted uint64 `json:"ts_evicted,omitempty"`
}

// Handshake gives the three-way-handshake timing.
type Handshake struct {
	SynToSynAckMS float64 `json:"syn_synack_ms,omitempty"`
	SynAckToAckMS float64 `json:"synack_ack_ms,omitempty"`
	InitialRTTMS  float64 `json:"initial_rtt_ms,omitempty"`
}

// DirStats describes what one endpoint sent. RTTs are those of its data:
// from its segment to the peer's ACK (or timestamp echo) at the capture
// point.
type DirStats struct {
	Endpoint     string     `json:"endpoint"` // ip:port
	Packets      uint64     `json:"packets"`
	DataSegments uint64     `json:"data_segments"`
	PayloadBytes uint64     `json:"payload_bytes"`
	Analysis     FlagCounts `json:"analysis"` // this direction's frames per expert flag
	Resets       uint64     `json:"resets"`

	MSSOption      uint16 `json:"mss_option,omitempty"`  // MSS option of its SYN
	MaxSegment     uint32 `json:"max_segment,omitempty"` // largest payload sent
	WindowScale    int32  `json:"window_scale"`          // multiplier, -1 unknown, -2 none
	WindowMin      uint32 `json:"window_min_bytes"`      // advertised receive window, scaled
	WindowMax      uint32 `json:"window_max_bytes"`
	ZeroWindows    uint64 `json:"zero_windows"`
	UnackedDropped uint64 `json:"unacked_dropped,omitempty"` // segments not tracked: list full

	// AckRTT: Karn-clean ack_rtt samples (ACKs of retransmitted
	// segments are skipped). TSRTT: pping-style timestamp echo RTT.
	AckRTT *Dist `json:"ack_rtt,omitempty"`
	TSRTT  *Dist `json:"ts_rtt,omitempty"`

	BytesInFlightMax  int64   `json:"bytes_in_flight_max"`
	BytesInFlightMean float64 `json:"bytes_in_flight_mean"`
	// WindowLimitedFrac is the fraction of data segments sent with bytes
	// in flight >= 90% of the peer's advertised window.
	WindowLimitedFrac float64 `json:"window_limited_frac"`

	ECN ECNStats `json:"ecn"`

	// DelayedAck describes this endpoint's ACKs: how many of the peer's
	// segments each ACK acknowledged, and its ACK delay (ACK time minus
	// the time of the newest data it acknowledges, as seen at the capture
	// point), with counts of delays that sit 35-50 ms and 180-230 ms above
	// the smallest one (Linux's 40 ms and 200 ms delayed-ACK timers).
	DelayedAck DelayedAck `json:"delayed_ack"`

	Retrans Retransmissions `json:"retransmissions"`
}

// ECNStats counts ECN marks on what the endpoint sent.
type ECNStats struct {
	ECT bool   `json:"ect"` // ECT(0) or ECT(1) seen
	CE  uint64 `json:"ce"`  // IP ECN == 3
	ECE uint64 `json:"ece"` // TCP ECE flag
	CWR uint64 `json:"cwr"` // TCP CWR flag
}

// DelayedAck is the delayed-ACK signature of an endpoint.
type DelayedAck struct {
	Acks1     uint64 `json:"acks_1_segment"`
	Acks2     uint64 `json:"acks_2_segments"`
	AcksMore  uint64 `json:"acks_more_segments"`
	Delay     *Dist  `json:"delay,omitempty"`
	Near40ms  uint64 `json:"near_40ms"`
	Near200ms uint64 `json:"near_200ms"`
}

// Retransmissions splits the endpoint's retransmitted data segments
// (Wireshark's retransmission flag, which includes fast and spurious).
type Retransmissions struct {
	Segments uint64  `json:"segments"`
	Bytes    uint64  `json:"bytes"`
	Pct      float64 `json:"pct_of_data_segments"`
	// Fast: after >= 2 duplicate ACKs; RTO: after an idle time of at
	// least the RTO estimate (RFC 6298 from the Karn samples, 200 ms
	// floor) without duplicate ACKs; Spurious: data already
	// acknowledged; Other: the rest (SACK recovery, tail loss probes).
	Fast     uint64 `json:"fast"`
	RTO      uint64 `json:"rto"`
	Spurious uint64 `json:"spurious"`
	Other    uint64 `json:"other"`
}

// Stats returns the flow's counters and measurements. It allocates (maps
// and pointers for JSON); call it when reporting, not per packet.
func (c *Conn) Stats() Stats {
	var all [NumFlags]uint64
	for d := 0; d < 2; d++ {
		for i := range all {
			all[i] += c.st.flags[d][i]
		}
	}
	s := Stats{
		Analysis:  countsOf(&all),
		Resets:    all[trailingZeros(uint32(Reset))],
		Streams:   1 + c.st.restarts,
		TSEvicted: c.st.tsEvicted,
	}
	if !c.started {
		s.Streams = 0
	}
	hs := c.st.hs
	if hs.synAck != 0 || c.firstRTT != 0 {
		h := &Handshake{InitialRTTMS: ms(c.firstRTT)}
		if hs.synAck != 0 {
			h.SynToSynAckMS = ms(hs.synAck - hs.syn)
			if hs.ack != 0 {
				h.SynAckToAckMS = ms(hs.ack - hs.synAck)
			}
		}
		s.Handshake = h
	}
	s.A = c.dirStats(0)
	s.B = c.dirStats(1)
	return s
}

func (c *Conn) dirStats(d int) DirStats {
	m := &c.st.m[d]
	ds := DirStats{
		Packets:          m.packets,
		DataSegments:     m.dataSegs,
		PayloadBytes:     m.payloadBytes,
		Analysis:         countsOf(&c.st.flags[d]),
		Resets:           c.st.flags[d][trailingZeros(uint32(Reset))],
		MSSOption:        m.mssOpt,
		MaxSegment:       m.maxSeg,
		WindowMin:        m.winMin,
		WindowMax:        m.winMax,
		ZeroWindows:      c.st.flags[d][trailingZeros(uint32(ZeroWindow))],
		UnackedDropped:   c.st.unackedOverflow[d],
		AckRTT:           m.ackRTT.dist(),
		TSRTT:            m.tsRTT.dist(),
		BytesInFlightMax: m.bifMax,
		ECN:              ECNStats{ECT: m.ect > 0, CE: m.ce, ECE: m.ece, CWR: m.cwr},
		Retrans: Retransmissions{
			Segments: m.retrans, Bytes: m.retransBytes,
			Fast: m.fast, RTO: m.rto, Spurious: m.spurious, Other: m.other,
		},
	}
	if c.started {
		if d == 0 {
			ds.Endpoint = netipPort(c.aAddr, c.aPort)
		} else if c.bSet {
			ds.Endpoint = netipPort(c.bAddr, c.bPort)
		}
	}
	ws := c.d[d].winScale
	if ws >= 0 {
		ds.WindowScale = 1 << uint(ws)
	} else {
		ds.WindowScale = int32(ws)
	}
	if m.bifN > 0 {
		ds.BytesInFlightMean = float64(m.bifSum) / float64(m.bifN)
	}
	if m.dataSegs > 0 {
		ds.WindowLimitedFrac = float64(m.winLimited) / float64(m.dataSegs)
		ds.Retrans.Pct = 100 * float64(m.retrans) / float64(m.dataSegs)
	}
	ds.DelayedAck = DelayedAck{Acks1: m.acksPer[0], Acks2: m.acksPer[1], AcksMore: m.acksPer[2]}
	if h := m.ackDelay; h != nil && h.n > 0 {
		ds.DelayedAck.Delay = h.dist()
		ds.DelayedAck.Near40ms = h.countIn(h.min+35_000_000, h.min+50_000_000)
		ds.DelayedAck.Near200ms = h.countIn(h.min+180_000_000, h.min+230_000_000)
	}
	return ds
}
