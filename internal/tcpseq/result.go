package tcpseq

// Flag is one of Wireshark's tcp.analysis expert flags (plus RST), as a bit.
type Flag uint32

// The flags, named as Wireshark's tcp.analysis.<name> fields.
const (
	Retransmission Flag = 1 << iota
	FastRetransmission
	SpuriousRetransmission
	OutOfOrder
	LostSegment
	AckLostSegment
	DuplicateAck
	ZeroWindow
	ZeroWindowProbe
	ZeroWindowProbeAck
	WindowFull
	WindowUpdate
	KeepAlive
	KeepAliveAck
	ReusedPorts
	Reset // tcp.flags.reset == 1 (not an analysis flag, counted alongside)
	numFlags
)

// NumFlags is the number of distinct flags.
const NumFlags = 16

var flagNames = [NumFlags]string{
	"retransmission", "fast_retransmission", "spurious_retransmission",
	"out_of_order", "lost_segment", "ack_lost_segment", "duplicate_ack",
	"zero_window", "zero_window_probe", "zero_window_probe_ack",
	"window_full", "window_update", "keep_alive", "keep_alive_ack",
	"reused_ports", "reset",
}

// Name returns the Wireshark field suffix of a single flag.
func (f Flag) Name() string {
	for i := 0; i < NumFlags; i++ {
		if f == 1<<i {
			return flagNames[i]
		}
	}
	return "multiple"
}

// FlagByIndex returns the i-th flag (0 <= i < NumFlags).
func FlagByIndex(i int) Flag { return 1 << i }

// Has reports whether all bits of g are set in f.
func (f Flag) Has(g Flag) bool { return f&g == g }

// Names lists the names of the set flags in a fixed order. It allocates;
// use it for output, not on the hot path.
func (f Flag) Names() []string {
	var out []string
	for i := 0; i < NumFlags; i++ {
		if f&(1<<i) != 0 {
			out = append(out, flagNames[i])
		}
	}
	return out
}

// Result is what the analysis says about one TCP packet. The caller owns
// it; Analyze overwrites it.
type Result struct {
	Flags Flag
	// Retransmission implies the segment is a (fast/spurious/plain)
	// retransmission in Wireshark's sense; Flags has Retransmission set for
	// all three, as tshark -Y tcp.analysis.retransmission counts.
	DupAckNum uint32 // duplicate_ack_num when DuplicateAck is set

	// AckRTT is tcp.analysis.ack_rtt in nanoseconds (0 = none): time from
	// the segment this ACK acknowledges to this ACK.
	AckRTT int64
	// BytesInFlight is tcp.analysis.bytes_in_flight (-1 = not computed).
	BytesInFlight int64
	// Window is the advertised receive window scaled as Wireshark scales
	// it (tcp.window_size).
	Window uint32
	// WindowScale is tcp.window_size_scalefactor: the multiplier, or -1
	// (unknown) / -2 (no scaling).
	WindowScale int32
	// RelSeq is the sequence number relative to the direction's ISN.
	RelSeq uint32
	// Stream is tcp.stream: the index of the TCP conversation in the
	// capture, counted as Wireshark counts it (a reused-port SYN starts a
	// new one).
	Stream uint32

	// HasAckRTT says this packet acknowledged the end of a stored segment
	// (tcp.analysis.acks_frame is set); AckRTT is then valid even when 0
	// or negative (timestamps stepping backwards). tshark prints ack_rtt
	// only when it is non-zero.
	HasAckRTT bool
	// InitialRTT is tcp.analysis.initial_rtt in ns (0 = not known yet):
	// from the most recent SYN to the first ACK without SYN.
	InitialRTT int64
	// RTO is tcp.analysis.rto in ns for a plain retransmission: time since
	// the oldest unacknowledged segment of this direction.
	RTO int64

	ackOfRetrans bool // the acknowledged segment was retransmitted (Karn)
}
