package diagnose

import (
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
