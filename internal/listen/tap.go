package listen

import (
	"time"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Tap receives every record the listener writes as a JSON line (flows,
// findings, the summary), in the same order, plus a snapshot of the
// session registry every Config.TapInterval. It is how publishers (Kafka,
// CloudWatch EMF) see the stream without the receive path knowing them.
//
// All calls come from the sink's one goroutine, never concurrently, and a
// slow Tap delays the JSON lines: a Tap that talks to the network must
// buffer (bounded) and count what it drops. The values passed are valid
// during the call only; copy what is kept.
type Tap interface {
	// Flow is an ended flow (interim: a report of a flow still open).
	Flow(f *result.Flow, interim bool)
	// Finding is a live or final finding.
	Finding(f *result.Finding)
	// Sessions is the registry's counters at now (cumulative, as
	// /api/sessions shows them).
	Sessions(now time.Time, s []SessionInfo)
	// Summary is the last record of a run; Close follows.
	Summary(s *Summary)
	// Close flushes and ends the tap; its error is Run's when nothing
	// failed before.
	Close() error
}
