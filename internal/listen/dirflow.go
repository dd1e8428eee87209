package listen

import (
	"sync/atomic"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// DirCounts split a session's packets by direction as the mirrored ENI
// sees them. AWS sends a mirror session's VXLAN stream from the source
// ENI's primary address, so an inner packet to that address entered the
// ENI ("in") and one from it left it ("out"); packets of its other
// addresses (secondary IPs, prefixes), or of a stream from another
// address (a GWLB, a software mirror), are neither and are counted in
// Packets and Bytes only.
type DirCounts struct {
	InPackets  uint64 `json:"in_packets"`
	InBytes    uint64 `json:"in_bytes"`
	OutPackets uint64 `json:"out_packets"`
	OutBytes   uint64 `json:"out_bytes"`
}

type dirCounts struct {
	inPackets, inBytes, outPackets, outBytes atomic.Uint64
}

func (d *dirCounts) load() DirCounts {
	return DirCounts{InPackets: d.inPackets.Load(), InBytes: d.inBytes.Load(),
		OutPackets: d.outPackets.Load(), OutBytes: d.outBytes.Load()}
}

// dirPending accumulates one batch's direction counts (pendingCount).
type dirPending struct {
	inPackets, inBytes, outPackets, outBytes uint64
}

func (d *dirPending) count(s *session, p *decode.Packet) {
	src := s.key.src
	if !src.IsValid() {
		return
	}
	switch {
	case p.Dst == src:
		d.inPackets++
		d.inBytes += uint64(p.FrameLen)
	case p.Src == src:
		d.outPackets++
		d.outBytes += uint64(p.FrameLen)
	}
}

func (d *dirPending) flush(c *dirCounts) {
	if d.inPackets > 0 {
		c.inPackets.Add(d.inPackets)
		c.inBytes.Add(d.inBytes)
	}
	if d.outPackets > 0 {
		c.outPackets.Add(d.outPackets)
		c.outBytes.Add(d.outBytes)
	}
	*d = dirPending{}
}
