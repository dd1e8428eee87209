package result

import (
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// PacketEvent describes one analysed frame to engine.Config.OnPacket. The
// event and everything it points to, Data included, are valid only during
// the call: the engine reuses the event and the source reuses the frame's
// buffer for the next frame. A consumer that keeps anything copies it
// (report/annotate spools the frame to a file).
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

	// The frame as read, for consumers that write it back out: Data (the
	// captured bytes, owned by the source), OrigLen (its length on the
	// wire), Link (its link type) and Iface (its interface's index in the
	// source's interface list, capture.FileSource.Interfaces). Data is
	// nil for packets handed to the engine already decoded (the live
	// listener's Engine.Decoded).
	Data    []byte
	OrigLen uint32
	Link    decode.LinkType
	Iface   uint32
}
