package diagnose

import (
	"fmt"
	"strings"
	"testing"
)

func TestSerialized(t *testing.T) {
	for _, tc := range []struct {
		name     string
		receiver bool
		cap, pl  float64
		want     bool
	}{
		{"shaper alone at it", true, 10.2e6, 10.1e6, true},
		{"lower edge", true, 9.4e6, 10e6, true},
		{"upper edge", true, 10.8e6, 10e6, true},
		{"just over", true, 10.9e6, 10e6, false},
		{"just under", true, 9.3e6, 10e6, false},
		{"policer: the sender's bursts", true, 15e6, 10e6, false},
		{"sender side: the ACKs' spacing", false, 10e6, 10e6, false},
		{"not measured", true, 0, 10e6, false},
		{"no plateau", true, 10e6, 0, false},
	} {
		a := &analysis{receiver: tc.receiver, capBps: tc.cap, plateauBps: tc.pl}
		if got := a.serialized(); got != tc.want {
			t.Errorf("%s: serialized() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSerializedShaper(t *testing.T) {
	a := &analysis{receiver: true, capBps: 26.9e6, plateauBps: 26.0e6, plateauCV: 0.004, queueMS: 116, lossFrac: 0.05, vis: VisBoth}
	dg := &Diagnosis{Verdict: VerdictPolicer, RateBps: 26.0e6, BurstBytes: 20e3, Confidence: 0.9, Summary: "policed at 26.0 Mbit/s, burst ~20 kB"}
	new(Flow).serializedShaper(a, dg)
	if dg.Verdict != VerdictShaper || dg.RateBps != 26e6 || dg.BurstBytes != 0 || dg.Confidence != 0.5 || dg.QueueDelayMS != 116 {
		t.Errorf("got %s at %.0f, burst %.0f, confidence %.2f, queue %.0f ms; want shaper at 26000000, no burst, 0.50, 116 ms",
			dg.Verdict, dg.RateBps, dg.BurstBytes, dg.Confidence, dg.QueueDelayMS)
	}
	if !strings.HasPrefix(dg.Summary, "shaped at 26.0 Mbit/s: segments arrive one serialisation time apart") {
		t.Errorf("summary %q", dg.Summary)
	}
	if n := len(dg.Evidence); n != 2 || !strings.Contains(dg.Evidence[1], "policed at 26.0 Mbit/s") {
		t.Errorf("evidence %q: want the dispersion and the policer verdict it replaced", dg.Evidence)
	}
	// other verdicts, and flows whose packets kept the sender's spacing,
	// stay as they are
	for _, tc := range []struct {
		verdict string
		cap     float64
	}{{VerdictRandomLoss, 26.9e6}, {VerdictPolicer, 60e6}} {
		a.capBps = tc.cap
		dg := &Diagnosis{Verdict: tc.verdict, Summary: "x"}
		new(Flow).serializedShaper(a, dg)
		if dg.Verdict != tc.verdict || dg.Summary != "x" {
			t.Errorf("%s with capacity %.0f: became %s %q", tc.verdict, tc.cap, dg.Verdict, dg.Summary)
		}
	}
}

func TestMembersSerialized(t *testing.T) {
	refs := func(caps ...float64) ([]FlowRef, []int) {
		var fl []FlowRef
		var idx []int
		for i, c := range caps {
			fl = append(fl, FlowRef{ID: uint64(i + 1), Diagnosis: &Diagnosis{Agg: &AggInput{CapBps: c}}})
			idx = append(idx, i)
		}
		return fl, idx
	}
	for _, tc := range []struct {
		name string
		caps []float64
		sum  float64
		want bool
	}{
		// 6 cubic flows through an 11 Mbit/s shaper: every member 11.1
		{"one queue", []float64{11.1e6, 11.1e6, 11.1e6, 11.1e6, 11.1e6, 11.1e6}, 11.0e6, true},
		// the members of a shared policer: spread apart (heldout11 p034)
		{"policer members apart", []float64{10.3e6, 10.6e6, 11.7e6, 11.7e6, 12.2e6, 12.8e6, 13.5e6}, 17.5e6, false},
		// alike but off the summed rate (heldout13 o028: 0.63-0.66 of it)
		{"alike, off the sum", []float64{23.3e6, 23.3e6, 24.4e6, 24.4e6, 24.4e6, 24.4e6}, 36.1e6, false},
		{"a member unmeasured", []float64{11.1e6, 0, 11.1e6}, 11.0e6, false},
	} {
		fl, idx := refs(tc.caps...)
		if _, got := membersSerialized(fl, idx, tc.sum); got != tc.want {
			t.Errorf("%s: membersSerialized = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMembersFill(t *testing.T) {
	const c = 23.26e6
	peaks := func(med, top float64) []float64 {
		// 100 bins: 80 around the median, 20 at the top
		pts := make([]float64, 100)
		for i := range pts {
			pts[i] = med * (0.9 + 0.2*float64(i%10)/9)
			if i%5 == 0 {
				pts[i] = top
			}
		}
		return pts
	}
	for _, tc := range []struct {
		name     string
		caps     []float64 // CapBps, then AckCapBps for negative values
		pts      []float64
		med      float64
		want     bool
		wantRate float64
	}{
		// 3 reno flows through a 716-frame FIFO at 23 Mbit/s losing 24%
		// (heldout24 c011, spent): the sum's median 19.6, its 85th
		// percentile 23.0
		{"filled between losses", []float64{c, c, c}, peaks(19.6e6, 23.0e6), 19.6e6, true, c},
		// the capacity from the ACKs at the senders (heldout24 c054)
		{"from the ACKs", []float64{-2.907e6, -2.907e6, -2.907e6, -2.907e6, -2.907e6}, peaks(2.908e6, 3.6e6), 2.908e6, true, 2.907e6},
		// one member's spacing apart, two thirds agree
		{"one apart", []float64{4.24e6, 3.38e6, 4.24e6}, peaks(4.24e6, 4.7e6), 4.24e6, true, 4.24e6},
		{"two apart", []float64{4.24e6, 3.38e6, 5.5e6}, peaks(4.24e6, 4.7e6), 4.24e6, false, 0},
		{"a third not measured", []float64{c, c, 0}, peaks(19.6e6, 23.0e6), 19.6e6, true, c},
		{"half not measured", []float64{c, 0}, peaks(19.6e6, 23.0e6), 19.6e6, false, 0},
		// traffic the capture does not show takes part of the queue: the
		// visible sum stays short of its capacity, peaks included
		{"short of it", []float64{c, c, c}, peaks(12e6, 18e6), 12e6, false, 0},
		{"median short", []float64{c, c, c}, peaks(17e6, 23.0e6), 17e6, false, 0},
		{"never reaches it", []float64{c, c, c}, peaks(19.6e6, 21.0e6), 19.6e6, false, 0},
		// the senders' spacing (a policer passes it): far over the sum
		{"over the sum", []float64{60e6, 60e6, 60e6}, peaks(19.6e6, 23.0e6), 19.6e6, false, 0},
	} {
		var fl []FlowRef
		var idx []int
		for i, v := range tc.caps {
			a := &AggInput{CapBps: v}
			if v < 0 {
				a = &AggInput{AckCapBps: -v}
			}
			fl = append(fl, FlowRef{ID: uint64(i + 1), Diagnosis: &Diagnosis{Agg: a}})
			idx = append(idx, i)
		}
		got, ok := membersFill(fl, idx, tc.pts, tc.med)
		if ok != tc.want || ok && got != tc.wantRate {
			t.Errorf("%s: membersFill = %.0f, %v; want %.0f, %v", tc.name, got, ok, tc.wantRate, tc.want)
		}
	}
}

// Flows that share a deep queue and lose much: their sum is not flat, but
// it reaches the capacity their packets' spacing gives between losses; a
// shared shaper at that capacity, and without the capacity, no verdict
// on the aggregate.
func TestSharedQueueFilled(t *testing.T) {
	mk := func(capBps float64) []FlowRef {
		var flows []FlowRef
		for i := range 3 {
			bps := make([]float64, 60)
			for j := range bps {
				// a second of the three flows together at the queue's
				// rate, then seconds of them backing off after losses
				bps[j] = []float64{0.95, 0.75, 1, 0.8, 1, 0.85}[j/10] * 23e6 / 3
			}
			d := &Diagnosis{Verdict: VerdictCongestion, Visibility: VisBoth, Direction: "client_to_server", Summary: "congestion",
				Agg: &AggInput{Deliv: Series{StartNS: 0, StepNS: 100e6, Bps: bps}, Lost: 200, Originals: 1000, Inflated: true,
					QueueMS: 390, MinRTTMS: 40, LossRunFrac: 0.7, Verdict: VerdictCongestion, CapBps: capBps}}
			flows = append(flows, FlowRef{ID: uint64(i + 1), Client: fmt.Sprintf("10.0.0.1:%d", 40000+i), Server: "10.0.0.2:5201",
				StartNS: 0, EndNS: 6e9, Diagnosis: d})
		}
		return flows
	}
	flows := mk(23.26e6)
	got := SharedLimiters(flows)
	if len(got) != 1 || got[0].Verdict != VerdictShaper || got[0].RateBps != 23.26e6 {
		t.Fatalf("SharedLimiters = %+v, want one shared shaper at 23260000", got)
	}
	if s := flows[0].Diagnosis.Summary; !strings.HasPrefix(s, "shaped at 23.3 Mbit/s shared by flows #1 #2 #3: their packets leave a queue at that rate") {
		t.Errorf("summary %q", s)
	}
	flows = mk(0)
	if got := SharedLimiters(flows); len(got) != 0 || flows[0].Diagnosis.Verdict != VerdictCongestion {
		t.Errorf("without a capacity: SharedLimiters = %+v, first member %s; want none, congestion", got, flows[0].Diagnosis.Verdict)
	}
}
