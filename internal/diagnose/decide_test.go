package diagnose

import (
	"math"
	"strings"
	"testing"
)

// TestAloneShaperNeedsARate: the case for a flow alone at its queue takes
// a plateau flat to aloneMaxCV as the sign, and a plateau of empty bins
// has CV 0 too. A flow starved behind a shared shaper (one of 5 cubic
// flows through 2.9 Mbit/s, heldout24 c054) was "shaped at 0.0 Mbit/s".
func TestAloneShaperNeedsARate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		plateau float64
		want    string
	}{
		{"flat at 2.9 Mbit/s", 2.9e6, VerdictShaper},
		{"empty bins", 0, VerdictCongestion},
	} {
		f := NewFlow(DefaultConfig())
		d := &f.d[0]
		d.dataPkts = 5000
		pts := sawBins(40, tc.plateau, 0)
		a := &analysis{
			d: d, durNS: 5e9, lossFrac: 0.02, lost: 100, originals: 5000,
			inflLossFr: 0.8, inflated: true, queueMS: 430,
			plateau: pts, plateauBps: tc.plateau, plateauCV: 0,
			rtt: RTTStats{Samples: 100, MinMS: 40, P10MS: 200, P50MS: 300, P90MS: 470},
			// Flach's tests fail (code 0 is a pass)
			flach: [2]flachResult{{code: 3}, {code: 3}},
		}
		dg := &Diagnosis{Direction: "client_to_server"}
		f.decide(a, dg)
		if dg.Verdict != tc.want {
			t.Errorf("%s: verdict %s (%q), want %s", tc.name, dg.Verdict, dg.Summary, tc.want)
		}
		if strings.Contains(dg.Summary, "at 0.0 Mbit/s") {
			t.Errorf("%s: summary %q names a rate of zero", tc.name, dg.Summary)
		}
	}
}

// TestApplicationRateIsItsMean: the median 100 ms bin of a sender writing
// in bursts seconds apart is next to empty; the application's rate is
// its mean (iperf3 -b 4.4M with 2 MB blocks was "application-limited at
// 0.0 Mbit/s", heldout14 n045).
func TestApplicationRateIsItsMean(t *testing.T) {
	for _, tc := range []struct {
		name          string
		plateau, mean float64
		want          float64
	}{
		{"bursts seconds apart", 5280, 4.76e6, 4.76e6},
		{"steady", 20.1e6, 20.0e6, 20.1e6},
	} {
		f := NewFlow(DefaultConfig())
		d := &f.d[0]
		d.dataPkts = 3000
		a := &analysis{
			d: d, durNS: 5e9, senderWait: true, queueMS: 172,
			plateau: make([]float64, 40), plateauBps: tc.plateau, meanBps: tc.mean,
			rtt:   RTTStats{Samples: 100, MinMS: 53, P10MS: 60, P50MS: 120, P90MS: 225},
			flach: [2]flachResult{{code: 3}, {code: 3}},
		}
		dg := &Diagnosis{Direction: "client_to_server"}
		f.decide(a, dg)
		if dg.Verdict != VerdictApplication || dg.RateBps != tc.want {
			t.Errorf("%s: %s at %.0f (%q), want application at %.0f", tc.name, dg.Verdict, dg.RateBps, dg.Summary, tc.want)
		}
	}
}

// With the data alone at the receiver, a flat rate losing in runs with no
// queue in front is a policer or the tail of a queue too shallow to show:
// the packets' spacing tells which (heldout20 g010 and heldout24 c007, 37
// and 102 Mbit/s policers, were insufficient_data; spent).
func TestOneWayDispersionTellsLimiter(t *testing.T) {
	for _, tc := range []struct {
		name string
		cap  float64
		want string
	}{
		{"the sender's bursts", 3 * 32e6, VerdictPolicer},
		{"one serialisation time apart", 32.5e6, VerdictShaper},
		{"between the two", 1.2 * 32e6, VerdictInsufficientData},
		{"not measured", 0, VerdictInsufficientData},
	} {
		f := NewFlow(DefaultConfig())
		d := &f.d[0]
		d.dataPkts = 20000
		pts := sawBins(60, 32e6, 0.03) // CV ~0.04
		a := &analysis{
			d: d, vis: VisDataOnly, receiver: true, point: "receiver", durNS: 6e9,
			lossFrac: 0.015, lost: 300, originals: 20000, lossRunFrac: 0.63,
			plateau: pts, plateauBps: 32e6, plateauCV: 0.04, flat: true,
			owdOK: true, owdQ: 1, capBps: tc.cap,
			rtt:   RTTStats{Samples: 1, MinMS: 96, P10MS: 96, P50MS: 96, P90MS: 96},
			flach: [2]flachResult{{code: 3}, {code: 3}},
		}
		dg := &Diagnosis{Direction: "client_to_server"}
		f.decideOneWay(a, dg)
		if dg.Verdict != tc.want {
			t.Errorf("%s: verdict %s (%q), want %s", tc.name, dg.Verdict, dg.Summary, tc.want)
		}
		if tc.want == VerdictPolicer && dg.RateBps < 32e6 {
			t.Errorf("%s: policed at %.0f, want the top of the bins (over the 32 Mbit/s median)", tc.name, dg.RateBps)
		}
	}
}

// With the data alone at the sender, Flach's token-bucket tests pass on a
// queue's tail drops too; where the retransmission delays show a queue on
// the path (a policer adds none), the flow is shaped, not policed
// (heldout25 b039: a 6.5 Mbit/s tbf, retransmissions 219 ms past a
// 16.3 ms RTT; spent).
func TestOneWayFlachNeedsNoQueue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sendQ float64
		want  string
	}{
		{"retransmitted 219 ms late: a queue", 219, VerdictShaper},
		{"retransmitted one RTT later: no queue", 1, VerdictPolicer},
	} {
		f := NewFlow(DefaultConfig())
		d := &f.d[0]
		d.dataPkts = 20000
		pts := sawBins(60, 6.5e6, 0.02)
		a := &analysis{
			d: d, vis: VisDataOnly, point: "sender", durNS: 6e9,
			lossFrac: 0.0104, lost: 208, originals: 20000, lossRunFrac: 0.2,
			plateau: pts, plateauBps: 6.5e6, plateauCV: 0.03, flat: true,
			rtt:    RTTStats{Samples: 1, MinMS: 16.3, P10MS: 16.3, P50MS: 16.3, P90MS: 16.3},
			flach:  [2]flachResult{{code: 0, rate: 6.5e6}, {code: 3}},
			sendQN: 10, sendQ: tc.sendQ, sendBase: 16.3, retxP10: 16.3 + tc.sendQ,
		}
		dg := &Diagnosis{Direction: "client_to_server"}
		f.decideOneWay(a, dg)
		if dg.Verdict != tc.want {
			t.Errorf("%s: verdict %s (%q), want %s", tc.name, dg.Verdict, dg.Summary, tc.want)
		}
	}
}

// sawBins is n 100 ms bins around bps, stepping by amp of it over every 5
// (a saw-tooth's bins; amp 0: flat).
func sawBins(n int, bps, amp float64) []float64 {
	pts := make([]float64, n)
	for i := range pts {
		pts[i] = bps * (1 + amp*float64(i%5-2))
	}
	return pts
}

// With the data alone at the sender, a cubic flow under a policer sends
// in bursts that drain the bucket, then backs off under its rate: no
// queue on the path, losses in runs, a sending rate without a ceiling.
// The drops' timing gives the bucket's rate (heldout18 j008: a 120
// Mbit/s policer, 105.5 Mbit/s sent at the median, 119.8 from the drop
// chains; spent). Not with a queue on the path, nor where the
// retransmissions come sooner than the handshake's RTT allows (a
// reordering path's jitter: no base to measure a queue over).
func TestOneWayDropChainPolicer(t *testing.T) {
	const rate, bucket = 20e6, 15000.0 // bits/s, bytes
	var drops []drop
	tokens, last := bucket, int64(0)
	lost, sent := 0, 0
	for t := int64(0); t < 6e6; { // µs
		gap := int64(303) // µs: 40 Mbit/s for 40 ms of every 100
		if t%100000 >= 40000 {
			gap = 1211 // 10 Mbit/s
		}
		tokens = math.Min(bucket, tokens+float64(t-last)*rate/8e6)
		last = t
		d := drop{t: t, flen: 1514}
		if tokens >= 1514 {
			tokens -= 1514
		} else {
			d.lost = true
			lost++
		}
		drops = append(drops, d)
		sent++
		t += gap
	}
	for _, tc := range []struct {
		name        string
		sendQ, base float64
		want        string
	}{
		{"no queue", 0.4, 20, VerdictPolicer},
		{"a queue", 40, 20, VerdictInsufficientData},
		{"retransmitted 6 ms before the RTT", -6, 20, VerdictInsufficientData},
	} {
		f := NewFlow(DefaultConfig())
		d := &f.d[0]
		d.dataPkts = uint64(sent)
		a := &analysis{
			d: d, vis: VisDataOnly, point: "sender", durNS: 6e9, drops: drops,
			lossFrac: float64(lost) / float64(sent-lost), lost: uint64(lost), originals: uint64(sent - lost), lossRunFrac: 0.35,
			plateau: sawBins(60, 17e6, 0.1), plateauBps: 17e6, plateauCV: 0.2, meanBps: 17e6,
			rtt:    RTTStats{Samples: 1, MinMS: tc.base, P10MS: tc.base, P50MS: tc.base, P90MS: tc.base},
			flach:  [2]flachResult{{code: 3}, {code: 3}},
			sendQN: 50, sendQ: tc.sendQ, sendBase: tc.base, retxP10: tc.base + tc.sendQ,
		}
		dg := &Diagnosis{Direction: "client_to_server"}
		f.decideOneWay(a, dg)
		if dg.Verdict != tc.want {
			t.Errorf("%s: verdict %s (%q), want %s", tc.name, dg.Verdict, dg.Summary, tc.want)
		}
		if tc.want == VerdictPolicer && math.Abs(dg.RateBps/rate-1) > 0.05 {
			t.Errorf("%s: policed at %.0f, want %.0f within 5%%", tc.name, dg.RateBps, rate)
		}
	}
}
