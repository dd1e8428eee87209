package diagnose

import (
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
		pts := make([]float64, 40)
		for i := range pts {
			pts[i] = tc.plateau
		}
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
