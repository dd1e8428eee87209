//go:build linux

package listen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr: a msghdr and the length the kernel received.
// Go pads the struct to its alignment exactly as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// oobSize fits a timespec and a drop counter with their headers.
const oobSize = 64

// socket is one receiving socket (UDP or AF_PACKET) with its recvmmsg
// buffers. Only its receiving goroutine touches the buffers; they are
// reused by every call to recv, so a datagram is valid until the next call.
type socket struct {
	kind   string // "vxlan", "geneve", "iface"
	conn   syscall.Conn
	closer interface{ Close() error }
	rc     syscall.RawConn
	local  netip.AddrPort
	packet bool // AF_PACKET: frames, not datagrams

	hdrs  []mmsghdr
	iovs  []unix.Iovec
	bufs  []byte // len(hdrs) * maxDatagram
	names []unix.RawSockaddrAny
	oob   []byte // len(hdrs) * oobSize

	// Results of the last recv.
	n     int
	errno syscall.Errno
	flags int
	read  func(fd uintptr) bool // the recvmmsg closure, made once (no allocation per call)
	drain func(fd uintptr)

	rcvbuf int // SO_RCVBUF as granted by the kernel

	// tsOK is set once a kernel timestamp was seen.
	tsOK bool
}

func newSocketBuffers(s *socket, batch int) {
	s.hdrs = make([]mmsghdr, batch)
	s.iovs = make([]unix.Iovec, batch)
	s.bufs = make([]byte, batch*maxDatagram)
	s.names = make([]unix.RawSockaddrAny, batch)
	s.oob = make([]byte, batch*oobSize)
	for i := range s.hdrs {
		s.iovs[i].Base = &s.bufs[i*maxDatagram]
		s.iovs[i].SetLen(maxDatagram)
		h := &s.hdrs[i].hdr
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	s.read = func(fd uintptr) bool {
		s.recvmmsg(fd, 0)
		return s.errno != unix.EAGAIN
	}
	s.drain = func(fd uintptr) { s.recvmmsg(fd, unix.MSG_DONTWAIT) }
}

func (s *socket) recvmmsg(fd uintptr, flags int) {
	for i := range s.hdrs {
		h := &s.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		h.Namelen = uint32(unsafe.Sizeof(s.names[i]))
		h.Control = &s.oob[i*oobSize]
		h.SetControllen(oobSize)
		h.Flags = 0
		s.hdrs[i].n = 0
	}
	// MSG_TRUNC: msg_len is the real length even when the buffer was
	// shorter (only possible for AF_PACKET frames above 64 KiB).
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(len(s.hdrs)),
		uintptr(flags|unix.MSG_TRUNC), 0, 0)
	if e != 0 {
		s.n, s.errno = 0, e
		return
	}
	s.n, s.errno = int(n), 0
}

// recv waits for datagrams and reads up to a batch. It returns the number
// read; err is net.ErrClosed-like or os.ErrDeadlineExceeded when the
// socket is being stopped.
func (s *socket) recv() (int, error) {
	for {
		if err := s.rc.Read(s.read); err != nil {
			return 0, err
		}
		switch s.errno {
		case 0:
			return s.n, nil
		case unix.EINTR, unix.EAGAIN:
			continue
		default:
			return 0, fmt.Errorf("recvmmsg: %w", s.errno)
		}
	}
}

// recvNow reads what is queued without waiting (shutdown drain). It
// returns 0 when the socket is empty.
func (s *socket) recvNow() int {
	if err := s.rc.Control(s.drain); err != nil || s.errno != 0 {
		return 0
	}
	return s.n
}

// datagram returns message i of the last recv: its bytes, its length on
// the wire, and the sender.
func (s *socket) datagram(i int) (data []byte, wireLen int, from netip.AddrPort) {
	n := int(s.hdrs[i].n)
	wireLen = n
	if n > maxDatagram {
		n = maxDatagram
	}
	data = s.bufs[i*maxDatagram : i*maxDatagram+n]
	if !s.packet {
		from = sockaddrToAddrPort(&s.names[i])
	}
	return data, wireLen, from
}

// meta parses the control messages of message i: the kernel receive
// time (0 when absent) and the socket's cumulative drop counter.
func (s *socket) meta(i int) (ts int64, drops uint32, hasDrops bool) {
	h := &s.hdrs[i].hdr
	oob := s.oob[i*oobSize : i*oobSize+int(h.Controllen)]
	for len(oob) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(c.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):l]
		if c.Level == unix.SOL_SOCKET {
			switch c.Type {
			case unix.SO_TIMESTAMPNS:
				if len(data) >= int(unsafe.Sizeof(unix.Timespec{})) {
					t := (*unix.Timespec)(unsafe.Pointer(&data[0]))
					ts = t.Nano()
				}
			case unix.SO_RXQ_OVFL:
				if len(data) >= 4 {
					drops, hasDrops = binary.NativeEndian.Uint32(data), true
				}
			}
		}
		sp := unix.CmsgSpace(l - unix.CmsgLen(0))
		if sp > len(oob) {
			break
		}
		oob = oob[sp:]
	}
	return ts, drops, hasDrops
}

func sockaddrToAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), port)
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// stop wakes the receiving goroutine: its pending wait returns
// os.ErrDeadlineExceeded, after which it drains the socket with recvNow.
func (s *socket) stop() {
	if d, ok := s.conn.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = d.SetReadDeadline(time.Unix(1, 0))
	}
}

func (s *socket) close() error { return s.closer.Close() }

// listenUDP opens n SO_REUSEPORT sockets bound to addr (port 0 picks one
// port for all of them) with rcvbuf bytes of receive buffer each,
// kernel timestamps and drop counters on.
func listenUDP(ctx context.Context, kind, addr string, n, rcvbuf, batch int) ([]*socket, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen address %q: want ADDR:PORT: %w", kind, addr, err)
	}
	network := "udp4"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var socks []*socket
	fail := func(err error) ([]*socket, error) {
		for _, s := range socks {
			s.close()
		}
		return nil, err
	}
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(ctx, network, ap.String())
		if err != nil {
			return fail(fmt.Errorf("%s listen on %s: %w", kind, ap, err))
		}
		uc := pc.(*net.UDPConn)
		if i == 0 {
			// With port 0 the first socket picks the port; the others
			// join it.
			ap = uc.LocalAddr().(*net.UDPAddr).AddrPort()
			if ap.Addr().Is4In6() {
				ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
		}
		rc, err := uc.SyscallConn()
		if err != nil {
			uc.Close()
			return fail(err)
		}
		s := &socket{kind: kind, conn: uc, closer: uc, rc: rc, local: ap}
		socks = append(socks, s)
		if err := s.setOptions(rcvbuf); err != nil {
			return fail(fmt.Errorf("%s socket options: %w", kind, err))
		}
		newSocketBuffers(s, batch)
	}
	return socks, nil
}

// setOptions raises the receive buffer (SO_RCVBUFFORCE when privileged,
// so net.core.rmem_max does not cap it) and turns on receive timestamps
// and drop counters.
func (s *socket) setOptions(rcvbuf int) error {
	var serr error
	err := s.rc.Control(func(fd uintptr) {
		f := int(fd)
		if rcvbuf > 0 {
			if e := unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); e != nil {
				_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}
		}
		if v, e := unix.GetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF); e == nil {
			s.rcvbuf = v
		}
		if e := unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); e != nil {
			serr = fmt.Errorf("SO_TIMESTAMPNS: %w", e)
			return
		}
		if !s.packet {
			if e := unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); e != nil {
				serr = fmt.Errorf("SO_RXQ_OVFL: %w", e)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// listenIface opens n AF_PACKET sockets on the interface (a fanout group
// hashing flows symmetrically when n > 1).
func listenIface(name string, n, rcvbuf, batch int) ([]*socket, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	var socks []*socket
	fail := func(err error) ([]*socket, error) {
		for _, s := range socks {
			s.close()
		}
		return nil, err
	}
	proto := int(htons(unix.ETH_P_ALL))
	group := os.Getpid() & 0xffff
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fail(fmt.Errorf("AF_PACKET socket on %s: %w (needs root or CAP_NET_RAW)", name, err))
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fail(fmt.Errorf("bind AF_PACKET to %s: %w", name, err))
		}
		if n > 1 {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, group|unix.PACKET_FANOUT_HASH<<16); err != nil {
				unix.Close(fd)
				return fail(fmt.Errorf("PACKET_FANOUT on %s: %w", name, err))
			}
		}
		f := os.NewFile(uintptr(fd), "packet:"+name)
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return fail(err)
		}
		s := &socket{kind: "iface", conn: f, closer: f, rc: rc, packet: true}
		socks = append(socks, s)
		if err := s.setOptions(rcvbuf); err != nil {
			return fail(fmt.Errorf("%s socket options: %w", name, err))
		}
		newSocketBuffers(s, batch)
	}
	return socks, nil
}

// packetDrops reads and resets the AF_PACKET drop counter.
func (s *socket) packetDrops() uint64 {
	if !s.packet {
		return 0
	}
	var d uint64
	_ = s.rc.Control(func(fd uintptr) {
		st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err == nil {
			d = uint64(st.Drops)
		}
	})
	return d
}

// isStopErr says err is the socket being stopped or closed, not a failure.
func isStopErr(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
