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
// lab captures keep their verdicts with 0.2 % of their frames held back
// by 5 ms on average (up to a few tens of frames moved by more than a
// millisecond, as replay reported on a busy 2-core machine). Held back
// more (0.5 % by 5 ms), the policer's became "congestion" in 1 of 8
// draws: a late ACK shortens the RTT sample it starts, the shortened
// samples lower the RTT minimum, and the rest reads as a standing queue.
// This is why listen's replay test checks its verdicts only when the
// replay measured its frames on time.
func TestVerdictSurvivesHeldBackFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("16 analyses")
	}
	for _, rel := range []string{"policer/policer.srv.pcap", "shaper/shaper.srv.pcap"} {
		src := filepath.Join(testdata, rel)
		want := verdicts(analyzeFiles(t, DefaultConfig(), src))
		if len(want) == 0 {
			t.Fatalf("%s: no diagnosed flow", rel)
		}
		for seed := int64(1); seed <= 8; seed++ {
			dst := filepath.Join(t.TempDir(), "late.pcap")
			moved := holdBack(t, src, dst, 0.002, 5, seed)
			got := verdicts(analyzeFiles(t, DefaultConfig(), dst))
			t.Logf("%s, seed %d: %d frames moved by more than 1 ms", rel, seed, moved)
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("%s, seed %d, %d frames moved by more than 1 ms: verdicts (-got +want):\n%s", rel, seed, moved, diff)
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
