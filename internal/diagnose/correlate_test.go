package diagnose

import "testing"

// TestSharedCeilingIgnoresDuplicateMirror: one conversation seen through
// two mirror sessions is not two flows sharing a ceiling.
func TestSharedCeilingIgnoresDuplicateMirror(t *testing.T) {
	d := &Diagnosis{Verdict: VerdictShaper, RateBps: 5e6, Summary: "shaped"}
	flows := []FlowRef{
		{Client: "10.0.0.1:40000", Server: "10.0.0.2:443", OuterSrc: "10.0.0.1", VNI: 1, HasVNI: true, Diagnosis: d, StartNS: 0, EndNS: 10},
		{Client: "10.0.0.1:40000", Server: "10.0.0.2:443", OuterSrc: "10.0.0.2", VNI: 2, HasVNI: true, Diagnosis: d, StartNS: 0, EndNS: 10},
	}
	for _, f := range Correlate(flows) {
		if f.Kind == KindSharedCeiling {
			t.Errorf("duplicate mirror reported as a shared ceiling: %s", f.Summary)
		}
	}
	flows[1].Client = "10.0.0.1:40001"
	var shared int
	for _, f := range Correlate(flows) {
		if f.Kind == KindSharedCeiling {
			shared++
		}
	}
	if shared != 1 {
		t.Errorf("two concurrent limited flows: %d shared-ceiling findings, want 1", shared)
	}
}
