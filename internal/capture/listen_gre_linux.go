//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// protoGRE is GRE's IP protocol number.
const protoGRE = 47

// listenGRE opens the raw IPPROTO_GRE socket of a Kind GRE listener. A
// raw socket gets its own copy of every GRE packet that reaches the host
// (whatever else handles it: an ip_gre/erspan device, another raw
// socket), so one socket is enough and more would only duplicate; it is
// read with recvmmsg like the UDP sockets.
func listenGRE(ctx context.Context, cfg ListenConfig, logger *slog.Logger) (*Listener, error) {
	cfg.Sockets, cfg.Symmetric, cfg.GRO = 1, false, false
	host := cfg.Addr
	if host == "" {
		host = "0.0.0.0"
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("capture: GRE listen address %q: want an IPv4 or IPv6 address, without port: %w", cfg.Addr, err)
	}
	network := "ip4:47"
	if a.Is6() && !a.Is4In6() {
		network = "ip6:47"
	}
	a = a.Unmap()
	l := &Listener{cfg: cfg, log: logger}
	var optErr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if err := c.Control(func(fd uintptr) { optErr = setRawSockopts(int(fd), cfg.RcvBuf, a.Is6()) }); err != nil {
			return err
		}
		return optErr
	}}
	pc, err := lc.ListenPacket(ctx, network, a.String())
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("capture: GRE listen %s: a raw socket for IP protocol 47 needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep on the binary): %w", a, err)
		}
		return nil, fmt.Errorf("capture: GRE listen %s: %w", a, err)
	}
	conn := pc.(*net.IPConn)
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("capture: GRE listen %s: %w", a, err)
	}
	s := &udpSock{conn: conn, raw: raw, maxDg: cfg.MaxDatagram, ipv4Hdr: !a.Is6()}
	l.initSock(s)
	l.socks = []*udpSock{s}
	l.log.Info("listening", "kind", cfg.Kind.String(), "addr", a.String(), "rcvbuf", s.rcvbuf, "batch", cfg.Batch)
	if s.rcvbuf < cfg.RcvBuf {
		l.log.Warn("socket receive buffer smaller than requested; raise net.core.rmem_max or run as root",
			"requested", cfg.RcvBuf, "granted", s.rcvbuf)
	}
	return l, nil
}

// setRawSockopts is setSockopts for the raw GRE socket: no SO_REUSEPORT
// (raw sockets do not share out packets), the outer destination from the
// IPv4 header or IPV6_PKTINFO.
func setRawSockopts(fd, rcvbuf int, v6 bool) error {
	if err := setRecvOpts(fd, rcvbuf); err != nil {
		return err
	}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return fmt.Errorf("IPV6_RECVPKTINFO: %w", err)
		}
	}
	return nil
}

// stripIPv4 removes the IPv4 header a raw IPv4 socket returns in front of
// the payload, taking the outer destination from it. The kernel hands
// over only well-formed (and reassembled) packets; anything else leaves
// an empty payload, which the decoder counts as short.
func stripIPv4(d *Datagram) {
	b := d.Data
	if len(b) < 20 || b[0]>>4 != 4 {
		d.Data, d.Len = b[:0], 0
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		d.Data, d.Len = b[:0], 0
		return
	}
	d.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	d.Data = b[ihl:]
	d.Len -= ihl
}

// NewGRESender returns a Sender of GRE packets to to: each queued
// "datagram" is a GRE header and what it carries, sent through a raw
// IPPROTO_GRE socket (CAP_NET_RAW) whose kernel writes the outer IPv4 or
// IPv6 header, one sendmmsg per batch. The source index given to Commit
// is ignored (there is one socket; the outer source is the host's
// address). What mirrorscope replay --encap erspan2|erspan3|gre sends.
func NewGRESender(to netip.Addr, sndbuf int) (*Sender, error) {
	to = to.Unmap()
	q := &Sender{
		arena: make([]byte, 0, arenaSize),
		off:   make([]int, 0, SendBatch),
		end:   make([]int, 0, SendBatch),
		from:  make([]int, 0, SendBatch),
		group: make([]uint32, 0, SendBatch),
		mtu:   1 << 30, // the kernel fragments (or refuses with EMSGSIZE) what a non-HDRINCL raw socket sends
	}
	family := unix.AF_INET
	if to.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protoGRE)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture: GRE sender: a raw socket for IP protocol 47 needs CAP_NET_RAW (run as root): %w", err)
		}
		return nil, fmt.Errorf("capture: GRE sender: %w", err)
	}
	if sndbuf > 0 && unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
	}
	f := os.NewFile(uintptr(fd), "gre")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: GRE sender: %w", err)
	}
	s := &q.sys
	s.raw, s.rawFile = rc, f
	s.hdrs = make([]unix.Mmsghdr, SendBatch)
	s.iovs = make([]unix.Iovec, SendBatch)
	s.cnt = make([]int, SendBatch)
	s.initFn()
	if to.Is4() {
		s.dstSA = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.As4()}
		s.name, s.namelen = (*byte)(unsafe.Pointer(&s.dstSA)), unix.SizeofSockaddrInet4
	} else {
		s.dstSA6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: to.As16()}
		s.name, s.namelen = (*byte)(unsafe.Pointer(&s.dstSA6)), unix.SizeofSockaddrInet6
	}
	return q, nil
}
