package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Source is a software mirror source: it captures an interface with
// AF_PACKET, evaluates the sessions' filters with interface-relative
// direction (PACKET_OUTGOING is egress), cuts to PacketLength and sends
// VXLAN to the target from a raw IPv4 socket, as AWS does for an ENI.
type Source struct {
	cfg    SourceConfig
	rx, tx int
	enc    *Encapsulator
	outer  netip.Addr
	target netip.AddrPort
	dec    *decode.Decoder
	buf    []byte // receive buffer, reused per packet
	out    []byte // send buffer, reused per packet
	c      SourceCounters
}

const rxBufLen = 65536 + 64

// NewSource opens the capture and send sockets. Close it when done.
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Sessions) == 0 {
		return nil, errors.New("mirror source: no session")
	}
	for _, s := range cfg.Sessions {
		if !s.HasVNI {
			return nil, fmt.Errorf("mirror source: session %d has no VNI", s.Number)
		}
	}
	if err := cfg.Sessions.Validate(); err != nil {
		return nil, fmt.Errorf("mirror source: %w", err)
	}
	ifi, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, fmt.Errorf("mirror source: interface %q: %w", cfg.Iface, err)
	}
	outer := cfg.OuterSrc
	if !outer.IsValid() {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("mirror source: addresses of %s: %w", cfg.Iface, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
					outer = ip.Unmap()
					break
				}
			}
		}
		if !outer.IsValid() {
			return nil, fmt.Errorf("mirror source: %s has no IPv4 address for the outer source; give one", cfg.Iface)
		}
	}
	target := cfg.Target
	if target.Port() == 0 {
		target = netip.AddrPortFrom(target.Addr(), VXLANPort)
	}
	lo, hi := cfg.SrcPortLo, cfg.SrcPortHi
	if lo == 0 && hi == 0 {
		lo, hi = DefaultSrcPortLo, DefaultSrcPortHi
	}
	enc, err := NewEncapsulator(outer, target, lo, hi, !cfg.NoUDPChecksum)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, enc: enc, outer: outer, target: target, rx: -1, tx: -1,
		dec: decode.New(decode.Config{NoDecap: true}), buf: make([]byte, rxBufLen), out: make([]byte, rxBufLen+EncapLen)}
	if err := s.open(ifi); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *Source) open(ifi *net.Interface) error {
	rx, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("mirror source: AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	s.rx = rx
	if err := unix.Bind(rx, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("mirror source: bind to %s: %w", ifi.Name, err)
	}
	// Wake up regularly so that cancellation and stats need no second
	// goroutine.
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("mirror source: SO_RCVTIMEO: %w", err)
	}
	_ = unix.SetsockoptInt(rx, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	// IPPROTO_RAW implies IP_HDRINCL: we write the outer IPv4 header, so
	// each packet can have its own UDP source port.
	tx, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("mirror source: raw IPv4 socket (needs CAP_NET_RAW): %w", err)
	}
	s.tx = tx
	sa := &unix.SockaddrInet4{Addr: s.target.Addr().Unmap().As4()}
	if err := unix.Connect(tx, sa); err != nil {
		return fmt.Errorf("mirror source: route to %s: %w", s.target.Addr(), err)
	}
	// Drain what queued between socket and bind (other interfaces).
	for {
		_, _, err := unix.Recvfrom(rx, s.buf, unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
	}
	return nil
}

// Close closes the sockets.
func (s *Source) Close() error {
	var err error
	if s.rx >= 0 {
		err = unix.Close(s.rx)
		s.rx = -1
	}
	if s.tx >= 0 {
		err = errors.Join(err, unix.Close(s.tx))
		s.tx = -1
	}
	return err
}

// Counters returns the counters so far (call from Run's goroutine or
// after Run returned).
func (s *Source) Counters() SourceCounters { return s.c }

// Run mirrors until ctx is done, Count packets were mirrored or Duration
// passed, and returns the final counters. A send failure is counted, not
// fatal.
func (s *Source) Run(ctx context.Context) (SourceCounters, error) {
	start := time.Now()
	nextStats := start.Add(s.cfg.StatsInterval)
	if s.cfg.Ready != nil {
		s.cfg.Ready()
	}
	var from unix.RawSockaddrLinklayer
	var p decode.Packet
	for {
		if ctx.Err() != nil || (s.cfg.Count > 0 && s.c.Mirrored >= s.cfg.Count) ||
			(s.cfg.Duration > 0 && time.Since(start) >= s.cfg.Duration) {
			break
		}
		if s.cfg.StatsInterval > 0 {
			if now := time.Now(); !now.Before(nextStats) {
				nextStats = now.Add(s.cfg.StatsInterval)
				s.stats(false)
			}
		}
		fromLen := uint32(unsafe.Sizeof(from))
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.rx), uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)),
			unix.MSG_TRUNC, uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&fromLen)))
		if errno != 0 {
			if errno == unix.EAGAIN || errno == unix.EINTR {
				continue
			}
			return s.finish(), fmt.Errorf("mirror source: receive on %s: %w", s.cfg.Iface, errno)
		}
		s.handle(s.buf, int(n), from.Pkttype, &p)
	}
	return s.finish(), nil
}

func (s *Source) finish() SourceCounters {
	if st, err := unix.GetsockoptTpacketStats(s.rx, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		s.c.KernelDrops += uint64(st.Drops)
	}
	s.stats(true)
	return s.c
}

func (s *Source) stats(final bool) {
	if s.cfg.OnStats != nil {
		s.cfg.OnStats(s.c, final)
		return
	}
	s.cfg.Logger.Info("mirror source", "final", final, "counters", s.c.String())
}

// handle processes one captured frame: n is its length on the wire
// (may exceed len(buf) when truncated by the buffer). It does not
// allocate.
func (s *Source) handle(buf []byte, n int, pkttype uint8, p *decode.Packet) {
	data := buf
	if n < len(buf) {
		data = buf[:n]
	}
	s.c.Captured++
	if err := s.dec.Decode(data, decode.LinkEthernet, uint32(n), p); err != nil && p.IPVersion == 0 && p.EtherType == 0 {
		s.c.DecodeErrors++
		return
	}
	// Never mirror our own output.
	if p.Proto == protoUDP && p.L4 && p.Dst == s.target.Addr() && p.DstPort == s.target.Port() && p.Src == s.outer {
		s.c.Own++
		return
	}
	dir := Ingress
	if pkttype == unix.PACKET_OUTGOING {
		dir = Egress
	}
	sess, v := s.cfg.Sessions.SelectVerdict(p, dir)
	if sess == nil {
		switch v.Outcome {
		case Rejected:
			s.c.Rejected++
		case Never:
			s.c.Never++
		default:
			s.c.NotMatched++
		}
		return
	}
	frame := data
	if sess.PacketLength > 0 && len(frame) > sess.PacketLength {
		frame = frame[:sess.PacketLength]
		s.c.Truncated++
	}
	pkt, err := s.enc.Build(s.out, frame, sess.VNI, s.enc.SourcePort(p))
	if err != nil {
		s.c.SendFailures++
		return
	}
	if _, err := unix.Write(s.tx, pkt); err != nil {
		s.c.SendFailures++
		return
	}
	s.c.Mirrored++
	s.c.MirroredB += uint64(len(pkt))
}
