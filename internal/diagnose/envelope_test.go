package diagnose

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// policeSaw offers a saw-tooth through a token bucket of rate bps and
// depth bucket bytes: cycles of about cycleUS (0.5-1.5x) in which the
// offered rate grows from about lo to about hi times bps (±0.1: a
// sender that backs off after its drops and grows again, never twice
// alike), frames of 1514 bytes with up to jitterUS of timing noise. It
// returns every offered frame, lost or passed, as a sender-side point
// sees them. (A saw-tooth repeated exactly would be ambiguous: its
// arrival curve is a line of its mean rate over every window longer
// than a cycle, as long a span as the bucket's own. And one whose
// bursts outrun the bucket within a few ms, as reno's do at a long RTT
// before its ACK clock spaces them, passes r over no window of 10 ms or
// more: the rate is then not in the arrival curve.)
func policeSaw(bps, bucket, lo, hi float64, cycleUS int64, cycles int, jitterUS int64, seed uint64) []drop {
	rng := rand.New(rand.NewPCG(seed, 1))
	const flen = 1514
	var ev []drop
	tokens := bucket
	last, t, start := int64(0), int64(0), int64(0)
	for range cycles {
		cyc := cycleUS/2 + rng.Int64N(cycleUS)
		clo, chi := lo+0.2*rng.Float64()-0.1, hi+0.2*rng.Float64()-0.1
		for ; t < start+cyc; t += int64(flen * 8 / (bps * (clo + (chi-clo)*float64(t-start)/float64(cyc))) * 1e6) {
			tokens = math.Min(bucket, tokens+bps/8*float64(t-last)/1e6)
			last = t
			lost := tokens < flen
			if !lost {
				tokens -= flen
			}
			ts := t
			if jitterUS > 0 {
				ts += rng.Int64N(jitterUS)
			}
			ev = append(ev, drop{t: ts, flen: flen, lost: lost})
		}
		start += cyc
	}
	// (jitter may reorder neighbours; the fit wants time order)
	sort.Slice(ev, func(i, j int) bool { return ev[i].t < ev[j].t })
	return ev
}

func TestFitBucket(t *testing.T) {
	for _, tc := range []struct {
		name                string
		bps, bucket, lo, hi float64
		cycleUS             int64
		jitterUS            int64
	}{
		// cubic-like: under the rate most of the time, a small bucket
		{"small bucket, mean under the rate", 60e6, 17e3, 0.5, 1.3, 300_000, 0},
		{"small bucket, jitter 0.5 ms", 60e6, 17e3, 0.5, 1.3, 300_000, 500},
		{"small bucket, 20 Mbit/s", 20e6, 9e3, 0.5, 1.3, 400_000, 200},
		{"fast policer", 400e6, 64e3, 0.6, 1.2, 100_000, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := policeSaw(tc.bps, tc.bucket, tc.lo, tc.hi, tc.cycleUS, 12, tc.jitterUS, 1)
			fit := fitBucket(ev)
			if !fit.ok {
				t.Fatalf("no fit: %+v", fit)
			}
			if e := fit.bps/tc.bps - 1; math.Abs(e) > 0.05 {
				t.Errorf("rate %.2f Mbit/s, want %.2f (error %+.1f%%)", fit.bps/1e6, tc.bps/1e6, 100*e)
			}
			if e := fit.bytes/tc.bucket - 1; math.Abs(e) > 0.35 {
				t.Errorf("depth %.0f B, want %.0f (error %+.1f%%)", fit.bytes, tc.bucket, 100*e)
			}
			// the delivered mean is well under the rate: the reason for
			// the fit
			var passed float64
			for _, e := range ev {
				if !e.lost {
					passed += float64(e.flen)
				}
			}
			mean := passed * 8e6 / float64(ev[len(ev)-1].t-ev[0].t)
			if mean > 0.95*tc.bps {
				t.Fatalf("test traffic delivered %.1f of %.1f Mbit/s: not under the rate", mean/1e6, tc.bps/1e6)
			}
		})
	}
}

// A flow not policed (a constant rate, nothing dropped) touches every
// line through the origin: no bucket, and nothing to raise.
func TestFitBucketConstantRate(t *testing.T) {
	var ev []drop
	for i := range 20000 {
		ev = append(ev, drop{t: int64(i) * 1211, flen: 1514}) // 10 Mbit/s
	}
	if fit := fitBucket(ev); fit.ok {
		t.Fatalf("fit %+v on a constant rate, want none", fit)
	}
}

func TestFitBucketTooShort(t *testing.T) {
	var ev []drop
	for i := range 100 {
		ev = append(ev, drop{t: int64(i) * 300, flen: 1514})
	}
	if fit := fitBucket(ev); fit.ok {
		t.Fatalf("30 ms of frames fitted %+v; want no fit (windows from 10 ms, %d needed)", fit, envMinPoints)
	}
	if fit := fitBucket(nil); fit.ok {
		t.Fatal("fit on nothing")
	}
	if fit := fitBucket([]drop{{t: 5, flen: 100, lost: true}}); fit.ok {
		t.Fatal("fit on lost frames only")
	}
}

func TestWindowMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var ev []drop
	t0 := int64(0)
	for range 3000 {
		t0 += rng.Int64N(3000)
		ev = append(ev, drop{t: t0, flen: uint32(60 + rng.IntN(1455)), lost: rng.IntN(10) == 0})
	}
	for _, w := range []int64{1, 1000, 10_000, 123_456, 1_000_000, 1 << 40} {
		var want uint64
		for i := range ev {
			var s uint64
			for j := i; j < len(ev) && ev[j].t-ev[i].t < w; j++ {
				if !ev[j].lost {
					s += uint64(ev[j].flen)
				}
			}
			want = max(want, s)
		}
		if got := windowMax(ev, w); got != float64(want) {
			t.Errorf("w=%d: %v, want %d", w, got, want)
		}
	}
}
