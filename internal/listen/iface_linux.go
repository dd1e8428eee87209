//go:build linux

package listen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mirrorscope/mirrorscope/internal/capture"
)

// openIface opens n AF_PACKET (TPACKET_V3) sources on the interface, in a
// PACKET_FANOUT_HASH group when n > 1 (the kernel's flow hash is
// symmetric, so both directions of a connection reach one source).
func openIface(ctx context.Context, cfg *Config) ([]capture.Source, error) {
	lc := capture.LiveConfig{Iface: cfg.Iface, BlockSize: ifaceRingBlock, NumBlocks: max(cfg.RcvBuf/ifaceRingBlock, 8)}
	if cfg.Sockets > 1 {
		lc.FanoutGroup = uint16(os.Getpid()&0xfffe) + 1
	}
	var srcs []capture.Source
	for range cfg.Sockets {
		s, err := capture.OpenLive(ctx, lc, cfg.Logger)
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, fmt.Errorf("%w (needs root or CAP_NET_RAW)", err)
		}
		srcs = append(srcs, s)
	}
	return srcs, nil
}

// runIface is the receiving goroutine of an --iface source. A frame is
// handed to its shard at once: Next blocks until the next frame, so a
// frame kept back for a fuller batch could wait indefinitely. (--iface is
// not the high-rate path; mirror targets receive with the UDP listener.)
func (r *receiver) runIface() error {
	var f capture.Frame
	for {
		err := r.live.Next(&f)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		r.stats.datagrams.Add(1)
		r.stats.bytes.Add(uint64(f.OrigLen))
		r.frame(f.Data, f.Link, int(f.OrigLen), f.TS)
		r.endBatch()
	}
}

func (r *receiver) ifaceDrops() uint64 {
	ls, ok := r.live.(*capture.LiveSource)
	if !ok {
		return 0
	}
	st, err := ls.Stats()
	if err != nil {
		return 0
	}
	return st.Drops
}
