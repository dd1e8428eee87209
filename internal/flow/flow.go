package flow

import (
	"encoding/binary"
	"net/netip"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// SessionKey is the part of the key that identifies the mirror session.
// It is the zero value for plain captures.
type SessionKey struct {
	OuterSrc       netip.Addr
	VNI            uint32
	HasVNI         bool
	GWLBEndpointID uint64
	OverlayVNI     uint32 // with --decap-inner: pod flows of different overlays stay apart
	HasOverlay     bool
}

// Key identifies a conversation independent of direction: A is the
// lower endpoint (address, then port).
type Key struct {
	Session SessionKey
	Proto   uint8
	A, B    netip.Addr
	PortA   uint16
	PortB   uint16
}

// Dir is a direction relative to the flow's roles.
type Dir uint8

const (
	// ClientToServer is the direction of the connection's initiator.
	ClientToServer Dir = 0
	// ServerToClient is the reverse direction.
	ServerToClient Dir = 1
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "client_to_server"
	}
	return "server_to_client"
}

// RoleSource says how client and server were decided.
type RoleSource uint8

const (
	RoleFromHandshake   RoleSource = iota // SYN or SYN/ACK seen first
	RoleFromPorts                         // the lower (service) port is the server
	RoleFromFirstPacket                   // equal ports: the first sender is the client
)

func (r RoleSource) String() string {
	switch r {
	case RoleFromHandshake:
		return "handshake"
	case RoleFromPorts:
		return "ports"
	}
	return "first_packet"
}

// DirStats counts one direction of a flow.
type DirStats struct {
	Packets      uint64
	Bytes        uint64 // inner frame bytes on the wire (decode.Packet.FrameLen)
	PayloadBytes uint64 // L4 payload bytes per the IP header
	Truncated    uint64 // packets captured shorter than their IP length
	First, Last  int64  // ns; First 0 = none yet
}

// Flow is one conversation in one session. The table owns it until it is
// passed to OnEnd; after that the callee owns it.
type Flow struct {
	ID      uint64 // creation order, from 0
	Key     Key
	Session decode.Session
	Encap   decode.Encap
	Client  netip.AddrPort
	Server  netip.AddrPort
	Roles   RoleSource
	Dir     [2]DirStats
	First   int64 // ns, earliest timestamp seen
	Last    int64 // ns, latest timestamp seen

	// Closed is set when the conversation ended on the wire (TCP RST or
	// FIN in both directions).
	Closed  bool
	finSeen [2]bool
	// ReusedPorts: the flow began with a SYN (new ISN) on the 4-tuple of
	// a closed flow, which Wireshark flags tcp.analysis.reused_ports.
	ReusedPorts bool
	// synSeq is the ISN of the last SYN seen from each key side (index
	// 1: from A), to tell a retransmitted SYN from a new connection.
	synSeq [2]uint32
	synSet [2]bool
	// EndReason tells why the flow ended: "end_of_capture", "closed",
	// "idle", "evicted".
	EndReason string

	// Ext is owned by the table's user (the engine keeps per-flow analysis
	// state here).
	Ext any

	clientIsA  bool
	prev, next *Flow // LRU list, most recent at head
}

// Packets returns the packets of both directions.
func (f *Flow) Packets() uint64 { return f.Dir[0].Packets + f.Dir[1].Packets }

// Bytes returns the bytes of both directions.
func (f *Flow) Bytes() uint64 { return f.Dir[0].Bytes + f.Dir[1].Bytes }

// Duration returns Last-First in ns (never negative).
func (f *Flow) Duration() int64 {
	if f.Last > f.First {
		return f.Last - f.First
	}
	return 0
}

// MakeKey fills k from p and returns the direction of p relative to the
// key's A side: true when p travels from A to B.
func MakeKey(p *decode.Packet, k *Key) (fromA bool) {
	// Field by field, not a composite literal: the compiler built the
	// literal in a temporary with 1-8 byte stores and copied it 16 bytes
	// at a time, loads the CPU cannot forward from those stores (a stall
	// of ~10 cycles each; half of MakeKey's time in profiles).
	ks, ps := &k.Session, &p.Session
	ks.OuterSrc = ps.OuterSrc
	ks.VNI, ks.HasVNI = ps.VNI, ps.HasVNI
	ks.GWLBEndpointID = ps.GWLBEndpointID
	ks.OverlayVNI, ks.HasOverlay = ps.OverlayVNI, ps.HasOverlay
	k.Proto = p.Proto
	sp, dp := keyPorts(p)
	c := p.Src.Compare(p.Dst)
	if c < 0 || (c == 0 && sp <= dp) {
		k.A, k.PortA, k.B, k.PortB = p.Src, sp, p.Dst, dp
		return true
	}
	k.A, k.PortA, k.B, k.PortB = p.Dst, dp, p.Src, sp
	return false
}

// Hash returns a direction-independent hash of k, for sharding.
func (k *Key) Hash() uint64 {
	// FNV-1a over the fields that vary most; cheap and allocation-free.
	h := uint64(14695981039346656037)
	mix := func(b byte) { h ^= uint64(b); h *= 1099511628211 }
	a16, b16 := k.A.As16(), k.B.As16()
	for i := 8; i < 16; i++ {
		mix(a16[i])
		mix(b16[i])
	}
	mix(byte(k.PortA))
	mix(byte(k.PortA >> 8))
	mix(byte(k.PortB))
	mix(byte(k.PortB >> 8))
	mix(k.Proto)
	mix(byte(k.Session.VNI))
	return h
}

// keyPorts are p's ports as a Key holds them: those of TCP, UDP and SCTP,
// zero for every other protocol (and for a packet whose transport header
// was not decoded).
func keyPorts(p *decode.Packet) (sp, dp uint16) {
	if p.L4 && (p.Proto == 6 || p.Proto == 17 || p.Proto == 132) {
		return p.SrcPort, p.DstPort
	}
	return 0, 0
}

// PacketHash returns a hash of p's flow key that does not depend on the
// direction: packets of one flow (one Key) hash alike, so a hash modulo N
// spreads flows over N analysers (analyze's workers). It reads the
// fields MakeKey puts in the key, without building one: the two
// endpoints are hashed apart and summed, which is symmetric.
func PacketHash(p *decode.Packet) uint64 {
	sp, dp := keyPorts(p)
	h := endpointHash(p.Src, sp) + endpointHash(p.Dst, dp)
	s := &p.Session
	h ^= uint64(p.Proto)<<56 ^ uint64(s.VNI)<<24 ^ uint64(s.OverlayVNI) ^ s.GWLBEndpointID
	if s.OuterSrc.IsValid() {
		_, lo := addrWords(s.OuterSrc)
		h ^= lo * 0x9e3779b97f4a7c15
	}
	return mix64(h)
}

// PeekHash is PacketHash of the packet Decode makes of a frame Peek read
// into k: the same value, from the raw header fields.
func PeekHash(k *decode.FlowPeek) uint64 {
	var sp, dp uint16
	if k.Proto == 6 || k.Proto == 17 {
		sp, dp = k.SrcPort, k.DstPort
	}
	h := wordsHash(k.SrcHi, k.SrcLo, sp) + wordsHash(k.DstHi, k.DstLo, dp)
	h ^= uint64(k.Proto)<<56 ^ uint64(k.VNI)<<24 ^ k.GWLBEndpointID
	if k.OuterSrcLo != 0 {
		h ^= k.OuterSrcLo * 0x9e3779b97f4a7c15
	}
	return mix64(h)
}

// endpointHash mixes one endpoint with a multiply and a shift (the
// endpoints' sum is mixed again by PacketHash).
func endpointHash(a netip.Addr, port uint16) uint64 {
	hi, lo := addrWords(a)
	return wordsHash(hi, lo, port)
}

// wordsHash is endpointHash of an address given as its two words.
func wordsHash(hi, lo uint64, port uint16) uint64 {
	x := (lo^uint64(port)<<48)*0x9e3779b97f4a7c15 ^ hi*0xff51afd7ed558ccd
	return x ^ x>>29
}

// addrWords returns a's 16-byte form as two words. An IPv4 address takes
// As4, which stays in registers: As16's array went through memory,
// stored 8 bytes at a time and copied 16 at a time (a store-forwarding
// stall; PacketHash cost as much as a decode in a --workers profile).
func addrWords(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		v := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(v[:]))
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// mix64 is the finaliser of MurmurHash3.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
