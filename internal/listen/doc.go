// Package listen is mirrorscope's live traffic-mirror target: it receives
// AWS VPC Traffic Mirroring streams (VXLAN on UDP 4789, and GENEVE on UDP
// 6081 behind a Gateway Load Balancer), or frames from a local interface,
// and runs the analyze pipeline on them continuously.
//
// # Pipeline
//
// Several SO_REUSEPORT sockets per listening address each have a
// receiving goroutine. It reads batches of datagrams with recvmmsg into
// buffers of 64 KiB (so 9001-byte jumbo frames and anything else UDP can
// carry arrive whole), takes the kernel receive timestamp (SO_TIMESTAMPNS)
// as the packet time and the socket's drop counter (SO_RXQ_OVFL), decodes
// each datagram into a decode.Packet, applies the allow-lists, counts the
// mirror session, and copies the packet by value into a batch for the
// shard that owns its flow. Shards are chosen by the direction-independent
// flow key hash, because the two directions of one connection may arrive
// on different sockets (AWS derives the outer source port from the inner
// 5-tuple). Each shard goroutine owns one engine.Engine; nothing else
// touches it (HTTP snapshots are run on the shard goroutine through a
// control channel).
//
// Batches are recycled through per-shard free lists, so steady-state
// receiving allocates nothing per packet. Queues are bounded and block:
// when analysis falls behind, the socket buffers fill and the kernel
// drops, which is counted (SO_RXQ_OVFL) and reported apart from anything
// seen in the traffic.
//
// # Shutdown
//
// When the context of Run is cancelled, the receivers stop waiting, read
// what is already queued in their sockets, hand over their last batches
// and exit; the shards analyse everything queued, end every open flow and
// report it; then the outputs are flushed. Nothing that reached a socket
// before the cancel is lost.
package listen
