package result

// The JSON report schema (documented in docs/json.md). Field names are a
// contract with users' scripts: add fields, never rename them.

// SchemaVersion is bumped only on incompatible changes.
const SchemaVersion = 2

// Report is the whole result of an analysis.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          string    `json:"tool"`
	Inputs        []Input   `json:"inputs"`
	Capture       Capture   `json:"capture"`
	Flows         []Flow    `json:"flows"`
	Findings      []Finding `json:"findings"`
}

// Input describes one input file (or stdin, "-").
type Input struct {
	File    string `json:"file"`
	Packets uint64 `json:"packets"`
	Bytes   int64  `json:"bytes"` // bytes of the file read
	Error   string `json:"error,omitempty"`
}

// Fragments counts IP fragment reassembly. Given-up datagrams are not
// analysed: their fragments count as IP packets only.
type Fragments struct {
	Fragments   uint64 `json:"fragments"`   // fragment packets read
	Reassembled uint64 `json:"reassembled"` // datagrams completed (analysed at their last fragment)
	TimedOut    uint64 `json:"timed_out"`   // given up 30 s after their first fragment
	Evicted     uint64 `json:"evicted"`     // given up because 1024 datagrams were incomplete at once
	Invalid     uint64 `json:"invalid"`     // given up as malformed (overlapping ends, > 64 KiB, > 16 holes, bad transport header)
	Incomplete  uint64 `json:"incomplete"`  // still incomplete at the end of the capture
}

// Capture summarises everything read.
type Capture struct {
	Packets          uint64            `json:"packets"`
	Bytes            uint64            `json:"bytes"` // inner frame length on the wire (decode.Packet.FrameLen) of the decoded frames: outer mirror headers excluded, decode errors not counted
	IPPackets        uint64            `json:"ip_packets"`
	NonIPPackets     uint64            `json:"non_ip_packets"`
	DecodeErrors     uint64            `json:"decode_errors"`
	DecodeErrorKinds map[string]uint64 `json:"decode_error_kinds,omitempty"`
	// TruncatedPackets: inner packet shorter than its IP total length.
	TruncatedPackets uint64 `json:"truncated_packets"`
	// TruncatedUpstream: of those, packets whose frame was captured whole,
	// so the cut happened before the capture (AWS PacketLength or the
	// target MTU), not by the capture's snaplen.
	TruncatedUpstream uint64 `json:"truncated_upstream"`
	Filtered          uint64 `json:"filtered,omitempty"` // packets a mirror filter rejected (--filter)
	// Unselected: packets of mirror sessions left out by --vni or
	// --outer-src; UnselectedSessions names those sessions (at most 64).
	Unselected         uint64    `json:"unselected,omitempty"`
	UnselectedSessions []Session `json:"unselected_sessions,omitempty"`
	// Fragments: IP fragments, reassembled so that a fragmented TCP
	// segment is analysed at its last fragment (as tshark does); absent
	// when the capture has none.
	Fragments     *Fragments        `json:"ip_fragments,omitempty"`
	First         string            `json:"first,omitempty"` // RFC 3339 with ns
	Last          string            `json:"last,omitempty"`
	DurationS     float64           `json:"duration_s"`
	TimeStepsBack uint64            `json:"time_steps_back"` // timestamps earlier than the previous packet's
	MaxStepBackUS float64           `json:"max_step_back_us"`
	Encapsulation map[string]uint64 `json:"encapsulation"` // packets per encapsulation: none, vxlan, geneve+vxlan, geneve
	Sessions      []Session         `json:"sessions"`
	FlowCounts    FlowCounts        `json:"flow_counts"`
}

// Session is one mirror session seen in the capture.
type Session struct {
	OuterSrc         string `json:"outer_src"`
	OuterDst         string `json:"outer_dst,omitempty"`
	VNI              uint32 `json:"vni"`
	Encap            string `json:"encap"`
	GWLBEndpointID   string `json:"gwlb_endpoint_id,omitempty"`
	GWLBAttachmentID string `json:"gwlb_attachment_id,omitempty"`
	Packets          uint64 `json:"packets"`
	Bytes            uint64 `json:"bytes"` // inner frame bytes
	Flows            uint64 `json:"flows"`
	Truncated        uint64 `json:"truncated"`
}

// FlowCounts counts flows by protocol and by how they ended.
type FlowCounts struct {
	Total    uint64 `json:"total"`
	TCP      uint64 `json:"tcp"`
	UDP      uint64 `json:"udp"`
	ICMP     uint64 `json:"icmp"`
	Other    uint64 `json:"other"`
	Evicted  uint64 `json:"evicted"`    // ended early: the flow table was full
	IdleEnd  uint64 `json:"idle_ended"` // ended by the idle timeout
	Listed   uint64 `json:"listed"`     // flows present in "flows"
	Unlisted uint64 `json:"unlisted"`   // smallest flows left out of "flows" (--max-report-flows)
	// Undiagnosed: TCP flows analysed without a diagnosis because
	// --max-diagnosed-flows were live at once.
	Undiagnosed uint64 `json:"undiagnosed,omitempty"`
}

// SessionRef names the mirror session of a flow.
type SessionRef struct {
	OuterSrc       string `json:"outer_src"`
	OuterDst       string `json:"outer_dst,omitempty"`
	VNI            uint32 `json:"vni"`
	GWLBEndpointID string `json:"gwlb_endpoint_id,omitempty"`
	// OverlayVNI: the VXLAN/GENEVE overlay VNI inside the mirror session
	// (analyze --decap-inner), when the flow was in one.
	OverlayVNI *uint32 `json:"overlay_vni,omitempty"`
}

// Direction counts one direction of a flow.
type Direction struct {
	Packets       uint64  `json:"packets"`
	Bytes         uint64  `json:"bytes"`
	PayloadBytes  uint64  `json:"payload_bytes"`
	Truncated     uint64  `json:"truncated,omitempty"`
	ThroughputBPS float64 `json:"throughput_bps"` // bits of frames / the direction's active duration
}

// Flow is one conversation in one session.
type Flow struct {
	ID            uint64      `json:"id"`
	Proto         string      `json:"proto"`
	Client        string      `json:"client"`
	Server        string      `json:"server"`
	RolesFrom     string      `json:"roles_from"`
	Encap         string      `json:"encap"`
	Session       *SessionRef `json:"session,omitempty"`
	Start         string      `json:"start"`
	End           string      `json:"end"`
	DurationS     float64     `json:"duration_s"`
	Packets       uint64      `json:"packets"`
	Bytes         uint64      `json:"bytes"`
	ThroughputBPS float64     `json:"throughput_bps"` // both directions, frame bits / duration
	EndReason     string      `json:"end_reason"`
	C2S           Direction   `json:"client_to_server"`
	S2C           Direction   `json:"server_to_client"`
	// TCP is the TCP analysis (internal/tcpseq), for TCP flows.
	TCP any `json:"tcp,omitempty"`
	// Diagnosis is the limiter verdict (internal/diagnose), for TCP flows.
	Diagnosis any `json:"diagnosis,omitempty"`

	// StartNS/EndNS keep the exact times for sorting and charts.
	StartNS int64 `json:"-"`
	EndNS   int64 `json:"-"`
}

// Finding is something worth a person's attention.
type Finding struct {
	Severity string   `json:"severity"` // info, warning, critical
	Kind     string   `json:"kind"`
	Flows    []uint64 `json:"flows,omitempty"` // flow ids
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"`
	Next     []string `json:"next_steps,omitempty"`
}
