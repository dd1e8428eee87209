package diagnose

import "testing"

// TestAckOwdWindows: the ACKs' queueing counts each window's least
// sample, so a receiver's wait for a second segment or its delayed-ACK
// timer (added to every other sample here) is no queue, while a queue
// that holds over the window is.
func TestAckOwdWindows(t *testing.T) {
	const base = 5_000_000 // µs: the clock offset plus the path
	tests := []struct {
		name   string
		hold   func(i int, ts int64) int64 // µs added to sample i at ts
		lo, hi float64                     // ms
	}{
		{"no queue", func(int, int64) int64 { return 0 }, 0, 1},
		{"delayed ACKs, no queue", func(i int, _ int64) int64 {
			if i%2 == 1 {
				return 40_000 // the delayed-ACK timer
			}
			return 0
		}, 0, 1},
		{"a queue of 30 ms from 2 s on", func(_ int, ts int64) int64 {
			if ts >= 2e9 {
				return 30_000
			}
			return 0
		}, 29, 31},
		{"a queue and delayed ACKs", func(i int, ts int64) int64 {
			q := int64(0)
			if ts >= 2e9 {
				q = 30_000
			}
			if i%2 == 1 {
				q += 40_000
			}
			return q
		}, 29, 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dirState
			// 25 ACKs per second for 6 s (a member of 5 flows sharing a
			// 2.7 Mbit/s policer)
			for i := range 150 {
				ts := int64(i) * 40e6
				d.ackOwdSample(base+tt.hold(i, ts), ts)
			}
			if d.ackOwdWN < ackOwdMinWins {
				t.Fatalf("%d windows closed, want >= %d", d.ackOwdWN, ackOwdMinWins)
			}
			if q := d.ackOwdQ(); q < tt.lo || q > tt.hi {
				t.Errorf("ackOwdQ = %.0f ms, want %.0f-%.0f", q, tt.lo, tt.hi)
			}
		})
	}
}
