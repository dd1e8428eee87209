package diagnose

// Config holds the thresholds of the detectors. Start from DefaultConfig;
// the Flach constants are the ones of USC-NSL/policing-detection
// (policing_detector.py) and must stay unchanged to keep its published
// accuracy meaning.
type Config struct {
	// MinDataPackets and MinDurationNS: below either, the verdict is
	// insufficient_data.
	MinDataPackets int
	MinDurationNS  int64
	// MaxRecords caps the per-data-segment record buffer (24 B a record).
	MaxRecords int
	// Records, if set, lends the record chunks beyond a flow's first
	// 64 records and takes them back at Finish (see RecordPool); nil
	// allocates them on the Go heap.
	Records *RecordPool
	// SeriesPoints caps the stored 100 ms and 1 s throughput series.
	SeriesPoints int
	// IdleFloorNS is the smallest data gap counted as an off period; the
	// gap must also exceed IdleRTTs times the path's minimum RTT.
	IdleFloorNS int64
	IdleRTTs    float64

	// Flach et al. policing detector.
	FlachMinSamples        int     // MIN_NUM_SAMPLES = 15
	FlachMinLossSlices     int     // MIN_NUM_SLICES_WITH_LOSS = 3
	FlachLateLossBytes     float64 // LATE_LOSS_THRESHOLD = 2E6
	FlachLossRTTMult       float64 // ZERO_THRESHOLD_LOSS_RTT_MULTIPLIER = 2.0
	FlachPassRTTMult       float64 // ZERO_THRESHOLD_PASS_RTT_MULTIPLIER = 0.75
	FlachLossOutOfRange    float64 // ZERO_THRESHOLD_LOSS_OUT_OF_RANGE = 0.10
	FlachPassOutOfRange    float64 // ZERO_THRESHOLD_PASS_OUT_OF_RANGE = 0.03
	FlachInflatedPct       float64 // INFLATED_RTT_PERCENTILE = 10
	FlachInflatedFactor    float64 // INFLATED_RTT_THRESHOLD = 1.3
	FlachInflatedMinMS     float64 // 20 ms
	FlachInflatedTolerance float64 // INFLATED_RTT_TOLERANCE = 0.2

	// ShaperProbe level shift (tbdetect.c getLevelShift / diffprobe.h).
	LevelShiftMinBefore int     // 3
	LevelShiftMinAfter  int     // 8
	LevelShiftRatio     float64 // 1.10
	SmoothFactor        float64 // 1.10

	// Plateau / shaper.
	PlateauMinBins    int     // 10 bins of 100 ms
	PlateauMaxCV      float64 // 0.1
	ShaperMinQueueMS  float64 // queueing delay p90-min at least this...
	ShaperMinInflate  float64 // ...and p90/min at least this
	ShaperMaxLossFrac float64 // tail drops of a small shaper queue: 0.05

	// Receiver window: flight >= RwndFullFrac*rwnd in >= RwndRoundsFrac of rounds.
	RwndFullFrac   float64
	RwndRoundsFrac float64
	// RwndUtil: at a receiver-side point, where the capture does not see
	// the sender's flight, rate*RTT/rwnd at least this.
	RwndUtil float64

	// Application: share of the active time spent idle with everything
	// acknowledged.
	AppIdleFrac float64

	// Reordering: reorder events at least this share of data segments.
	ReorderMinFrac float64
	// CongestionInflated: share of losses preceded by an inflated RTT
	// (Flach's test) above which loss is congestion rather than random.
	CongestionInflated float64
	// Loss: below this share of segments lost, loss is not a limiter.
	LossMinFrac float64
	// PolicerRunFrac: with no RTT growth, losses of which at least this
	// share follow a lost segment (drops in runs) are a token bucket's,
	// not random loss (whose runs have the loss rate's probability).
	PolicerRunFrac float64

	// Shared bottleneck (packet-pair dispersion, see dispersion): the
	// capacity is the rate of the DispersionQuantile of the per-byte
	// gaps (at least DispersionMinSamples gaps); a flow whose rate is
	// below SharedMaxShare of it shares its bottleneck with other
	// traffic, so a flat rate with queueing is not its own shaper. A
	// standing queue: RTT p10 at least StandingQueueFactor times the
	// minimum (and ShaperMinQueueMS above it).
	DispersionQuantile   float64
	DispersionMinSamples int
	SharedMaxShare       float64
	StandingQueueFactor  float64
}

// DefaultConfig returns the tuned defaults (tuned on the lab "tune" set
// only; see docs/accuracy.md).
func DefaultConfig() Config {
	return Config{
		MinDataPackets: 50,
		MinDurationNS:  200e6,
		MaxRecords:     1 << 17,
		SeriesPoints:   2000,
		IdleFloorNS:    1e6,
		IdleRTTs:       2,

		FlachMinSamples:        15,
		FlachMinLossSlices:     3,
		FlachLateLossBytes:     2e6,
		FlachLossRTTMult:       2.0,
		FlachPassRTTMult:       0.75,
		FlachLossOutOfRange:    0.10,
		FlachPassOutOfRange:    0.03,
		FlachInflatedPct:       10,
		FlachInflatedFactor:    1.3,
		FlachInflatedMinMS:     20,
		FlachInflatedTolerance: 0.2,

		LevelShiftMinBefore: 3,
		LevelShiftMinAfter:  8,
		LevelShiftRatio:     1.10,
		SmoothFactor:        1.10,

		PlateauMinBins:    10,
		PlateauMaxCV:      0.1,
		ShaperMinQueueMS:  2,
		ShaperMinInflate:  1.5,
		ShaperMaxLossFrac: 0.05,

		RwndFullFrac:   0.9,
		RwndRoundsFrac: 0.5,
		RwndUtil:       0.85,

		AppIdleFrac: 0.25,

		ReorderMinFrac: 0.0025,
		LossMinFrac:    0.001,
		PolicerRunFrac: 0.3,

		CongestionInflated: 0.5,

		DispersionQuantile:   0.3,
		DispersionMinSamples: 20,
		SharedMaxShare:       0.6,
		StandingQueueFactor:  1.3,
	}
}
