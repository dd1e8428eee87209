package tcpseq

import (
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Constants of the measurements beyond Wireshark (issue 3, item 4).
const (
	tsExpiry       = 10_000_000_000 // pping: timestamp entries expire after 10 s
	tsSlots        = 256            // per direction; TSvals are matched by TSval mod tsSlots
	minRTO         = 200_000_000    // Linux TCP_RTO_MIN: a retransmission after this idle time is a timeout
	windowLimitPct = 90             // sender is window-limited at >= 90% of the peer's window
)

// tsEntry remembers when a TSval was first seen (pping): t < 0 means the
// entry was used (negated, so a later packet with the same TSval cannot
// re-create it).
type tsEntry struct {
	val uint32
	ok  bool
	t   int64
}

// dirMeasure accumulates the per-direction measurements for the packets
// this direction sends (and the RTT of its data, measured from the peer's
// ACKs and timestamp echoes).
type dirMeasure struct {
	packets, payloadBytes, dataSegs uint64
	mssOpt                          uint16
	maxSeg                          uint32

	ackRTT   *hist // Karn-clean ack_rtt of this direction's data
	tsRTT    *hist // pping RTT of this direction's TSvals
	ackDelay *hist // this direction's ACKs: delay after the newest data it acknowledges
	ts       *[tsSlots]tsEntry
	tsSeen   bool // sent a packet with timestamps (pping waits for both sides)

	bifMax     int64
	bifSum     uint64
	bifN       uint64
	winLimited uint64

	winSeen        bool
	winMin, winMax uint32
	lastWin        uint32 // last advertised window (scaled as Result.Window)

	ce, ect, ece, cwr uint64

	acksPer     [3]uint64 // ACKs acknowledging 1, 2, >2 segments
	prevAck     uint32
	hasPrevAck  bool
	lastDataTs  int64 // newest data segment sent: time and end
	lastDataEnd uint32
	hasData     bool

	retrans, retransBytes      uint64
	fast, rto, spurious, other uint64
	srtt, rttvar               int64
	hasSRTT                    bool
}

func (m *dirMeasure) init() { *m = dirMeasure{} }

type handshake struct {
	syn, synAck, ack int64 // capture times; 0 = not seen
}

// measure runs after the Wireshark analysis of a packet sent in direction
// di. Everything here is O(1) per packet except the first use of a
// histogram or timestamp table, which allocates once per flow.
func (c *Conn) measure(p *decode.Packet, di int, ts int64, seglen uint32, r *Result) {
	m, peer := &c.st.m[di], &c.st.m[1-di]
	t := &p.TCP
	m.packets++

	switch flags := t.Flags & (decode.TCPSyn | decode.TCPAck); flags {
	case decode.TCPSyn:
		c.st.hs = handshake{syn: ts}
	case decode.TCPSyn | decode.TCPAck:
		if c.st.hs.syn != 0 && c.st.hs.synAck == 0 {
			c.st.hs.synAck = ts
		}
	case decode.TCPAck:
		if c.st.hs.synAck != 0 && c.st.hs.ack == 0 {
			c.st.hs.ack = ts
		}
	}
	if t.HasMSS && t.Flags&decode.TCPSyn != 0 {
		m.mssOpt = t.MSS
	}

	// ECN.
	switch p.ECN() {
	case 3:
		m.ce++
	case 1, 2:
		m.ect++
	}
	if t.Flags&decode.TCPEce != 0 {
		m.ece++
	}
	if t.Flags&decode.TCPCwr != 0 {
		m.cwr++
	}

	// Advertised receive window (what this direction offers the peer).
	if t.Flags&decode.TCPSyn == 0 {
		w := r.Window
		if !m.winSeen || w < m.winMin {
			m.winMin = w
		}
		if w > m.winMax {
			m.winMax = w
		}
		m.winSeen = true
		m.lastWin = w
	}

	// ACK RTT of the peer's data (Karn: skip retransmitted segments), and
	// this direction's ACK clocking.
	if r.HasAckRTT && !r.ackOfRetrans {
		if peer.ackRTT == nil {
			peer.ackRTT = new(hist)
		}
		peer.ackRTT.add(r.AckRTT)
		peer.rtoSample(r.AckRTT)
	}
	if t.Flags&decode.TCPAck != 0 {
		if m.hasPrevAck && gtSeq(t.Ack, m.prevAck) && seglen == 0 {
			mss := uint32(peer.maxSeg)
			if mss == 0 {
				mss = uint32(peer.mssOpt)
			}
			if mss > 0 {
				acked := t.Ack - m.prevAck
				switch {
				case acked*2 <= mss*3:
					m.acksPer[0]++
				case acked*2 <= mss*5:
					m.acksPer[1]++
				default:
					m.acksPer[2]++
				}
			}
			if peer.hasData && t.Ack == peer.lastDataEnd {
				if m.ackDelay == nil {
					m.ackDelay = new(hist)
				}
				m.ackDelay.add(ts - peer.lastDataTs)
			}
		}
		if !m.hasPrevAck || gtSeq(t.Ack, m.prevAck) {
			m.prevAck, m.hasPrevAck = t.Ack, true
		}
	}

	if seglen > 0 {
		m.dataSegs++
		m.payloadBytes += uint64(seglen)
		if seglen > m.maxSeg {
			m.maxSeg = seglen
		}
		if r.Flags&Retransmission != 0 {
			m.retrans++
			m.retransBytes += uint64(seglen)
			switch {
			case r.Flags&SpuriousRetransmission != 0:
				m.spurious++
			case r.Flags&FastRetransmission != 0 || c.d[1-di].dupacknum >= 2 && c.d[1-di].dupacknum != 0xffffffff:
				m.fast++
			case m.hasData && ts-m.lastDataTs >= m.rtoEstimate():
				m.rto++
			default:
				m.other++
			}
		}
		if r.BytesInFlight > 0 {
			b := r.BytesInFlight
			if b > m.bifMax {
				m.bifMax = b
			}
			m.bifSum += uint64(b)
			m.bifN++
			if peer.winSeen && peer.lastWin > 0 && uint64(b)*100 >= uint64(peer.lastWin)*windowLimitPct {
				m.winLimited++
			}
		}
		end := t.Seq + seglen
		if !m.hasData || gtSeq(end, m.lastDataEnd) {
			m.lastDataEnd = end
		}
		m.lastDataTs, m.hasData = ts, true
	}

	if t.HasTS {
		c.tsRTT(m, peer, di, t, ts)
	}
}

// rtoSample feeds RFC 6298's smoothed RTT with a Karn-clean sample.
func (m *dirMeasure) rtoSample(rtt int64) {
	if rtt < 0 {
		rtt = 0
	}
	if !m.hasSRTT {
		m.srtt, m.rttvar, m.hasSRTT = rtt, rtt/2, true
		return
	}
	d := m.srtt - rtt
	if d < 0 {
		d = -d
	}
	m.rttvar = (3*m.rttvar + d) / 4
	m.srtt = (7*m.srtt + rtt) / 8
}

// rtoEstimate is the sender's retransmission timeout as RFC 6298 (with
// Linux's 200 ms floor) would compute it from the samples seen so far.
func (m *dirMeasure) rtoEstimate() int64 {
	if !m.hasSRTT {
		return minRTO
	}
	if r := m.srtt + 4*m.rttvar; r > minRTO {
		return r
	}
	return minRTO
}

// tsRTT is pping's matching: the first packet carrying a TSval stores its
// time; the first packet of the other direction echoing it gives a sample
// for the direction that sent the TSval.
func (c *Conn) tsRTT(m, peer *dirMeasure, di int, t *decode.TCP, ts int64) {
	m.tsSeen = true
	if t.TSVal == 0 || (t.TSEcr == 0 && t.Flags&decode.TCPSyn == 0) || !peer.tsSeen {
		return
	}
	if m.ts == nil {
		m.ts = new([tsSlots]tsEntry)
	}
	e := &m.ts[t.TSVal%tsSlots]
	if !e.ok || e.val != t.TSVal || abs64(e.t) > 0 && ts-abs64(e.t) > tsExpiry {
		if e.ok && e.val != t.TSVal && e.t > 0 && ts-e.t <= tsExpiry {
			c.st.tsEvicted++
		}
		*e = tsEntry{val: t.TSVal, ok: true, t: ts}
	}
	if peer.ts == nil || t.TSEcr == 0 {
		return
	}
	pe := &peer.ts[t.TSEcr%tsSlots]
	if pe.ok && pe.val == t.TSEcr && pe.t > 0 && ts-pe.t <= tsExpiry {
		if peer.tsRTT == nil {
			peer.tsRTT = new(hist)
		}
		peer.tsRTT.add(ts - pe.t)
		pe.t = -pe.t
	}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
