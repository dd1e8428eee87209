package diagnose

// Verdicts, in the order the decision tries them (see decide).
const (
	VerdictPolicer          = "policer"
	VerdictShaper           = "shaper"
	VerdictReceiverWindow   = "receiver_window"
	VerdictApplication      = "application"
	VerdictRandomLoss       = "random_loss"
	VerdictReordering       = "reordering"
	VerdictCongestion       = "congestion"
	VerdictUnconstrained    = "unconstrained"
	VerdictInsufficientData = "insufficient_data"
)

// Visibilities: which directions of a connection the capture holds.
const (
	VisBoth     = "both"
	VisDataOnly = "data_only"
	VisAcksOnly = "acks_only"
)

// Diagnosis is the JSON "diagnosis" object of one flow.
type Diagnosis struct {
	Verdict   string `json:"verdict"`
	Direction string `json:"direction,omitempty"` // client_to_server | server_to_client
	// Visibility: which directions of the connection the capture holds:
	// both, data_only (the data direction alone) or acks_only (the ACKs
	// alone), e.g. a mirror filter that copies one direction.
	Visibility   string  `json:"visibility"`
	RateBps      float64 `json:"rate_bps,omitempty"` // wire (Ethernet frame) bits/s of the limiter
	BurstBytes   float64 `json:"burst_bytes,omitempty"`
	QueueDelayMS float64 `json:"queue_delay_ms,omitempty"`
	// BottleneckBps: for congestion at a shared bottleneck, its capacity
	// (wire bits/s) from packet dispersion; RateBps is this flow's share.
	BottleneckBps float64  `json:"bottleneck_bps,omitempty"`
	Confidence    float64  `json:"confidence"`
	Summary       string   `json:"summary"`
	Evidence      []string `json:"evidence"`
	// CapturePoint is where the capture sits relative to the data sender,
	// as inferred from which RTT half is long: "sender", "receiver" or
	// "unknown".
	CapturePoint string       `json:"capture_point"`
	Measurements Measurements `json:"measurements"`
	// Detectors: the raw outcome of each detector, for people tuning.
	Detectors Detectors `json:"detectors"`
	// SharedLimiter: this flow is one of several that share one limiter
	// (SharedLimiters); RateBps is then the aggregate rate.
	SharedLimiter *SharedLimiter `json:"shared_limiter,omitempty"`
	// Unknown names what could not be measured and why (e.g. "rtt":
	// "only the data direction is mirrored"); such a measurement is left
	// out rather than given as zero.
	Unknown map[string]string `json:"unknown,omitempty"`

	// Agg is what SharedLimiters needs of this flow (not in the JSON).
	Agg *AggInput `json:"-"`
}

// SharedLimiter is one limiter that several concurrent flows share.
type SharedLimiter struct {
	ID      int      `json:"id"`       // 1, 2, ... in the report
	Verdict string   `json:"verdict"`  // policer | shaper | congestion
	RateBps float64  `json:"rate_bps"` // the aggregate rate (wire bits/s)
	Flows   []uint64 `json:"flows"`    // the member flows' ids
	// Evidence: what the aggregate test found (each member's Evidence
	// has it too, before its own); for Correlate's finding
	Evidence []string `json:"-"`
}

// AggInput is the per-flow input of the aggregate tests.
type AggInput struct {
	Deliv     Series // delivered wire bits/s per bin, absolute bin times
	Lost      uint64
	Originals uint64
	Inflated  bool
	Flat      bool // its own delivered rate has a flat plateau
	QueueMS   float64
	MinRTTMS  float64
	Verdict   string // the flow's own verdict
	// Small: too little data to diagnose on its own, and so no member of
	// an aggregate either (iperf3's control connection, 38 kB
	// acknowledged, joined 8 flows through one FIFO from the ACKs alone)
	Small bool
	// Bursts: with the data alone at a receiver, its segments arrived in
	// bursts that no bottleneck at its rate spaced (decideOneWay)
	Bursts bool
	// NoQueue: its queue was not measured (the data alone at a receiver
	// without the timestamps' one-way delay): its rate joins an
	// aggregate's sum, not its queue
	NoQueue bool
	// OneWay: only the data direction was mirrored (QueueMS is the one-way
	// delay growth, MinRTTMS unknown)
	OneWay bool
	// Sent: the series is what the sender sent (the data alone at the
	// sender), retransmissions included, not what was delivered
	Sent bool
	// Upper: QueueMS is measured over an upper bound of the RTT: a
	// queue it shows is there, its absence proves nothing
	Upper bool
	// QueueN: the retransmission delays QueueMS is read from, when Sent
	QueueN int
	// LossRunFrac: the flow's share of lost segments that follow a lost
	// one (lossRuns)
	LossRunFrac float64
	// NoRuns: LossRunFrac could not be measured (the ACKs alone, without
	// SACK)
	NoRuns bool
	// Drops: the data segments at a sender-side point, times from
	// DropBase (µs), kept when the flow lost some and may join an
	// aggregate (chain.go)
	Drops    []DropEvent
	DropBase int64
	// CapBps: the packet dispersion's capacity at a receiver-side point
	// (0 elsewhere, or not measured): a queue the members share spaces
	// them all at its rate (serial.go)
	CapBps float64
	// AckCapBps: the same capacity from the spacing of the ACKs at a
	// sender-side point with both directions (0 when they queued on
	// their way back: dispersion), for the filled-queue test (serial.go)
	AckCapBps float64
}

// Detectors records what each detector concluded.
type Detectors struct {
	FlachCode0    int     `json:"flach_code_cutoff0"` // 0 = policed; 1..7 as in policing_detector.py
	FlachCode2    int     `json:"flach_code_cutoff2"`
	FlachRateBps  float64 `json:"flach_rate_bps,omitempty"`
	LevelShift    bool    `json:"level_shift"`
	LevelShiftBin int     `json:"level_shift_bin,omitempty"`
	PlateauBins   int     `json:"plateau_bins"`
	PlateauCV     float64 `json:"plateau_cv"`
	PlateauBps    float64 `json:"plateau_bps"`
	RwndRoundFrac float64 `json:"rwnd_full_round_frac"`
	RwndUtil      float64 `json:"rwnd_util"`
	AppIdleFrac   float64 `json:"app_idle_frac"`
	// ZeroFlightFrac: share of the transfer the sender sat with
	// everything acknowledged and the window open before new data (at a
	// sender-side point; 0 elsewhere)
	ZeroFlightFrac float64 `json:"zero_flight_frac"`
	InflatedLoss   float64 `json:"loss_after_inflated_rtt_frac"`
	// ChainRateBps: the drop chains' estimate of a policer's rate (a
	// sender-side point with drops, a receiver-side point's or the ACKs
	// alone's policer verdict; chain.go), 0 when not made
	ChainRateBps float64 `json:"drop_chain_rate_bps,omitempty"`
	// BucketRateBps, BucketBytes: the arrival curve's token bucket (a
	// policer verdict whose flow lost some; envelope.go), 0 when not
	// made. A detector only: the verdict's rate does not follow it
	BucketRateBps float64 `json:"bucket_rate_bps,omitempty"`
	BucketBytes   float64 `json:"bucket_bytes,omitempty"`
}

// Measurements are the per-flow measurements (issue item 1).
type Measurements struct {
	DurationS      float64         `json:"duration_s"`
	ClientToServer DirMeasurements `json:"client_to_server"`
	ServerToClient DirMeasurements `json:"server_to_client"`
	// Handshake: SYN -> SYN/ACK and SYN/ACK -> ACK at the capture point,
	// and SYN -> first response payload byte (session setup), ms.
	HandshakeSynSynAckMS float64 `json:"handshake_syn_synack_ms,omitempty"`
	HandshakeSynAckAckMS float64 `json:"handshake_synack_ack_ms,omitempty"`
	SetupMS              float64 `json:"setup_ms,omitempty"`
	RecordsDropped       uint64  `json:"records_dropped"`
}

// RateStats summarise bytes per bin over the active bins (bins with data).
type RateStats struct {
	BinMS    float64 `json:"bin_ms"`
	Bins     int     `json:"bins"`
	MeanBps  float64 `json:"mean_bps"`
	CV       float64 `json:"cv"`
	PeakMean float64 `json:"peak_mean"`
}

// Series is a downsampled throughput series: point i covers
// [StartNS + i*StepNS, StartNS + (i+1)*StepNS) and holds wire bits/s.
type Series struct {
	StartNS int64     `json:"start_ns"`
	StepNS  int64     `json:"step_ns"`
	Bps     []float64 `json:"bps"`
}

// Reduction is one congestion-window reduction between RTT rounds.
type Reduction struct {
	AtS   float64 `json:"at_s"`
	Ratio float64 `json:"ratio"` // new flight / old flight
	Kind  string  `json:"kind"`  // "0.5", "0.7", "1mss", "other"
	Cause string  `json:"cause"` // fast_retransmit | timeout | ecn | unknown
}

// RTTStats in ms. QueueMS = p90 - min.
type RTTStats struct {
	Samples int     `json:"samples"`
	MinMS   float64 `json:"min_ms"`
	P10MS   float64 `json:"p10_ms"`
	P50MS   float64 `json:"median_ms"`
	P90MS   float64 `json:"p90_ms"`
	QueueMS float64 `json:"queue_delay_ms"`
}

// DirMeasurements are the measurements of one direction.
type DirMeasurements struct {
	Packets      uint64      `json:"packets"`
	DataPackets  uint64      `json:"data_packets"`
	PayloadBytes uint64      `json:"payload_bytes"`
	WireBytes    uint64      `json:"wire_bytes"`
	Rates        []RateStats `json:"rates"` // 1 ms, 10 ms, 100 ms, 1 s
	Series100ms  Series      `json:"series_100ms"`
	Series1s     Series      `json:"series_1s"`

	// Loss at the capture point.
	Retransmissions    uint64  `json:"retransmissions"` // sender-side: segments at/below the highest seq
	Holes              uint64  `json:"holes"`           // receiver-side: sequence gaps opened
	HoleFillsRetx      uint64  `json:"hole_fills_retransmitted"`
	HoleFillsReordered uint64  `json:"hole_fills_reordered"`
	Duplicates         uint64  `json:"duplicates"` // data already seen in full (spurious at a receiver-side point)
	DSACKs             uint64  `json:"dsacks"`     // D-SACK blocks received for this direction's data
	LostSegments       uint64  `json:"lost_segments"`
	LossRate           float64 `json:"loss_rate"`
	ReorderEvents      uint64  `json:"reorder_events"`
	// CaptureGaps: segments the receiver acknowledged that never passed
	// the capture point (capture or mirror loss, not network loss).
	CaptureGaps uint64 `json:"capture_gaps"`

	// RTT: the full RTT seen from this direction's data.
	RTT      RTTStats `json:"rtt"`
	AckHalf  RTTStats `json:"ack_half"`  // data seen -> ACK covering it (Karn)
	EchoHalf RTTStats `json:"echo_half"` // ACK seen -> data echoing its TSval
	DupAcks  uint64   `json:"dup_acks_received"`
	ZeroWin  uint64   `json:"zero_window_acks"`
	RwndMaxB uint64   `json:"rwnd_max_bytes"`
	RwndMedB float64  `json:"rwnd_median_bytes"`
	CE       uint64   `json:"ce_marks"`
	ECE      uint64   `json:"ece_acks"`
	CWR      uint64   `json:"cwr"`
	MSS      uint32   `json:"mss"`

	// On/off and idle.
	OffPeriods      uint64  `json:"off_periods"`
	OffS            float64 `json:"off_s"`
	AppIdlePeriods  uint64  `json:"app_idle_periods"`
	AppIdleS        float64 `json:"app_idle_s"`
	LossStalls      uint64  `json:"loss_stalls"`
	RestartsAfterID uint64  `json:"restarts_after_idle"`

	// Flight per RTT round.
	Rounds         uint64      `json:"rounds"`
	FlightMaxB     uint64      `json:"flight_max_bytes"`
	FlightMedB     float64     `json:"flight_median_bytes"`
	SlowStartExitS float64     `json:"slow_start_exit_s,omitempty"`
	SlowStartExitB uint64      `json:"slow_start_exit_flight_bytes,omitempty"`
	Reductions     []Reduction `json:"window_reductions,omitempty"`
	ReductionCount uint64      `json:"window_reduction_count"`
	WindowFull     uint64      `json:"window_full_rounds"`
}
