package mirror

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// SourceConfig configures a software mirror source.
type SourceConfig struct {
	// Iface is the interface to mirror (both directions), as a source
	// ENI is.
	Iface string
	// Target is where the VXLAN packets go (port 0 means 4789).
	Target netip.AddrPort
	// OuterSrc is the outer source address; invalid means the
	// interface's first IPv4 address (AWS: the ENI's primary IP).
	OuterSrc netip.Addr
	// Sessions of the interface; each must have a VNI. A packet is
	// mirrored once, by the lowest-numbered session that accepts it.
	Sessions Sessions
	// SrcPortLo/Hi bound the outer UDP source ports (0: 49152-65535).
	SrcPortLo, SrcPortHi uint16
	// NoUDPChecksum sends outer UDP checksum 0 (allowed for IPv4).
	NoUDPChecksum bool
	// Count stops after this many packets are mirrored (0: no limit).
	Count uint64
	// Duration stops after this long (0: no limit).
	Duration time.Duration
	// StatsInterval logs the counters this often (0: never).
	StatsInterval time.Duration
	// OnStats, when set, receives the counters at every stats interval
	// and at the end, instead of the log.
	OnStats func(SourceCounters, bool)
	// Ready, when set, is called once the sockets are open and capture
	// has started.
	Ready  func()
	Logger *slog.Logger
}

// SourceCounters are a mirror source's counters.
type SourceCounters struct {
	Captured     uint64 `json:"captured"`
	Mirrored     uint64 `json:"mirrored"`
	MirroredB    uint64 `json:"mirrored_bytes"` // outer packet bytes sent
	Rejected     uint64 `json:"rejected"`
	NotMatched   uint64 `json:"not_matched"`
	Never        uint64 `json:"never_mirrored"`
	Truncated    uint64 `json:"truncated"`
	SendFailures uint64 `json:"send_failures"`
	DecodeErrors uint64 `json:"decode_errors"`
	// Own: our own VXLAN output seen on the interface and skipped.
	Own uint64 `json:"own_output_skipped"`
	// KernelDrops: packets the kernel dropped before we read them
	// (PACKET_STATISTICS).
	KernelDrops uint64 `json:"kernel_drops"`
}

func (c SourceCounters) String() string {
	return fmt.Sprintf("captured %d, mirrored %d (%d B), rejected %d, not matched %d, never mirrored %d, truncated %d, send failures %d, decode errors %d, own output skipped %d, kernel drops %d",
		c.Captured, c.Mirrored, c.MirroredB, c.Rejected, c.NotMatched, c.Never, c.Truncated, c.SendFailures, c.DecodeErrors, c.Own, c.KernelDrops)
}
