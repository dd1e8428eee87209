package tcpseq

import "unsafe"

// Memory accounting for callers that keep many Conns under a budget (the
// engine's --memory-limit). Nothing here changes the analysis.

// StreamAt returns a counter whose next stream index is n. The engine
// analyses a flow's first packet on a scratch Conn and, when a second
// packet comes, replays it into the flow's own Conn under the stream index
// the first analysis gave (so a SYN-only flow never holds a Conn).
func StreamAt(n uint32) StreamCounter { return StreamCounter{n: n} }

// SetStreams makes c take the indexes of later conversations on its ports
// (port reuse) from s.
func (c *Conn) SetStreams(s *StreamCounter) { c.cfg.Streams = s }

// MemBytes estimates the heap bytes c holds: the Conn itself, its segment
// lists (by capacity), histograms and timestamp tables allocated so far.
func (c *Conn) MemBytes() int {
	n := int(unsafe.Sizeof(*c))
	for i := range c.d {
		n += cap(c.d[i].segs.buf) * int(unsafe.Sizeof(segment{}))
		m := &c.st.m[i]
		for _, h := range [...]*hist{m.ackRTT, m.tsRTT, m.ackDelay} {
			if h != nil {
				n += int(unsafe.Sizeof(*h))
			}
		}
		if m.ts != nil {
			n += int(unsafe.Sizeof(*m.ts))
		}
	}
	return n
}
