package listen

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// sendQueue collects the datagrams of one batch, in order, in one arena,
// and sends them with as few system calls as the platform allows
// (sendmmsg on Linux). Each datagram leaves from the source socket
// chosen for it; with a raw socket (Linux, CAP_NET_RAW, IPv4 target) one
// sendmmsg carries a whole batch whatever the sources, otherwise each run
// of consecutive datagrams from one source is one sendmmsg, so the order
// on the wire is always the capture's.
//
// The arena is allocated once: nothing is allocated per datagram.
type sendQueue struct {
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
	from  []int // source index of each
	sys   sendSys

	batches uint64
}

// maxQueued is the most datagrams per batch (and per sendmmsg).
const maxQueued = 64

// arenaSize holds a batch of jumbo datagrams and always one more whole
// UDP datagram with its headers.
const arenaSize = 2<<20 + 65536 + 128

func newSendQueue(conns []*net.UDPConn, to *net.UDPAddr, noRaw bool) *sendQueue {
	q := &sendQueue{
		conns: conns,
		arena: make([]byte, 0, arenaSize),
		off:   make([]int, 0, maxQueued),
		end:   make([]int, 0, maxQueued),
		from:  make([]int, 0, maxQueued),
		mtu:   1 << 30,
	}
	for _, c := range conns {
		q.ports = append(q.ports, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	}
	if la, ok := netip.AddrFromSlice(conns[0].LocalAddr().(*net.UDPAddr).IP); ok {
		q.src = la.Unmap().As4()
	}
	q.sys.init(q, to, noRaw)
	return q
}

// full says the queue must be flushed before the next datagram.
func (q *sendQueue) full() bool {
	return len(q.off) == maxQueued || cap(q.arena)-len(q.arena) < 65536+128
}

// begin returns where the next datagram is to be appended (capacity for
// any UDP datagram is guaranteed: call flush first when full).
func (q *sendQueue) begin() []byte {
	o := len(q.arena) + q.hdr
	return q.arena[o:o]
}

// commit queues the datagram d, appended to the slice begin returned, to
// leave from source src.
func (q *sendQueue) commit(src int, d []byte) {
	start := len(q.arena)
	end := start + q.hdr + len(d)
	q.arena = q.arena[:end]
	if q.hdr > 0 {
		putIPv4UDP(q.arena[start:start+q.hdr], q.src, q.sys.dst4, q.ports[src], q.sys.dstPort, len(d))
	}
	q.off = append(q.off, start)
	q.end = append(q.end, end)
	q.from = append(q.from, src)
}

// len is the number of datagrams queued.
func (q *sendQueue) len() int { return len(q.off) }

// flush sends everything queued. It returns the datagrams sent, their
// payload bytes, those that could not be sent (no receiver yet: ICMP
// port unreachable) and a fatal error.
func (q *sendQueue) flush() (sent, bytes, skipped uint64, err error) {
	if len(q.off) == 0 {
		return 0, 0, 0, nil
	}
	q.batches++
	sent, bytes, skipped, err = q.sys.send(q)
	q.arena, q.off, q.end, q.from = q.arena[:0], q.off[:0], q.end[:0], q.from[:0]
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
