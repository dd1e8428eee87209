//go:build linux

package capture

import (
	"errors"
	"fmt"
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
	// name, namelen: the raw socket's destination (dstSA, or dstSA6 for
	// an IPv6 GRE sender).
	dstSA6  unix.RawSockaddrInet6
	name    *byte
	namelen uint32

	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	// GSO (EnableGSO): a message may carry several datagrams of a
	// queue, one iovec each, with a UDP_SEGMENT cmsg (oob, one per
	// message) giving their size; cnt[k] is message k's datagram count.
	gso   bool
	oob   []byte
	cnt   []int
	ovh   int // IP + UDP header bytes per datagram
	gsoMT int // path MTU of the UDP sockets: a segment must fit in it
	// coalesced counts the GSO sends (messages of several datagrams).
	coalesced uint64
	fn        func(fd uintptr) bool // sendmmsg of hdrs[:n], bound once
	n         int
	done      int
	errn      syscall.Errno
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
	s.cnt = make([]int, SendBatch)
	s.oob = make([]byte, SendBatch*unix.CmsgSpace(2))
	s.ovh = 28
	if to.IP.To4() == nil {
		s.ovh = 48
	}
	for i := range s.hdrs {
		s.hdrs[i].Hdr.Iov = &s.iovs[i]
		s.hdrs[i].Hdr.SetIovlen(1)
	}
	s.initFn()
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
	s.name, s.namelen = (*byte)(unsafe.Pointer(&s.dstSA)), unix.SizeofSockaddrInet4
	q.hdr = 28
	// The kernel does not fragment what a raw socket sends: datagrams
	// larger than the path MTU go out of their UDP socket (which does).
	_ = s.rcs[0].Control(func(fd uintptr) {
		if m, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU); err == nil && m > 0 {
			q.mtu = m
		}
	})
}

// maxGSOSegs and maxGSOBytes keep a GSO send within what every kernel
// with UDP GSO accepts (UDP_MAX_SEGMENTS was 64 before Linux 6.x; an
// IPv4 datagram holds at most 65,507 payload bytes).
const (
	maxGSOSegs  = 64
	maxGSOBytes = 65000
)

// initFn binds s.fn.
func (s *sendSys) initFn() {
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
}

func (s *sendSys) gsoOn() bool { return s.gso }

func (s *sendSys) gsoSends() uint64 { return s.coalesced }

func (s *sendSys) enableGSO(q *Sender) error {
	if len(s.rcs) == 0 {
		return errors.New("capture: sender: no UDP socket")
	}
	var serr error
	err := s.rcs[0].Control(func(fd uintptr) {
		// Setting the per-socket default size to 0 (none) probes for
		// UDP GSO without changing anything: ENOPROTOOPT before 4.18.
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 0)
		s.gsoMT = 1500
		if m, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU); err == nil && m > 0 {
			s.gsoMT = m
		} else if m, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU); err == nil && m > 0 {
			s.gsoMT = m
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("capture: sender: UDP GSO (UDP_SEGMENT) unavailable: %w", err)
	}
	if s.rawFile != nil {
		s.rawFile.Close()
		s.raw, s.rawFile = nil, nil
		q.hdr = 0
	}
	s.gso = true
	return nil
}

// gsoRun returns how many datagrams from x on (before j) one GSO send
// carries: consecutive datagrams of x's source and non-zero group, all
// as long as the first but the last, which may be shorter (the kernel
// cuts a GSO payload into segments of the first's size).
func (s *sendSys) gsoRun(q *Sender, x, j int) int {
	g := q.group[x]
	seg := q.end[x] - q.off[x] - q.hdr
	if !s.gso || g == 0 || seg == 0 || seg+s.ovh > s.gsoMT {
		return 1
	}
	n, total := 1, seg
	for y := x + 1; y < j && n < maxGSOSegs; y++ {
		l := q.end[y] - q.off[y] - q.hdr
		if q.group[y] != g || q.from[y] != q.from[x] || l > seg || l == 0 || total+l > maxGSOBytes {
			break
		}
		n++
		total += l
		if l < seg {
			break
		}
	}
	return n
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
	space := unix.CmsgSpace(2)
	for i < j {
		// One message per datagram, or per GSO run of datagrams.
		k := 0
		for x := i; x < j; k++ {
			n := 1
			if c >= 0 {
				n = s.gsoRun(q, x, j)
			}
			h := &s.hdrs[k].Hdr
			h.Iov = &s.iovs[x-i]
			// Datagrams queued one after the other without a header gap
			// (the UDP path with GSO) are one iovec: the kernel copies
			// one run instead of walking n.
			iv := 0
			for t := x; t < x+n; t++ {
				o, e := q.off[t]+hdr, q.end[t]
				if iv > 0 && hdr == 0 && o == q.end[t-1] {
					v := &s.iovs[x-i+iv-1]
					v.SetLen(int(v.Len) + e - o)
					continue
				}
				s.iovs[x-i+iv].Base = &q.arena[o]
				s.iovs[x-i+iv].SetLen(e - o)
				iv++
			}
			h.SetIovlen(iv)
			if n > 1 {
				b := s.oob[k*space : (k+1)*space]
				cm := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
				cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
				cm.SetLen(unix.CmsgLen(2))
				*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(q.end[x] - q.off[x] - hdr)
				h.Control = &b[0]
				h.SetControllen(space)
			} else {
				h.Control = nil
				h.SetControllen(0)
			}
			if c < 0 {
				h.Name, h.Namelen = s.name, s.namelen
			} else {
				h.Name, h.Namelen = nil, 0
			}
			s.cnt[k] = n
			x += n
		}
		s.n = k
		if werr := rc.Write(s.fn); werr != nil {
			return sent, bytes, skipped, werr
		}
		switch s.errn {
		case 0:
			d := 0
			for k := 0; k < s.done; k++ {
				d += s.cnt[k]
				if s.cnt[k] > 1 {
					s.coalesced++
				}
			}
			for t := i; t < i+d; t++ {
				bytes += uint64(q.end[t] - q.off[t] - q.hdr)
			}
			sent += uint64(d)
			i += d
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
			skipped += uint64(s.cnt[0])
			i += s.cnt[0]
			retried = false
		case unix.EINVAL, unix.EIO:
			if s.cnt[0] > 1 {
				// The path refused the GSO send (a device that cannot
				// segment it): send datagram by datagram from now on.
				s.gso = false
				continue
			}
			return sent, bytes, skipped, os.NewSyscallError("sendmmsg", s.errn)
		default:
			return sent, bytes, skipped, os.NewSyscallError("sendmmsg", s.errn)
		}
	}
	return sent, bytes, skipped, nil
}
