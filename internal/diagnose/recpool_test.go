package diagnose

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRecordPoolSameDiagnosis: a flow whose records live in a pool gets
// exactly the diagnosis of one whose records are on the Go heap, flow
// after flow, and the pool reuses the chunks the finished flows gave
// back instead of mapping more.
func TestRecordPoolSameDiagnosis(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecords = 5 * recChunk
	pooled := cfg
	pooled.Records = NewRecordPool()
	for i := range 4 {
		want := synthFlow(cfg, 200_000)
		f := NewFlow(pooled)
		s := newSynth(20e3, 2e6)
		for range 200_000 {
			s.next(f)
		}
		if n := len(f.d[0].rb.chunks); n != 6 {
			t.Fatalf("flow %d holds %d chunks before Finish, want the head and 5", i, n)
		}
		got := f.Finish()
		if diff := cmp.Diff(got, want); diff != "" {
			t.Fatalf("flow %d: pooled records change the diagnosis (-got +want):\n%s", i, diff)
		}
		if f.d[0].rb.n != 0 || f.d[0].rb.chunks != nil {
			t.Errorf("flow %d keeps %d records after Finish", i, f.d[0].rb.n)
		}
		if again := f.Finish(); again != got {
			t.Errorf("flow %d: second Finish returned a different Diagnosis", i)
		}
	}
	p := pooled.Records
	if p.slabs != 1 || len(p.free) != 5 {
		t.Errorf("after 4 flows of 5 pooled chunks each: %d slabs mapped, %d chunks free; want 1 and 5", p.slabs, len(p.free))
	}
}

func synthFlow(cfg Config, n int) *Diagnosis {
	f := NewFlow(cfg)
	s := newSynth(20e3, 2e6)
	for range n {
		s.next(f)
	}
	return f.Finish()
}

// TestRecordPoolRealCapture: the same on a lab capture's largest flow.
func TestRecordPoolRealCapture(t *testing.T) {
	fl := largestOf(t, "testdata/eval/eval2_shaper_delay/eval2_shaper_delay.srv.pcap.gz")
	cfg := DefaultConfig()
	want := diagnoseFlow(cfg, fl)
	cfg.Records = NewRecordPool()
	for range 2 {
		if diff := cmp.Diff(diagnoseFlow(cfg, fl), want); diff != "" {
			t.Fatalf("pooled records change the diagnosis (-got +want):\n%s", diff)
		}
	}
	if cfg.Records.slabs != 1 {
		t.Errorf("%d slabs mapped for two flows in turn, want 1", cfg.Records.slabs)
	}
}

// TestRecordPoolConcurrent: engines on several goroutines share one pool
// (analyze --workers, listen's receivers); run under -race.
func TestRecordPoolConcurrent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecords = 3 * recChunk
	want := synthFlow(cfg, 40_000)
	cfg.Records = NewRecordPool()
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if diff := cmp.Diff(synthFlow(cfg, 40_000), want); diff != "" {
					errs <- diff
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for d := range errs {
		t.Fatalf("shared pool changes a diagnosis (-got +want):\n%s", d)
	}
}
