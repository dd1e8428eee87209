//go:build !linux

package capture

import (
	"context"
	"errors"
	"log/slog"
	"net"
)

// errListenNotLinux: the listener needs recvmmsg, SO_REUSEPORT steering,
// SO_RXQ_OVFL and IP_PKTINFO.
var errListenNotLinux = errors.New("capture: the UDP listener needs Linux")

// Listener is the UDP tunnel listener; on this system Listen fails.
type Listener struct{ cfg ListenConfig }

// Listen fails: the listener needs Linux.
func Listen(context.Context, ListenConfig, *slog.Logger) (*Listener, error) {
	return nil, errListenNotLinux
}

// Run fails: the listener needs Linux.
func (l *Listener) Run(context.Context, func(int, []Datagram)) error { return errListenNotLinux }

// Steered is false: the listener needs Linux.
func (l *Listener) Steered() bool { return false }

// Stats is empty: the listener needs Linux.
func (l *Listener) Stats() ListenerStats { return ListenerStats{} }

// LocalAddrs is empty: the listener needs Linux.
func (l *Listener) LocalAddrs() []net.Addr { return nil }

// Config returns the configuration.
func (l *Listener) Config() ListenConfig { return l.cfg }

// Close does nothing: the listener needs Linux.
func (l *Listener) Close() error { return nil }
