package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// TestEncapPathsAgree: the frames of a plain capture, wrapped as a VXLAN
// mirror session and as a Gateway Load Balancer delivers them (GENEVE
// around VXLAN), give the same flows, counts, flags and verdicts as the
// plain frames: the frames BenchmarkEngineEncap compares are the same
// traffic on the three paths.
func TestEncapPathsAgree(t *testing.T) {
	plain := loadFrames(t, findCapture(t, "policer/policer.srv.pcap"), 1_000_000)
	want := shapes(runFrames(plain))
	for _, c := range []struct {
		name  string
		wrap  func([]byte) []byte
		encap string
	}{
		{"vxlan", wrapVXLAN, "vxlan"},
		{"geneve+vxlan", wrapGENEVE, "geneve+vxlan"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runFrames(encapFrames(plain, c.wrap))
			if n := r.Capture.Encapsulation[c.encap]; n != uint64(len(plain)) {
				t.Fatalf("%d of %d frames decoded as %s (%v, errors %v)", n, len(plain), c.encap, r.Capture.Encapsulation, r.Capture.DecodeErrorKinds)
			}
			if len(r.Capture.Sessions) != 1 || r.Capture.Sessions[0].VNI != 4242 {
				t.Errorf("sessions %+v, want one with VNI 4242", r.Capture.Sessions)
			}
			if diff := cmp.Diff(shapes(r), want); diff != "" {
				t.Errorf("flows differ from the plain path (-got +want):\n%s", diff)
			}
		})
	}
}

// TestMirrorPathZeroAlloc: in the steady state of a flow, a VXLAN and a
// GENEVE+VXLAN mirror packet cost no allocation, as a plain one does.
func TestMirrorPathZeroAlloc(t *testing.T) {
	plain := loadFrames(t, findCapture(t, "policer/policer.srv.pcap"), 1_000_000)
	for _, c := range []struct {
		name string
		wrap func([]byte) []byte
	}{
		{"vxlan", wrapVXLAN},
		{"geneve+vxlan", wrapGENEVE},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames := encapFrames(plain, c.wrap)
			e := New(DefaultConfig())
			half := len(frames) / 2
			for _, f := range frames[:half] {
				e.Packet(f.data, f.ts, f.origLen, f.link)
			}
			i := half
			allocs := testing.AllocsPerRun(500, func() {
				f := &frames[i]
				e.Packet(f.data, f.ts, f.origLen, f.link)
				i++
			})
			if allocs != 0 {
				t.Errorf("Engine.Packet allocates %.2f times per %s packet in steady state", allocs, c.name)
			}
		})
	}
}

func runFrames(frames []memFrame) *result.Report {
	e := New(DefaultConfig())
	for i := range frames {
		f := &frames[i]
		e.Packet(f.data, f.ts, f.origLen, f.link)
	}
	return e.Finish()
}
