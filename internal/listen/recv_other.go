//go:build !linux

package listen

import (
	"context"
	"errors"
	"net/netip"
)

// The live listener uses Linux interfaces (recvmmsg, SO_REUSEPORT
// steering, SO_RXQ_OVFL, AF_PACKET); elsewhere New fails with this error.
var errNotLinux = errors.New("listen: live capture needs Linux")

type socket struct {
	kind   string
	local  netip.AddrPort
	packet bool
	rcvbuf int
}

func listenUDP(context.Context, string, string, int, int, int) ([]*socket, error) {
	return nil, errNotLinux
}
func listenIface(string, int, int, int) ([]*socket, error) { return nil, errNotLinux }
func attachSteering([]*socket, bool) error                 { return errNotLinux }
func (s *socket) recv() (int, error)                       { return 0, errNotLinux }
func (s *socket) recvNow() int                             { return 0 }
func (s *socket) datagram(int) ([]byte, int, netip.AddrPort) {
	return nil, 0, netip.AddrPort{}
}
func (s *socket) meta(int) (int64, uint32, bool) { return 0, 0, false }
func (s *socket) stop()                          {}
func (s *socket) close() error                   { return nil }
func (s *socket) packetDrops() uint64            { return 0 }
func isStopErr(error) bool                       { return false }
