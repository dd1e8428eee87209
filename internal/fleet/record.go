package fleet

import (
	"encoding/json"
	"fmt"

	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// SchemaVersion is the version of the Kafka record schema (docs/fleet.md):
// the records carry result.Flow and result.Capture, so it is the report's.
// It is bumped only on incompatible changes; fields are only ever added.
const SchemaVersion = result.SchemaVersion

// Record types, the "type" field of every record.
const (
	TypeFlow    = "flow"
	TypeFinding = "finding"
	TypeSeries  = "series"
	TypeSummary = "summary"
)

// Source names the mirror source of a record: the instance when known,
// else the ENI, else only the outer source address of the VXLAN/GENEVE
// packets (the source ENI's address, or a GWLB's). KeyKind says which one
// Key is.
type Source struct {
	Key      string `json:"key"`
	KeyKind  string `json:"key_kind"` // instance | eni | outer_src | target
	OuterSrc string `json:"outer_src,omitempty"`
	VNI      uint32 `json:"vni"`
	ENI      string `json:"eni,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Header is what every record carries besides its line's fields.
type Header struct {
	SchemaVersion int    `json:"schema_version"`
	Type          string `json:"type"`
	// Target is the mirror target (listen process) that saw the record.
	Target string `json:"target"`
	// Seq counts the records of one listen run (Boot), from 1: a gap
	// in Seq is a record dropped by the publisher.
	Seq    uint64  `json:"seq"`
	Boot   string  `json:"boot"`
	Source *Source `json:"source,omitempty"`
}

// FlowRecord is a flow line (docs/json.md flow object) with the header.
type FlowRecord struct {
	Header
	Interim bool `json:"interim,omitempty"`
	*result.Flow
}

// FindingRecord is a finding line with the header.
type FindingRecord struct {
	Header
	*result.Finding
}

// SeriesRecord is one session's traffic over one interval (normally a
// second) as the target received it: the deltas of the session counters
// of /api/sessions between two snapshots.
type SeriesRecord struct {
	Header
	// Time is the end of the interval (RFC 3339), IntervalS its length.
	Time           string  `json:"time"`
	UnixMS         int64   `json:"unix_ms"`
	IntervalS      float64 `json:"interval_s"`
	OuterDst       string  `json:"outer_dst,omitempty"`
	Encap          string  `json:"encap"`
	GWLBEndpointID string  `json:"gwlb_endpoint_id,omitempty"`
	Packets        uint64  `json:"packets"`
	Bytes          uint64  `json:"bytes"`
	Drops          uint64  `json:"drops"`
	Truncated      uint64  `json:"truncated"`
	// In/Out: the same by direction, to and from the source ENI's
	// address (listen.DirCounts); packets of other addresses are in
	// neither.
	listen.DirCounts
	// BPS is Bytes*8/IntervalS (inner frame bits per second).
	BPS float64 `json:"bps"`
}

// SummaryRecord is the listener's last line with the header.
type SummaryRecord struct {
	Header
	Listener listen.ListenerStats `json:"listener"`
	Capture  result.Capture       `json:"capture"`
}

// Envelope is a decoded record of any type: the header, and the one
// body its Type names.
type Envelope struct {
	Header
	Flow    *FlowRecord
	Finding *FindingRecord
	Series  *SeriesRecord
	Summary *SummaryRecord
}

// Decode parses one record value. Unknown types and newer schema versions
// are errors (counted and skipped by the consumer).
func Decode(b []byte) (*Envelope, error) {
	var h Header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if h.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("record: schema_version %d, want %d", h.SchemaVersion, SchemaVersion)
	}
	e := &Envelope{Header: h}
	var err error
	switch h.Type {
	case TypeFlow:
		e.Flow = &FlowRecord{Flow: &result.Flow{}}
		err = json.Unmarshal(b, e.Flow)
	case TypeFinding:
		e.Finding = &FindingRecord{Finding: &result.Finding{}}
		err = json.Unmarshal(b, e.Finding)
	case TypeSeries:
		e.Series = &SeriesRecord{}
		err = json.Unmarshal(b, e.Series)
	case TypeSummary:
		e.Summary = &SummaryRecord{}
		err = json.Unmarshal(b, e.Summary)
	default:
		return nil, fmt.Errorf("record: unknown type %q", h.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", h.Type, err)
	}
	return e, nil
}
