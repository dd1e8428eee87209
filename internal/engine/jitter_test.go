package engine

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// holdBack copies the capture at src to dst with a fraction p of its
// frames held back by an exponentially distributed delay of mean meanMS,
// the frames behind them queued up (timestamps stay in order), as a
// sender descheduled now and then, or a mirror path's hiccups, deliver
// them to a target. It returns how many frames moved by more than 1 ms.
func holdBack(t *testing.T, src, dst string, p, meanMS float64, seed int64) int {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	var prev time.Time
	moved := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		ts := ci.Timestamp
		if rng.Float64() < p {
			ts = ts.Add(time.Duration(rng.ExpFloat64() * meanMS * float64(time.Millisecond)))
		}
		if ts.Before(prev) {
			ts = prev
		}
		prev = ts
		if ts.Sub(ci.Timestamp) > time.Millisecond {
			moved++
		}
		ci.Timestamp = ts
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return moved
}

// TestVerdictSurvivesHeldBackFrames: a mirror target, or listen fed by
// mirrorscope replay, timestamps frames when they arrive, and a sender or
// path that stalls now and then delivers some late. The receiver-side
// lab captures keep their verdicts with 0.2-2 % of their frames held back
// by 2-5 ms on average (up to 130 frames moved by more than a
// millisecond; replay on a busy 2-core machine left 1-77 late). Before
// the standing-queue test held its base to the RTT samples' 5th
// percentile, 0.5 % held back by 5 ms turned the policer into
// "congestion" (seed 1): a late ACK shortens the RTT sample it starts,
// the shortened samples lowered the minimum, and the rest read as a
// standing queue.
func TestVerdictSurvivesHeldBackFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("50 analyses")
	}
	for _, rel := range []string{"policer/policer.srv.pcap", "shaper/shaper.srv.pcap"} {
		src := filepath.Join(testdata, rel)
		want := verdicts(analyzeFiles(t, DefaultConfig(), src))
		if len(want) == 0 {
			t.Fatalf("%s: no diagnosed flow", rel)
		}
		for _, hb := range []struct{ p, meanMS float64 }{{0.002, 5}, {0.005, 2}, {0.005, 5}, {0.01, 2}, {0.01, 5}, {0.02, 5}} {
			for seed := int64(1); seed <= 4; seed++ {
				dst := filepath.Join(t.TempDir(), "late.pcap")
				moved := holdBack(t, src, dst, hb.p, hb.meanMS, seed)
				got := verdicts(analyzeFiles(t, DefaultConfig(), dst))
				if diff := cmp.Diff(got, want); diff != "" {
					t.Errorf("%s, %.1f %% of frames held back %.0f ms on average (seed %d; %d frames moved by more than 1 ms): verdicts (-got +want):\n%s",
						rel, 100*hb.p, hb.meanMS, seed, moved, diff)
				}
			}
		}
	}
}

// verdicts maps each diagnosed flow (client server) to its verdict.
func verdicts(r *result.Report) map[string]string {
	m := map[string]string{}
	for _, f := range r.Flows {
		if d, ok := f.Diagnosis.(*diagnose.Diagnosis); ok {
			m[f.Client+" "+f.Server] = d.Verdict
		}
	}
	return m
}
