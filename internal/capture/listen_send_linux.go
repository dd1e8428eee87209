//go:build linux

package capture

import (
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendSys sends a Sender's batches with sendmmsg: through one raw
// IPv4 socket (IPPROTO_RAW: the queue writes the IP and UDP headers, so
// every source port goes out of one socket and a whole batch is one call)
// when the process may open one and the target is IPv4; otherwise through
// each source's connected UDP socket, a run of consecutive datagrams of
// one source per call.
type sendSys struct {
	raw     syscall.RawConn // nil: no raw socket
	rawFile *os.File
	rcs     []syscall.RawConn
	dst4    [4]byte
	dstPort uint16
	dstSA   unix.RawSockaddrInet4

	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	fn   func(fd uintptr) bool // sendmmsg of hdrs[:n], bound once
	n    int
	done int
	errn syscall.Errno
}

func (s *sendSys) init(q *Sender, to *net.UDPAddr, noRaw bool) {
	for _, c := range q.conns {
		rc, err := c.SyscallConn()
		if err != nil {
			continue // cannot happen for a UDPConn
		}
		s.rcs = append(s.rcs, rc)
	}
	s.hdrs = make([]unix.Mmsghdr, SendBatch)
	s.iovs = make([]unix.Iovec, SendBatch)
	for i := range s.hdrs {
		s.hdrs[i].Hdr.Iov = &s.iovs[i]
		s.hdrs[i].Hdr.SetIovlen(1)
	}
	s.fn = func(fd uintptr) bool {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false // wait until writable
		}
		s.done, s.errn = int(n), e
		if e != 0 {
			s.done = 0
		}
		return true
	}
	ip4 := to.IP.To4()
	if noRaw || ip4 == nil {
		return
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return // not privileged: the UDP sockets send
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
	f := os.NewFile(uintptr(fd), "raw")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return
	}
	s.raw, s.rawFile = rc, f
	copy(s.dst4[:], ip4)
	s.dstPort = uint16(to.Port)
	s.dstSA = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: s.dst4}
	p := (*[2]byte)(unsafe.Pointer(&s.dstSA.Port))
	p[0], p[1] = byte(to.Port>>8), byte(to.Port)
	q.hdr = 28
	// The kernel does not fragment what a raw socket sends: datagrams
	// larger than the path MTU go out of their UDP socket (which does).
	_ = s.rcs[0].Control(func(fd uintptr) {
		if m, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU); err == nil && m > 0 {
			q.mtu = m
		}
	})
}

func (s *sendSys) close() {
	if s.rawFile != nil {
		s.rawFile.Close()
	}
}

// rawUsed says batches go through the raw socket.
func (s *sendSys) rawUsed() bool { return s.raw != nil }

// send sends the queue in order, in runs of datagrams that go out of the
// same socket.
func (s *sendSys) send(q *Sender) (sent, bytes, skipped uint64, err error) {
	channel := func(i int) int {
		if s.raw != nil && q.end[i]-q.off[i] <= q.mtu {
			return -1
		}
		return q.from[i]
	}
	for i := 0; i < len(q.off); {
		c := channel(i)
		j := i + 1
		for j < len(q.off) && channel(j) == c {
			j++
		}
		a, b, k, e := s.sendRun(q, c, i, j)
		sent, bytes, skipped = sent+a, bytes+b, skipped+k
		if e != nil {
			return sent, bytes, skipped, e
		}
		i = j
	}
	return sent, bytes, skipped, nil
}

// sendRun sends datagrams i..j-1 of q through channel c (-1 = raw, else
// the UDP socket of source c, without its IP/UDP header).
func (s *sendSys) sendRun(q *Sender, c, i, j int) (sent, bytes, skipped uint64, err error) {
	rc := s.raw
	hdr := 0
	if c >= 0 {
		rc, hdr = s.rcs[c], q.hdr
	}
	retried := false
	for i < j {
		s.n = j - i
		for k := 0; k < s.n; k++ {
			o, e := q.off[i+k]+hdr, q.end[i+k]
			s.iovs[k].Base = &q.arena[o]
			s.iovs[k].SetLen(e - o)
			h := &s.hdrs[k].Hdr
			if c < 0 {
				h.Name = (*byte)(unsafe.Pointer(&s.dstSA))
				h.Namelen = unix.SizeofSockaddrInet4
			} else {
				h.Name, h.Namelen = nil, 0
			}
		}
		if werr := rc.Write(s.fn); werr != nil {
			return sent, bytes, skipped, werr
		}
		switch s.errn {
		case 0:
			for k := 0; k < s.done; k++ {
				bytes += uint64(q.end[i+k] - q.off[i+k] - q.hdr)
			}
			sent += uint64(s.done)
			i += s.done
			retried = false
		case unix.ENOBUFS:
			// The device queue is full; it does not signal writability.
			time.Sleep(50 * time.Microsecond)
		case unix.ECONNREFUSED:
			// The error is the ICMP port unreachable of an earlier
			// datagram (nothing listening then): this one was not sent.
			if !retried {
				retried = true
				continue
			}
			fallthrough
		case unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EMSGSIZE, unix.EPERM, unix.EACCES:
			skipped++
			i++
			retried = false
		default:
			return sent, bytes, skipped, os.NewSyscallError("sendmmsg", s.errn)
		}
	}
	return sent, bytes, skipped, nil
}
