// Package listen is mirrorscope's live traffic-mirror target: it receives
// AWS VPC Traffic Mirroring streams (VXLAN on UDP 4789, and GENEVE on UDP
// 6081 behind a Gateway Load Balancer), ERSPAN/GRE mirror streams (IP
// protocol 47 on a raw socket, or GRE over UDP 4754; sessions keyed by
// outer source and ERSPAN session id or GRE key), or frames from a local
// interface, and runs the analyze pipeline on them continuously. Replay
// sends captures as such streams (VXLAN, GENEVE, ERSPAN II/III, GRE).
//
// # Pipeline
//
// The UDP sockets are capture.Listener's (one per listening address):
// SO_REUSEPORT sockets, each read by its own goroutine with recvmmsg into
// buffers of 64 KiB (so 9001-byte jumbo frames and anything else UDP can
// carry arrive whole), with the kernel receive timestamp (SO_TIMESTAMPNS)
// as the packet time, the outer destination (IP_PKTINFO) and the socket's
// drop counter (SO_RXQ_OVFL). The listener asks for symmetric steering:
// a reuseport BPF program sends both directions of a connection to one
// socket, so they are read in arrival order. With --iface, a
// capture.LiveSource (AF_PACKET ring) per socket replaces them.
//
// A receiver per socket decodes each datagram into a decode.Packet,
// applies the allow-lists, counts the mirror session, and copies the
// packet by value into a batch for the shard that owns its flow. Shards
// are chosen by the direction-independent flow key hash (steering may be
// unavailable, and one flow can reach both listeners). Each shard
// goroutine owns one engine.Engine; nothing else touches it (HTTP
// snapshots are run on the shard goroutine through a control channel).
//
// Batches are recycled through per-shard free lists and handed over once
// per recvmmsg batch; the receiver's counters (accepted, per session) are
// added to the shared atomics once per batch too. Steady-state receiving
// allocates nothing and takes no lock per packet. Queues are bounded and
// block: when analysis falls behind, the socket buffers fill and the kernel
// drops, which is counted (SO_RXQ_OVFL) and reported apart from anything
// seen in the traffic.
//
// # Shutdown
//
// When the context of Run is cancelled, the receivers stop waiting, read
// what is already queued in their sockets (capture.Listener drains them),
// hand over their last batches and exit; the shards analyse everything
// queued, end every open flow and report it; then the outputs are
// flushed. Nothing that reached a socket before the cancel is lost.
package listen
