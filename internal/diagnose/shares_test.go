package diagnose

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestUnequalShares: concurrent flows each "policed" at rates far apart
// are shares of one limiter (insufficient_data, saying so); at nearly
// equal rates they may be per-flow policers and keep their verdicts.
func TestUnequalShares(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rates []float64
		want  string
	}{
		{"shares", []float64{0.5e6, 1e6, 0.07e6}, VerdictInsufficientData},
		{"per-flow", []float64{9.8e6, 10e6, 10.4e6}, VerdictPolicer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var flows []FlowRef
			var idx []int
			for i, r := range tc.rates {
				flows = append(flows, FlowRef{ID: uint64(i + 1), Diagnosis: &Diagnosis{Verdict: VerdictPolicer, RateBps: r, Summary: "policed"}})
				idx = append(idx, i)
			}
			unequalShares(flows, idx)
			for _, f := range flows {
				d := f.Diagnosis
				if d.Verdict != tc.want {
					t.Fatalf("flow %d: %s, want %s (%s)", f.ID, d.Verdict, tc.want, d.Summary)
				}
				if tc.want == VerdictInsufficientData && (d.RateBps != 0 || !strings.Contains(d.Summary, "shares of one limiter") ||
					!strings.Contains(strings.Join(d.Evidence, "\n"), "this flow alone: policed")) {
					t.Errorf("flow %d: rate %v, summary %q, evidence %q", f.ID, d.RateBps, d.Summary, d.Evidence)
				}
			}
		})
	}
}

// TestLossTxt: "no loss" only when nothing was lost.
func TestLossTxt(t *testing.T) {
	for frac, want := range map[float64]string{0: "no loss", 0.0058: "0.58% loss"} {
		if got := lossTxt(frac); got != want {
			t.Errorf("lossTxt(%v) = %q, want %q", frac, got, want)
		}
	}
}

// TestPlateauOfZeroMedian: a flow that sent in fewer than half of its
// bins has no plateau, however steady its zeros (it was "shaped at 0.0
// Mbit/s" before).
func TestPlateauOfZeroMedian(t *testing.T) {
	cfg := DefaultConfig()
	pts := make([]float64, 40)
	for i := 0; i < len(pts); i += 3 {
		pts[i] = 1.2e6
	}
	if pl := plateauOf(pts, &cfg); pl.flat || pl.bps != 0 {
		t.Errorf("sparse series: flat %v at %v bps, want no plateau", pl.flat, pl.bps)
	}
	for i := range pts {
		pts[i] = 5e6
	}
	if pl := plateauOf(pts, &cfg); !pl.flat || pl.bps != 5e6 {
		t.Errorf("steady series: flat %v at %v bps, want a plateau at 5e6", pl.flat, pl.bps)
	}
}

// TestDropTxt: no share of the segments over 100%.
func TestDropTxt(t *testing.T) {
	for frac, want := range map[float64]string{
		0.0723: "7.23% of their segments dropped",
		1.0509: "105 drops per 100 of their original segments (retransmissions dropped again)",
	} {
		if got := dropTxt(frac, "dropped"); got != want {
			t.Errorf("dropTxt(%v) = %q, want %q", frac, got, want)
		}
	}
}

// TestReverseAcks: a shaper passes the ACKs of the transfers the other
// way between the same hosts: a single shaped flow's rate gains their
// wire rate, and only flows the other way, overlapping, with no data in
// their ACK direction count.
func TestReverseAcks(t *testing.T) {
	dir := func(c2s bool, ackWire uint64, ackData uint64) *Diagnosis {
		d := &Diagnosis{Visibility: VisBoth, Direction: "client_to_server"}
		ack := &d.Measurements.ServerToClient
		if !c2s {
			d.Direction = "server_to_client"
			ack = &d.Measurements.ClientToServer
		}
		ack.WireBytes, ack.DataPackets = ackWire, ackData
		d.Measurements.DurationS = 10
		return d
	}
	shaped := dir(true, 0, 0)
	shaped.Verdict, shaped.RateBps, shaped.Summary = VerdictShaper, 8.1e6, "shaped at 8.1 Mbit/s: flat rate"
	flows := []FlowRef{
		{ID: 1, Client: "10.0.0.1:40000", Server: "10.0.0.2:5201", StartNS: 0, EndNS: 10e9, Diagnosis: shaped},
		// the other way (server to client on a connection from 10.0.0.1): its ACKs go 1 -> 2
		{ID: 2, Client: "10.0.0.1:40002", Server: "10.0.0.2:5201", StartNS: 1e9, EndNS: 10e9, Diagnosis: dir(false, 250_000, 0)},
		// same way as flow 1: its ACKs go 2 -> 1, not through the shaper
		{ID: 3, Client: "10.0.0.1:40004", Server: "10.0.0.2:5201", StartNS: 0, EndNS: 10e9, Diagnosis: dir(true, 900_000, 0)},
		// the other way but over before flow 1 was half done
		{ID: 4, Client: "10.0.0.2:40006", Server: "10.0.0.1:5201", StartNS: 0, EndNS: 3e9, Diagnosis: dir(true, 900_000, 0)},
		// the other way, data both ways: not pure ACKs
		{ID: 5, Client: "10.0.0.2:40008", Server: "10.0.0.1:5201", StartNS: 0, EndNS: 10e9, Diagnosis: dir(true, 900_000, 12)},
	}
	SharedLimiters(flows)
	d := flows[0].Diagnosis
	// 250 kB over 10 s = 0.2 Mbit/s
	if d.RateBps != 8.3e6 || d.Summary != "shaped at 8.3 Mbit/s: flat rate" || !strings.Contains(strings.Join(d.Evidence, "\n"), "0.2 Mbit/s of ACKs") {
		t.Errorf("rate %v, summary %q, evidence %q", d.RateBps, d.Summary, d.Evidence)
	}
}

// Members that each look policed at a flat rate of their own: alike,
// they may be per-flow policers (one bucket per 5-tuple) and keep their
// verdicts; far apart (more than ownRateSpread), they are shares of one
// bucket and the test on their sum names it.
func TestFlatPolicedMembers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rates      []float64
		wantShared bool
	}{
		{"alike: per-flow", []float64{26e6, 27e6}, false},
		{"far apart: shares", []float64{29.8e6, 23.3e6}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var flows []FlowRef
			for i, r := range tc.rates {
				bps := make([]float64, 100)
				for j := range bps {
					bps[j] = r * (1 + 0.01*float64((i+j)%3))
				}
				d := &Diagnosis{Verdict: VerdictPolicer, RateBps: r, Visibility: VisBoth, Direction: "client_to_server", Summary: "policed",
					Agg: &AggInput{Deliv: Series{StartNS: 0, StepNS: 100e6, Bps: bps}, Lost: 60, Originals: 1000, Flat: true,
						MinRTTMS: 48, LossRunFrac: 0.6, Verdict: VerdictPolicer}}
				flows = append(flows, FlowRef{ID: uint64(i + 1), Client: fmt.Sprintf("10.0.0.1:%d", 40000+i), Server: "10.0.0.2:5201",
					StartNS: 0, EndNS: 10e9, Diagnosis: d})
			}
			got := SharedLimiters(flows)
			if (len(got) == 1) != tc.wantShared {
				t.Fatalf("SharedLimiters = %+v, want shared %v", got, tc.wantShared)
			}
			if tc.wantShared {
				sum := tc.rates[0] + tc.rates[1]
				if got[0].Verdict != VerdictPolicer || math.Abs(got[0].RateBps-sum)/sum > 0.05 {
					t.Errorf("shared %s at %.1f Mbit/s, want a policer at the sum %.1f", got[0].Verdict, got[0].RateBps/1e6, sum/1e6)
				}
			}
		})
	}
}

// A shared policer whose bucket holds a third of a second's tokens: the
// members run under its rate for a while, refill it, and pass it whole in
// one 100 ms bin. Its rate is read over 2 s windows, where this stays
// within 10% (over 1 s windows it read 20% over).
func TestSharedPolicerLargeBucket(t *testing.T) {
	const r = 3.3e6             // bits/s
	const bucket = 0.32 * r / 8 // bytes: a third of a second's tokens
	var flows []FlowRef
	for i := range 2 {
		bps := make([]float64, 100)
		for j := range bps {
			switch k := j % 25; {
			case k < 16: // the bucket dry: the members get its rate
				bps[j] = r / 2
			case k < 24: // under the rate for 0.8 s: the bucket fills
				bps[j] = 0.6 * r / 2
			default: // then passes whole, beside the tokens
				bps[j] = (r + bucket*8/0.1) / 2
			}
			bps[j] *= 1 + 0.01*float64((i+j)%3-1)
		}
		d := &Diagnosis{Verdict: VerdictRandomLoss, Visibility: VisBoth, Direction: "client_to_server", Summary: "limited by random loss",
			Agg: &AggInput{Deliv: Series{StartNS: 0, StepNS: 100e6, Bps: bps}, Lost: 200, Originals: 1000,
				MinRTTMS: 5, LossRunFrac: 0.6, Verdict: VerdictRandomLoss}}
		flows = append(flows, FlowRef{ID: uint64(i + 1), Client: fmt.Sprintf("10.0.0.1:%d", 40000+i), Server: "10.0.0.2:5201",
			StartNS: 0, EndNS: 10e9, Diagnosis: d})
	}
	got := SharedLimiters(flows)
	if len(got) != 1 || got[0].Verdict != VerdictPolicer {
		t.Fatalf("SharedLimiters = %+v, want one shared policer", got)
	}
	// (what passed is the sum less the lost share: 1000 originals, 200
	// lost, no sender-side rates: the sum is what passed)
	t.Logf("shared policer at %.3f Mbit/s", got[0].RateBps/1e6)
	if e := math.Abs(got[0].RateBps-r) / r; e > 0.1 {
		t.Errorf("shared policer at %.2f Mbit/s, want %.2f within 10%%", got[0].RateBps/1e6, r/1e6)
	}
}

// Flows sharing a shaper, seen from the data alone at their senders: what
// they sent sums to the shaper's rate and the tail drops it retransmits;
// the rate is the sum less part of the lost share (sentShaperLostShare). A
// member called receiver-window limited from its bursts alone joins the
// sum (aggCandidateOneWay): a shared queue's ACK clock spaced it so.
func TestSharedShaperAtSenders(t *testing.T) {
	const r = 4e6 // the shaper's rate, bits/s
	for _, tc := range []struct {
		name    string
		verdict []string // the members' own verdicts
		lost    uint64   // per 1000 originals
		want    float64  // the shared rate
		members int
	}{
		{"lossless", []string{VerdictShaper, VerdictShaper, VerdictShaper, VerdictShaper}, 0, r, 4},
		// 11% of what was sent retransmitted: the median bin sent 3.9% over
		{"lossy", []string{VerdictShaper, VerdictShaper, VerdictShaper, VerdictShaper}, 125, r, 4},
		{"one member's window from its bursts", []string{VerdictShaper, VerdictReceiverWindow, VerdictShaper, VerdictShaper}, 0, r, 4},
		// (a member left to its own verdict, reordering: the rest sum to
		// 3/4 of the rate)
		{"one reordering member", []string{VerdictShaper, VerdictShaper, VerdictShaper, VerdictReordering}, 0, 0.75 * r, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			share := float64(tc.lost) / float64(1000+tc.lost)
			flows := dataOnlyMembers(len(tc.verdict), r/4/(1-sentShaperLostShare*share), func(i int, d *Diagnosis) {
				d.Verdict = tc.verdict[i]
				a := d.Agg
				a.Lost, a.MinRTTMS, a.Sent, a.QueueN, a.LossRunFrac = tc.lost, 30, true, 20, 0.3
			})
			got := SharedLimiters(flows)
			if len(got) != 1 || got[0].Verdict != VerdictShaper {
				t.Fatalf("SharedLimiters = %+v, want one shared shaper", got)
			}
			if len(got[0].Flows) != tc.members {
				t.Errorf("members %v, want %d", got[0].Flows, tc.members)
			}
			if e := math.Abs(got[0].RateBps-tc.want) / tc.want; e > 0.02 {
				t.Errorf("shared shaper at %.3f Mbit/s, want %.3f within 2%%", got[0].RateBps/1e6, tc.want/1e6)
			}
			for _, f := range flows {
				if f.Diagnosis.SharedLimiter != nil && !strings.Contains(f.Diagnosis.Summary, "rates sent less 35% of the lost share") {
					t.Errorf("flow %d: summary %q does not say how the rate was read", f.ID, f.Diagnosis.Summary)
				}
			}
		})
	}
}

// Flows seen from the data alone at their receiver, each flat behind a
// growing one-way delay: a queue they share, unless every one of them
// arrived in bursts that no bottleneck at its rate spaced (paced
// applications: AggInput.Bursts). One member without bursts is enough
// for the sum to be tested.
func TestSharedQueueNotFromBursts(t *testing.T) {
	const r = 30e6
	for _, tc := range []struct {
		name       string
		bursts     []bool
		wantShared bool
	}{
		{"every member in bursts", []bool{true, true, true}, false},
		{"one member spaced", []bool{true, false, true}, true},
		{"none in bursts", []bool{false, false, false}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flows := dataOnlyMembers(len(tc.bursts), r/3, func(i int, d *Diagnosis) {
				if tc.bursts[i] {
					d.Verdict, d.Agg.Bursts = VerdictApplication, true
				}
			})
			got := SharedLimiters(flows)
			if (len(got) == 1) != tc.wantShared {
				t.Fatalf("SharedLimiters = %+v, want shared %v", got, tc.wantShared)
			}
			if tc.wantShared && (got[0].Verdict != VerdictShaper || math.Abs(got[0].RateBps-r)/r > 0.02) {
				t.Errorf("shared %s at %.1f Mbit/s, want a shaper at %.1f", got[0].Verdict, got[0].RateBps/1e6, r/1e6)
			}
		})
	}
}

// With the data alone at the receiver, a member whose one-way delay was
// not measured (AggInput.NoQueue) adds its rate to the sum but no queue;
// members none of which measured a queue make no aggregate.
func TestNoQueueMemberJoinsSum(t *testing.T) {
	const r = 8e6
	for _, tc := range []struct {
		name    string
		noQueue []bool
		members int // 0: no shared limiter
	}{
		{"one member without a queue", []bool{false, false, false, true}, 4},
		// (their zero queues would put the median at 0)
		{"three members without a queue", []bool{false, true, true, true}, 4},
		{"no member with a queue", []bool{true, true, true, true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flows := dataOnlyMembers(len(tc.noQueue), r/4, func(i int, d *Diagnosis) {
				if tc.noQueue[i] {
					d.Verdict = VerdictInsufficientData
					d.Agg.Inflated, d.Agg.QueueMS, d.Agg.NoQueue = false, 0, true
				}
			})
			got := SharedLimiters(flows)
			if tc.members == 0 {
				if len(got) != 0 {
					t.Fatalf("SharedLimiters = %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Verdict != VerdictShaper || len(got[0].Flows) != tc.members {
				t.Fatalf("SharedLimiters = %+v, want one shaper of %d flows", got, tc.members)
			}
			if e := math.Abs(got[0].RateBps-r) / r; e > 0.02 {
				t.Errorf("shared shaper at %.2f Mbit/s, want %.2f (the member without a queue's rate in the sum)", got[0].RateBps/1e6, r/1e6)
			}
		})
	}
}

// dataOnlyMembers builds n concurrent data flows 10.0.0.1 -> 10.0.0.2
// seen with the data alone over 6 s, each flat at bps (100 ms bins, 1%
// ripple) behind 40 ms of queue, its own verdict shaper; set, when not
// nil, changes member i's diagnosis (its Agg.Verdict follows Verdict).
func dataOnlyMembers(n int, bps float64, set func(i int, d *Diagnosis)) []FlowRef {
	flows := make([]FlowRef, n)
	for i := range flows {
		s := make([]float64, 60)
		for j := range s {
			s[j] = bps * (1 + 0.01*float64((i+j)%3-1))
		}
		d := &Diagnosis{Verdict: VerdictShaper, Visibility: VisDataOnly, Direction: "client_to_server", Summary: "own",
			Agg: &AggInput{Deliv: Series{StepNS: 100e6, Bps: s}, Originals: 1000, Flat: true, Inflated: true, QueueMS: 40, OneWay: true}}
		if set != nil {
			set(i, d)
		}
		d.Agg.Verdict = d.Verdict
		flows[i] = FlowRef{ID: uint64(i + 1), Client: fmt.Sprintf("10.0.0.1:%d", 40000+i), Server: "10.0.0.2:5201", EndNS: 6e9, Diagnosis: d}
	}
	return flows
}
