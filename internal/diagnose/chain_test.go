package diagnose

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// policed runs bursty senders through a token bucket of rate bps and
// burst bytes: every period a burst of n 1514-byte segments spaced
// gapUS apart from each of flows senders, staggered. It returns the
// segments with their fate, as a sender-side point sees them, one list
// per sender.
func policed(bps, burst float64, flows, n int, gapUS, period int64, rounds int, seed uint64) [][]drop {
	r := rand.New(rand.NewPCG(seed, 1))
	type arr struct {
		t    int64 // µs
		flow int
	}
	var arrivals []arr
	for k := 0; k < rounds; k++ {
		for f := 0; f < flows; f++ {
			start := int64(k)*period + int64(f)*period/int64(flows) + r.Int64N(period/int64(4*flows)+1)
			for i := 0; i < n; i++ {
				arrivals = append(arrivals, arr{t: start + int64(i)*gapUS, flow: f})
			}
		}
	}
	// time order (bursts of different senders may overlap)
	for i := 1; i < len(arrivals); i++ {
		for j := i; j > 0 && arrivals[j].t < arrivals[j-1].t; j-- {
			arrivals[j], arrivals[j-1] = arrivals[j-1], arrivals[j]
		}
	}
	out := make([][]drop, flows)
	tokens, last := burst, int64(0)
	for _, a := range arrivals {
		tokens = math.Min(burst, tokens+bps/8*float64(a.t-last)/1e6)
		last = a.t
		lost := tokens < 1514
		if !lost {
			tokens -= 1514
		}
		out[a.flow] = append(out[a.flow], drop{t: a.t, flen: 1514, lost: lost})
	}
	return out
}

func TestChainRate(t *testing.T) {
	for _, tc := range []struct {
		name         string
		bps, burst   float64
		flows, n     int
		gapUS        int64 // 121: 100 Mbit/s, 12: 1 Gbit/s
		periodUS     int64
		wantUnderMax float64 // the delivered average is at most this share of the rate
	}{
		// bursts of 40 segments every 100 ms against a 13 kB bucket at
		// 7 Mbit/s: most of each burst is dropped, the senders idle
		// the rest of the time (cubic at a long RTT)
		{"one sender, small bucket", 7e6, 13e3, 1, 40, 121, 100_000, 0.5},
		{"eight senders, small bucket", 7e6, 13e3, 8, 40, 121, 400_000, 0.5},
		{"fast policer", 64e6, 56e3, 6, 150, 121, 240_000, 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lists := policed(tc.bps, tc.burst, tc.flows, tc.n, tc.gapUS, tc.periodUS, 60, 7)
			ev := mergeDrops(lists)
			if tc.flows == 1 {
				ev = lists[0]
			}
			var passed float64
			for _, e := range ev {
				if !e.lost {
					passed += float64(e.flen)
				}
			}
			avg := passed * 8 / (float64(ev[len(ev)-1].t-ev[0].t) / 1e6)
			if avg > tc.wantUnderMax*tc.bps {
				t.Fatalf("the senders delivered %.2f Mbit/s on average: not under the %.1f Mbit/s rate as the case needs", avg/1e6, tc.bps/1e6)
			}
			c := chainRate(ev)
			if !c.ok {
				t.Fatalf("chainRate = %+v, want an estimate", c)
			}
			if e := math.Abs(c.bps-tc.bps) / tc.bps; e > 0.05 {
				t.Errorf("chainRate = %.2f Mbit/s (%d chains), want %.2f within 5%%", c.bps/1e6, c.chains, tc.bps/1e6)
			}
			t.Logf("delivered %.2f Mbit/s on average, chains %.2f Mbit/s (%d chains)", avg/1e6, c.bps/1e6, c.chains)
			if !c.raises(avg) {
				t.Errorf("the estimate does not raise the delivered %.2f Mbit/s", avg/1e6)
			}
		})
	}
}

// Drops microseconds apart inside one burst carry no rate: with no
// chain spanning a token's time the estimate (passed bytes over
// microseconds) would exceed anything the sender ever sent.
func TestChainRateBurstOnly(t *testing.T) {
	var ev []drop
	for k := int64(0); k < 20; k++ {
		base := k * 50_000
		for i := int64(0); i < 12; i++ {
			// a pass between two drops 2 µs apart
			ev = append(ev, drop{t: base + i*2, flen: 1514, lost: i%3 != 1})
		}
	}
	if c := chainRate(ev); c.ok {
		t.Errorf("chainRate = %+v over drops µs apart, want no estimate", c)
	}
}

func TestChainRateTooFewDrops(t *testing.T) {
	ev := []drop{{t: 0, flen: 1514, lost: true}, {t: 1000, flen: 1514}, {t: 2000, flen: 1514, lost: true}}
	if c := chainRate(ev); c.ok || c.bps != 0 {
		t.Errorf("chainRate = %+v from 2 drops, want none", c)
	}
	if c := chainRate(nil); c.ok {
		t.Errorf("chainRate(nil) = %+v", c)
	}
}

func TestMergeDrops(t *testing.T) {
	a := []drop{{t: 0}, {t: 10}, {t: 20}, {t: 30}}
	b := []drop{{t: 5}, {t: 15}, {t: 25}}
	got := mergeDrops([][]drop{a, b})
	// the window both cover: 5-25
	want := []int64{5, 10, 15, 20, 25}
	if len(got) != len(want) {
		t.Fatalf("mergeDrops = %v, want times %v", got, want)
	}
	for i := range want {
		if got[i].t != want[i] {
			t.Fatalf("mergeDrops = %v, want times %v", got, want)
		}
	}
	if mergeDrops([][]drop{a, nil}) != nil {
		t.Error("mergeDrops with an empty member, want nil")
	}
}

// TestChainRaises: an estimate above the delivered rate stands only when
// its chains span two segments' worth of tokens at that rate.
func TestChainRaises(t *testing.T) {
	for _, tc := range []struct {
		c    chainEstimate
		rate float64
		want bool
	}{
		{chainEstimate{bps: 62e6, chains: 4, spanUS: 210, ok: true}, 2.8e6, false}, // chained inside bursts only
		{chainEstimate{bps: 14.9e6, chains: 6, spanUS: 3345, ok: true}, 10.7e6, true},
		{chainEstimate{bps: 11e6, chains: 6, spanUS: 9000, ok: true}, 10.7e6, false}, // within 15%
		{chainEstimate{bps: 20e6, chains: 6, spanUS: 9000}, 10.7e6, false},           // no estimate
	} {
		if got := tc.c.raises(tc.rate); got != tc.want {
			t.Errorf("%+v.raises(%.1f Mbit/s) = %v, want %v", tc.c, tc.rate/1e6, got, tc.want)
		}
	}
}

// TestSharedPolicerDropChains: flows that share a policer but stay under
// its rate between their bursts sum to a plateau well under it; the
// aggregate takes the rate from their drops' timing, and Correlate's
// finding says so.
func TestSharedPolicerDropChains(t *testing.T) {
	lists := policed(7e6, 13e3, 3, 40, 121, 400_000, 25, 11)
	var flows []FlowRef
	for i, l := range lists {
		bps := make([]float64, 100)
		for j := range bps {
			bps[j] = 0.9e6 * (1 + 0.01*float64((i+j)%3))
		}
		var lost uint64
		for _, e := range l {
			if e.lost {
				lost++
			}
		}
		d := &Diagnosis{Verdict: VerdictRandomLoss, Visibility: VisBoth, Direction: "client_to_server", Summary: "limited by random loss",
			Agg: &AggInput{Deliv: Series{StartNS: 0, StepNS: 100e6, Bps: bps}, Lost: lost, Originals: uint64(len(l)),
				MinRTTMS: 50, LossRunFrac: 0.6, Verdict: VerdictRandomLoss}}
		d.Agg.DropBase, d.Agg.Drops = compactDrops(l)
		flows = append(flows, FlowRef{ID: uint64(i + 1), Client: fmt.Sprintf("10.0.0.1:%d", 40000+i), Server: "10.0.0.2:5201",
			StartNS: 0, EndNS: 10e9, Diagnosis: d})
	}
	var finding *Finding
	got := Correlate(flows)
	for i := range got {
		if got[i].Kind == KindSharedCeiling {
			finding = &got[i]
		}
	}
	if finding == nil {
		t.Fatalf("no shared ceiling in %+v", got)
	}
	d := flows[0].Diagnosis
	if d.Verdict != VerdictPolicer || math.Abs(d.RateBps-7e6)/7e6 > 0.05 {
		t.Errorf("members: %s at %.2f Mbit/s (%s), want a policer at 7 within 5%%", d.Verdict, d.RateBps/1e6, d.Summary)
	}
	ev := strings.Join(finding.Evidence, "\n")
	if !strings.Contains(ev, "concurrent flows") || !strings.Contains(ev, "drop timing") {
		t.Errorf("finding evidence %q, want the aggregate's and the drop timing's", finding.Evidence)
	}
}

func TestCompactDrops(t *testing.T) {
	ev := []drop{{t: 5_000_000_000, flen: 1514, lost: true}, {t: 5_000_000_121, flen: 66}, {t: 5_000_004_000, flen: 70000, lost: true}}
	base, c := compactDrops(ev)
	got := expandDrops(base, c)
	want := []drop{{t: 5_000_000_000, flen: 1514, lost: true}, {t: 5_000_000_121, flen: 66}, {t: 5_000_004_000, flen: 65535, lost: true}}
	if diff := cmp.Diff(got, want, cmp.AllowUnexported(drop{})); diff != "" {
		t.Errorf("compact and back (-got +want):\n%s", diff)
	}
	// past 2^32 µs the list ends
	_, c = compactDrops([]drop{{t: 0}, {t: 1 << 33}})
	if len(c) != 1 {
		t.Errorf("compactDrops kept %d events past 71 minutes", len(c))
	}
}
