//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// LiveConfig configures live capture on a network interface with
// AF_PACKET TPACKET_V3 (a memory-mapped ring shared with the kernel).
type LiveConfig struct {
	// Iface is the interface name (required).
	Iface string
	// FanoutGroup, when non-zero, joins the socket to a PACKET_FANOUT_HASH
	// group with that ID: open several LiveSources with the same group to
	// spread packets over them by flow hash (both directions of a flow go
	// to the same socket). 0 means no fanout.
	FanoutGroup uint16
	// BlockSize is the ring block size in bytes (default 1 MiB; a multiple
	// of the page size). A packet must fit in one block, so this also bounds
	// the largest capturable frame (GRO can make frames of 64 KiB).
	BlockSize int
	// NumBlocks is the number of ring blocks (default 64: a 64 MiB ring).
	NumBlocks int
	// BlockTimeout is how long the kernel waits before handing over a
	// partly filled block (default 10 ms): the latency at low rates.
	BlockTimeout time.Duration
	// PollTimeout bounds how long Next blocks before checking whether the
	// context is done (default 100 ms).
	PollTimeout time.Duration
	// Promisc puts the interface in promiscuous mode while capturing.
	Promisc bool
	// NoVLANRestore leaves out the VLAN tags the NIC stripped (by default
	// they are put back into the frame, as tcpdump shows them).
	NoVLANRestore bool
}

// LiveStats are the kernel's counters for the socket, cumulative since
// it was opened.
type LiveStats struct {
	Packets      uint64 // packets the kernel passed to the socket (including dropped)
	Drops        uint64 // packets dropped because the ring was full
	QueueFreezes uint64 // times the ring was full (TPACKET_V3)
}

// LiveSource captures frames from a network interface. It has the same
// Next(*Frame) contract as FileSource; Frame.Data points into the kernel
// ring and is valid until the next call to Next.
//
// Next, Interfaces and Close must be called from one goroutine; Stats may
// be called from any.
type LiveSource struct {
	cfg    LiveConfig
	ctx    context.Context
	log    *slog.Logger
	tp     *afpacket.TPacket
	link   decode.LinkType
	index  uint64
	checks uint32
	closed bool
}

// OpenLive opens a capture socket on cfg.Iface. Next returns io.EOF once
// ctx is done (noticed within PollTimeout, or at once under traffic).
func OpenLive(ctx context.Context, cfg LiveConfig, logger *slog.Logger) (*LiveSource, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Iface == "" {
		return nil, errors.New("capture: live capture needs an interface name")
	}
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = 1 << 20
	}
	if cfg.NumBlocks <= 0 {
		cfg.NumBlocks = 64
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = 10 * time.Millisecond
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 100 * time.Millisecond
	}
	link, err := ifaceLinkType(cfg.Iface)
	if err != nil {
		return nil, err
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(cfg.Iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptBlockSize(cfg.BlockSize),
		// TPACKET_V3 packs variable-size frames into blocks; the frame
		// size only has to divide the block size.
		afpacket.OptFrameSize(4096),
		afpacket.OptNumBlocks(cfg.NumBlocks),
		afpacket.OptBlockTimeout(cfg.BlockTimeout),
		afpacket.OptPollTimeout(cfg.PollTimeout),
		afpacket.OptAddVLANHeader(!cfg.NoVLANRestore),
	)
	if err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", cfg.Iface, err)
	}
	s := &LiveSource{cfg: cfg, ctx: ctx, log: logger, tp: tp, link: link}
	if cfg.FanoutGroup != 0 {
		if err := tp.SetFanout(afpacket.FanoutHash, cfg.FanoutGroup); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture: %s: fanout group %d: %w", cfg.Iface, cfg.FanoutGroup, err)
		}
	}
	if cfg.Promisc {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture: %s: promiscuous mode: %w", cfg.Iface, err)
		}
	}
	logger.Info("capturing", "iface", cfg.Iface, "link", int(link), "ring_bytes", cfg.BlockSize*cfg.NumBlocks,
		"fanout_group", cfg.FanoutGroup)
	return s, nil
}

// ifaceLinkType maps the interface's ARPHRD type (SIOCGIFHWADDR, asked
// in the calling thread's network namespace, unlike /sys) to the link type
// of the frames AF_PACKET SOCK_RAW delivers.
func ifaceLinkType(name string) (decode.LinkType, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("capture: interface %s: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("capture: interface %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("capture: interface %s: %w", name, err)
	}
	switch typ := ifr.Uint16(); typ {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK: // loopback frames carry a zeroed Ethernet header
		return decode.LinkEthernet, nil
	case unix.ARPHRD_NONE, unix.ARPHRD_IPGRE: // tun, wireguard; GRE
		return decode.LinkRaw, nil
	default:
		return 0, fmt.Errorf("capture: interface %s: unsupported ARPHRD type %d", name, typ)
	}
}

// Next fills f with the next frame. It blocks until a frame arrives and
// returns io.EOF once the context given to OpenLive is done.
func (s *LiveSource) Next(f *Frame) error {
	if s.closed {
		return errors.New("capture: live source closed")
	}
	for {
		// Check the context now and then even under steady traffic.
		if s.checks++; s.checks&4095 == 0 && s.ctx.Err() != nil {
			return io.EOF
		}
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				if s.ctx.Err() != nil {
					return io.EOF
				}
				continue
			}
			return fmt.Errorf("capture: %s: read: %w", s.cfg.Iface, err)
		}
		s.index++
		f.Data = data
		f.TS = ci.Timestamp.UnixNano()
		f.CapLen = uint32(len(data))
		f.OrigLen = uint32(ci.Length)
		f.Link = s.link
		f.Iface = 0
		f.Index = s.index
		f.File = 0
		return nil
	}
}

// Interfaces describes the one captured interface (nanosecond timestamps).
func (s *LiveSource) Interfaces() []Interface {
	return []Interface{{Link: s.link, Name: s.cfg.Iface, TSResol: 9, SnapLen: uint32(s.cfg.BlockSize)}}
}

// Stats returns the kernel counters (PACKET_STATISTICS). Safe to call
// from any goroutine while Next runs.
func (s *LiveSource) Stats() (LiveStats, error) {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture: %s: socket stats: %w", s.cfg.Iface, err)
	}
	return LiveStats{
		Packets:      uint64(v3.Packets()),
		Drops:        uint64(v3.Drops()),
		QueueFreezes: uint64(v3.QueueFreezes()),
	}, nil
}

// Close releases the socket and its ring. Call it after Next has returned
// for the last time (the ring is unmapped: no Frame.Data may be used
// after Close).
func (s *LiveSource) Close() error {
	if !s.closed {
		s.closed = true
		s.tp.Close()
	}
	return nil
}

var _ Source = (*LiveSource)(nil)
