package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Sender sends UDP datagrams to one target from several source ports, in
// batches, in the order they were queued, with as few system calls as the
// platform allows (sendmmsg on Linux): mirrorscope replay's sending side,
// and the load generator of the listener's benchmarks. Each datagram
// leaves from the source chosen for it; with a raw socket (Linux,
// CAP_NET_RAW, IPv4 target) one sendmmsg carries a whole batch whatever
// the sources, otherwise each run of consecutive datagrams from one source
// is one sendmmsg on that source's connected UDP socket. Either way the
// order on the wire is the queue's.
//
// Datagrams are written straight into one arena allocated by NewSender
// (Begin, append, Commit) and sent by Flush: nothing is allocated per
// datagram. A Sender is used by one goroutine.
type Sender struct {
	conns []*net.UDPConn
	ports []uint16 // local port of each conn (the raw path's source ports)
	src   [4]byte  // local address (raw path)
	// hdr is the room left before each datagram for the raw path's
	// IPv4/UDP header (0 without raw).
	hdr int
	mtu int // datagrams longer than this (with headers) go by their UDP socket

	arena []byte
	off   []int // start of each queued datagram (header included) in arena
	end   []int
	from  []int    // source index of each
	group []uint32 // coalescing group of each (0: none), see CommitGroup
	sys   sendSys

	batches uint64
}

// SendBatch is the most datagrams queued at once (and per sendmmsg: the
// kernel takes up to UIO_MAXIOV = 1024 messages per call). Large, because
// on virtual machines a system call costs microseconds: at a million
// datagrams per second a paced sender flushes a millisecond's worth at a
// time rather than waking up every 64 datagrams.
const SendBatch = 1024

// arenaSize holds a batch of jumbo datagrams and always one more whole
// UDP datagram with its headers.
const arenaSize = 2<<20 + 65536 + 128

// NewSender opens sources UDP sockets connected to to (their local ports
// are the source ports) with sndbuf bytes of send buffer each (0: the
// kernel's default), and, unless noRaw, a raw socket if the process may
// open one and to is IPv4.
func NewSender(to *net.UDPAddr, sources, sndbuf int, noRaw bool) (*Sender, error) {
	if sources < 1 {
		sources = 1
	}
	q := &Sender{
		arena: make([]byte, 0, arenaSize),
		off:   make([]int, 0, SendBatch),
		end:   make([]int, 0, SendBatch),
		from:  make([]int, 0, SendBatch),
		group: make([]uint32, 0, SendBatch),
		mtu:   1 << 30,
	}
	for range sources {
		c, err := net.DialUDP("udp", nil, to)
		if err != nil {
			q.Close()
			return nil, fmt.Errorf("capture: sender: %w", err)
		}
		if sndbuf > 0 {
			_ = c.SetWriteBuffer(sndbuf)
		}
		q.conns = append(q.conns, c)
		q.ports = append(q.ports, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	}
	if la, ok := netip.AddrFromSlice(q.conns[0].LocalAddr().(*net.UDPAddr).IP); ok {
		q.src = la.Unmap().As4()
	}
	q.sys.init(q, to, noRaw)
	return q, nil
}

// EnableGSO makes the sender coalesce runs of datagrams (see
// CommitGroup) into UDP generic segmentation offload sends (UDP_SEGMENT,
// Linux 4.18): one packet through the sending host's stack for up to 64
// datagrams, split into datagrams again by the receiving host (or the
// NIC). On loopback this is what lets one core generate a mirror stream
// at millions of datagrams per second. GSO needs the UDP sockets, so the
// raw socket is given up (each source keeps its own port). Call it before
// queuing anything. It fails where the kernel has no UDP GSO.
func (q *Sender) EnableGSO() error {
	if len(q.off) > 0 {
		return errors.New("capture: sender: EnableGSO after datagrams were queued")
	}
	return q.sys.enableGSO(q)
}

// GSO says datagrams may be coalesced into GSO sends.
func (q *Sender) GSO() bool { return q.sys.gsoOn() }

// GSOSends is the number of GSO sends so far (each carried several
// datagrams).
func (q *Sender) GSOSends() uint64 { return q.sys.gsoSends() }

// Raw says batches go through a raw socket.
func (q *Sender) Raw() bool { return q.sys.rawUsed() }

// Batches is the number of Flush calls that sent something.
func (q *Sender) Batches() uint64 { return q.batches }

// Close closes the sockets.
func (q *Sender) Close() error {
	q.sys.close()
	var errs []error
	for _, c := range q.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Full says the queue must be flushed before the next datagram.
func (q *Sender) Full() bool {
	return len(q.off) == SendBatch || cap(q.arena)-len(q.arena) < 65536+128
}

// Begin returns where the next datagram is to be appended: an empty slice
// with room for any UDP datagram (call Flush first when Full).
func (q *Sender) Begin() []byte {
	o := len(q.arena) + q.hdr
	return q.arena[o:o]
}

// Commit queues d, the datagram appended to the slice Begin returned, to
// leave from source src (0 <= src < sources).
func (q *Sender) Commit(src int, d []byte) { q.CommitGroup(src, 0, d) }

// CommitGroup is Commit for a datagram of coalescing group g: with GSO
// (EnableGSO), consecutive datagrams of one source and one group g != 0
// may leave as one UDP GSO send, which the receiving host splits again
// before any socket sees them. A receiver that picks its socket by the
// datagram's content (mirrorscope's symmetric steering, by inner
// connection) sees only the first datagram of such a send, so g must
// say "the receiver would treat these alike": replay uses a hash of the
// inner connection.
func (q *Sender) CommitGroup(src int, g uint32, d []byte) {
	start := len(q.arena)
	end := start + q.hdr + len(d)
	q.arena = q.arena[:end]
	if q.hdr > 0 {
		putIPv4UDP(q.arena[start:start+q.hdr], q.src, q.sys.dst4, q.ports[src], q.sys.dstPort, len(d))
	}
	q.off = append(q.off, start)
	q.end = append(q.end, end)
	q.from = append(q.from, src)
	q.group = append(q.group, g)
}

// Len is the number of datagrams queued.
func (q *Sender) Len() int { return len(q.off) }

// Flush sends everything queued, waiting while the socket buffers are
// full. It returns the datagrams sent, their payload bytes, those that
// could not be sent (no receiver yet: ICMP port unreachable; unreachable
// network; too large) and an error that stops sending.
func (q *Sender) Flush() (sent, bytes, skipped uint64, err error) {
	if len(q.off) == 0 {
		return 0, 0, 0, nil
	}
	q.batches++
	sent, bytes, skipped, err = q.sys.send(q)
	q.arena, q.off, q.end, q.from, q.group = q.arena[:0], q.off[:0], q.end[:0], q.from[:0], q.group[:0]
	return sent, bytes, skipped, err
}

// putIPv4UDP writes the IPv4 and UDP headers of the raw path (the kernel
// fills in the IP total length, id and checksum; UDP checksum 0 means
// none, which IPv4 allows).
func putIPv4UDP(h []byte, src, dst [4]byte, sport, dport uint16, n int) {
	total := 28 + n
	h[0], h[1] = 0x45, 0
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	h[4], h[5], h[6], h[7] = 0, 0, 0, 0
	h[8], h[9] = 64, 17
	h[10], h[11] = 0, 0
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	binary.BigEndian.PutUint16(h[20:], sport)
	binary.BigEndian.PutUint16(h[22:], dport)
	binary.BigEndian.PutUint16(h[24:], uint16(8+n))
	h[26], h[27] = 0, 0
}
