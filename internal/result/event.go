package result

import (
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// PacketEvent describes one analysed frame to engine.Config.OnPacket. The event
// and everything it points to are valid only during the call.
type PacketEvent struct {
	Frame  uint64         // 1-based frame number across the input
	TS     int64          // capture time, ns (as recorded: may step back)
	Packet *decode.Packet // the decoded innermost packet
	// Flow and Dir: the packet's flow and direction; Flow is nil for frames
	// that are not IP, failed to decode, or were filtered out.
	Flow *flow.Flow
	Dir  flow.Dir
	// TCP is the TCP analysis of the packet, nil for anything but TCP.
	TCP *tcpseq.Result
	// Err is the decode error of a frame that could not be decoded.
	Err error
}
