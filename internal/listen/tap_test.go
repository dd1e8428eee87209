package listen

import (
	"sync"
	"testing"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// recTap records what a Tap is handed, to compare with the JSON lines.
type recTap struct {
	mu       sync.Mutex
	flows    int
	findings int
	ticks    int
	lastSess []SessionInfo
	sum      *Summary
	closed   int
}

func (r *recTap) Flow(f *result.Flow, interim bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !interim {
		r.flows++
	}
}

func (r *recTap) Finding(*result.Finding) { r.mu.Lock(); r.findings++; r.mu.Unlock() }

func (r *recTap) Sessions(_ time.Time, s []SessionInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks++
	r.lastSess = append(r.lastSess[:0], s...)
}

func (r *recTap) Summary(s *Summary) { r.mu.Lock(); r.sum = s; r.mu.Unlock() }
func (r *recTap) Close() error       { r.mu.Lock(); r.closed++; r.mu.Unlock(); return nil }

// TestTapSeesEveryLine: a tap is handed every flow and finding written
// as a JSON line, session snapshots while running, then the summary, and
// is closed once.
func TestTapSeesEveryLine(t *testing.T) {
	tap := &recTap{}
	r := startListener(t, func(c *Config) {
		c.Taps = []Tap{tap}
		c.TapInterval = 20 * time.Millisecond
	})
	st := replayTo(t, r.l.VXLANAddr().String(), "vxlan", 4242, true, capturePath(t, "policer/policer.srv.pcap"))
	r.waitFor(t, st.Sent)
	time.Sleep(100 * time.Millisecond) // a few ticks with the session known
	r.stop(t)
	if r.err != nil {
		t.Fatal(r.err)
	}
	flows, findings, sum := parseLines(t, r.out.String())
	ended := 0
	for _, f := range flows {
		if !f.Interim {
			ended++
		}
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.flows != ended || ended == 0 {
		t.Errorf("tap saw %d ended flows, lines have %d", tap.flows, ended)
	}
	if tap.findings != len(findings) {
		t.Errorf("tap saw %d findings, lines have %d", tap.findings, len(findings))
	}
	if tap.ticks == 0 || len(tap.lastSess) == 0 || tap.lastSess[0].VNI != 4242 {
		t.Errorf("session snapshots: %d ticks, last %+v", tap.ticks, tap.lastSess)
	}
	if tap.sum == nil || sum == nil || tap.sum.Listener.Datagrams != sum.Listener.Datagrams {
		t.Errorf("tap summary %+v, line summary %+v", tap.sum, sum)
	}
	if tap.closed != 1 {
		t.Errorf("closed %d times", tap.closed)
	}
}
