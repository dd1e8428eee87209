//go:build !linux

package listen

import (
	"context"
	"errors"

	"github.com/mirrorscope/mirrorscope/internal/capture"
)

// openIface fails: AF_PACKET capture needs Linux.
func openIface(context.Context, *Config) ([]capture.Source, error) {
	return nil, errors.New("listen: --iface needs Linux")
}

func (r *receiver) runIface() error    { return nil }
func (r *receiver) ifaceDrops() uint64 { return 0 }
