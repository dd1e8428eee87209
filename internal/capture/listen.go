package capture

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Kind is the tunnel a listener receives.
type Kind uint8

const (
	// VXLAN: AWS Traffic Mirroring sessions, UDP 4789.
	VXLAN Kind = iota + 1
	// GENEVE: traffic behind a Gateway Load Balancer, UDP 6081 (usually
	// GENEVE around VXLAN).
	GENEVE
	// GRE: GRE over IP (IP protocol 47), as switches (ERSPAN II/III),
	// other clouds and Linux erspan/gretap devices send mirror traffic.
	// Received on a raw socket (CAP_NET_RAW); Datagram.Data is the GRE
	// header onwards, without the outer IP header.
	GRE
	// GREUDP: GRE over UDP (RFC 8086), UDP 4754.
	GREUDP
)

func (k Kind) String() string {
	switch k {
	case VXLAN:
		return "vxlan"
	case GENEVE:
		return "geneve"
	case GRE:
		return "gre"
	case GREUDP:
		return "gre-udp"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// DefaultPort is the IANA/AWS port of the tunnel (0 for GRE over IP,
// which has no port).
func (k Kind) DefaultPort() uint16 {
	switch k {
	case GENEVE:
		return 6081
	case GRE:
		return 0
	case GREUDP:
		return 4754
	}
	return 4789
}

// ParseKind parses "vxlan", "geneve", "gre" or "gre-udp".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "vxlan", "VXLAN":
		return VXLAN, nil
	case "geneve", "GENEVE":
		return GENEVE, nil
	case "gre", "GRE":
		return GRE, nil
	case "gre-udp", "GRE-UDP":
		return GREUDP, nil
	}
	return 0, fmt.Errorf("capture: unknown tunnel kind %q (want vxlan, geneve, gre or gre-udp)", s)
}

// ListenConfig configures a UDP tunnel listener (or, with Kind GRE, a
// raw GRE one). Zero fields take the defaults.
type ListenConfig struct {
	// Addr is the local address, "host:port". Empty means all addresses
	// on Kind's default port; a missing port (e.g. "10.0.0.5") means the
	// default port too. Port 0 picks a free port (tests). For Kind GRE
	// it is an address without port: empty means 0.0.0.0, and an IPv6
	// address ("::") opens an IPv6 raw socket (which receives GRE over
	// IPv6 only).
	Addr string
	// Kind is VXLAN (default), GENEVE, GREUDP or GRE. It picks the
	// default port and, with Symmetric, where the steering program finds
	// the inner packet; otherwise the listener hands over UDP payloads
	// whatever they contain. GRE opens one raw IPPROTO_GRE socket instead
	// (Sockets and Symmetric do not apply: every raw socket of a
	// protocol gets a copy of every packet, so one socket reads them
	// all, in arrival order). GREUDP has no steering program: use one
	// socket, or accept that a connection's directions may be read by
	// different sockets.
	Kind Kind
	// Sockets is the number of SO_REUSEPORT sockets sharing the port, each
	// read by its own goroutine; the kernel spreads datagrams over them by
	// a hash of the outer 4-tuple (AWS varies the outer source port per
	// inner flow, so flows spread and each stays on one socket). Default
	// runtime.NumCPU().
	Sockets int
	// Symmetric steers both directions of a connection to the same socket
	// (so one goroutine reads them, in arrival order) with a classic BPF
	// program (SO_ATTACH_REUSEPORT_CBPF) that hashes the inner addresses
	// and ports direction-independently: AWS derives the outer source port
	// from the inner flow per direction, so the kernel's own 4-tuple hash
	// would split a connection's directions over sockets. For Kind VXLAN
	// the datagrams are VXLAN carrying Ethernet; for GENEVE, GENEVE
	// carrying IPv4/UDP/VXLAN (as a Gateway Load Balancer delivers mirror
	// traffic). If the kernel refuses the program, a warning is logged and
	// the kernel's hash is used (Listener.Steered reports which).
	Symmetric bool
	// RcvBuf is the socket receive buffer in bytes (default 32 MiB).
	// SO_RCVBUFFORCE is tried first (root, CAP_NET_ADMIN), then SO_RCVBUF,
	// which the kernel caps at net.core.rmem_max.
	RcvBuf int
	// Batch is the number of datagrams one recvmmsg call can return
	// (default 64).
	Batch int
	// MaxDatagram is the largest UDP payload kept per datagram (default
	// 65535). Longer ones are cut and flagged Truncated. Mirror packets
	// from a 9001-byte-MTU source arrive as 9001+50-byte UDP payloads.
	MaxDatagram int
	// GRO turns on UDP generic receive offload (UDP_GRO, Linux 5.0): the
	// kernel may hand over several datagrams of one sender (same 4-tuple)
	// as one, which the listener splits again, so a burst costs one
	// receive instead of one per datagram. Such datagrams share one
	// kernel timestamp. Datagrams a local sender sent as one GSO send
	// (replay --gso) then reach the socket whole. With a NIC, GRO
	// coalesces per 4-tuple within one interrupt's worth of packets, so
	// datagrams of different 4-tuples (the two directions of a mirrored
	// connection) can be handed over in another order than they arrived,
	// by up to that batch. If the kernel refuses, a warning is logged
	// and datagrams are received one by one.
	GRO bool
}

// Datagram is one received UDP datagram.
//
// Run also hands over, after its context is cancelled, what the sockets
// had already queued (drain on stop), so a datagram the kernel accepted
// before the stop is never lost.
type Datagram struct {
	// Data is the UDP payload (the VXLAN, GENEVE or GRE header onwards),
	// or for Kind GRE the IP payload (the GRE header onwards: the outer
	// IPv4 header the raw socket returns is removed). It points into the
	// listener's receive buffers and is valid only until the handler
	// returns.
	Data []byte
	// TS is the kernel receive time (SO_TIMESTAMPNS), Unix nanoseconds.
	TS int64
	// Src is the outer source address and port (for AWS mirroring: the
	// source ENI's address and a hash of the inner flow; port 0 for GRE
	// over IP).
	Src netip.AddrPort
	// Dst is the outer destination address (IP_PKTINFO / IPV6_PKTINFO):
	// the target's address the datagram was sent to.
	Dst netip.Addr
	// Len is the datagram's payload length; larger than len(Data) when
	// the datagram was longer than MaxDatagram. For Kind GRE, the IP
	// payload length.
	Len int
	// Truncated is set when the datagram was longer than MaxDatagram.
	Truncated bool
}

// SocketStats counts what one socket received.
type SocketStats struct {
	Datagrams uint64
	Bytes     uint64 // payload bytes received (before truncation)
	Batches   uint64 // recvmmsg calls that returned datagrams
	// Drops is the kernel's count of datagrams dropped on this socket
	// because its receive buffer was full (SO_RXQ_OVFL), cumulative since
	// the socket was opened. The kernel reports it with each received
	// datagram, so it is current as of the last datagram read.
	Drops     uint64
	Truncated uint64 // datagrams longer than MaxDatagram
	RcvBuf    int    // the receive buffer the kernel granted (SO_RCVBUF)
}

// ListenerStats holds per-socket statistics, indexed by socket number.
type ListenerStats struct {
	Sockets []SocketStats
}

// Total sums the per-socket statistics (RcvBuf is summed too).
func (s ListenerStats) Total() SocketStats {
	var t SocketStats
	for _, x := range s.Sockets {
		t = t.plus(x)
	}
	return t
}

func (a SocketStats) plus(b SocketStats) SocketStats {
	return SocketStats{Datagrams: a.Datagrams + b.Datagrams, Bytes: a.Bytes + b.Bytes, Batches: a.Batches + b.Batches,
		Drops: a.Drops + b.Drops, Truncated: a.Truncated + b.Truncated, RcvBuf: a.RcvBuf + b.RcvBuf}
}
