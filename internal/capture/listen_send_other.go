//go:build !linux

package capture

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// sendSys sends one datagram per system call where sendmmsg is missing.
type sendSys struct {
	dst4    [4]byte
	dstPort uint16
}

func (s *sendSys) init(*Sender, *net.UDPAddr, bool) {}
func (s *sendSys) close()                           {}
func (s *sendSys) rawUsed() bool                    { return false }
func (s *sendSys) gsoOn() bool                      { return false }
func (s *sendSys) gsoSends() uint64                 { return 0 }

func (s *sendSys) enableGSO(*Sender) error {
	return errors.New("capture: sender: UDP GSO needs Linux")
}

func (s *sendSys) send(q *Sender) (sent, bytes, skipped uint64, err error) {
	for i := range q.off {
		d := q.arena[q.off[i]:q.end[i]]
		c := q.conns[q.from[i]]
		_, err := c.Write(d)
		if errors.Is(err, syscall.ECONNREFUSED) {
			_, err = c.Write(d)
		}
		if err != nil {
			var ne *net.OpError
			if errors.As(err, &ne) {
				skipped++
				continue
			}
			return sent, bytes, skipped, err
		}
		sent++
		bytes += uint64(len(d))
	}
	return sent, bytes, skipped, nil
}

// NewGRESender fails: raw GRE sending needs Linux.
func NewGRESender(to netip.Addr, sndbuf int) (*Sender, error) {
	return nil, errors.New("capture: GRE sender needs Linux")
}
