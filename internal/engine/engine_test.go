package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

const testdata = "../../testdata"

func analyzeFiles(t testing.TB, cfg Config, paths ...string) *result.Report {
	t.Helper()
	r, err := AnalyzeFiles(cfg, paths...)
	if err != nil {
		t.Fatalf("AnalyzeFiles: %v", err)
	}
	return r
}

func findCapture(t testing.TB, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(testdata, pattern))
	if len(m) == 0 {
		t.Skipf("no capture matches testdata/%s", pattern)
	}
	return m[0]
}

// flowShape is what must agree between a plain capture and its VXLAN
// mirror: everything but the session fields.
type flowShape struct {
	Proto, Client, Server, Roles string
	C2S, S2C                     result.Direction
	TCPFlags                     map[string]uint64
	Verdict                      string
}

func shapes(r *result.Report) map[string]flowShape {
	out := map[string]flowShape{}
	for _, f := range r.Flows {
		c2s, s2c := f.C2S, f.S2C
		c2s.ThroughputBPS, s2c.ThroughputBPS = 0, 0 // mirror timestamps differ by µs
		sh := flowShape{Proto: f.Proto, Client: f.Client, Server: f.Server, Roles: f.RolesFrom, C2S: c2s, S2C: s2c}
		if st, ok := f.TCP.(*tcpseq.Stats); ok {
			sh.TCPFlags = st.Analysis
		}
		if d, ok := f.Diagnosis.(*diagnose.Diagnosis); ok {
			sh.Verdict = d.Verdict
		}
		out[f.Proto+" "+f.Client+" "+f.Server] = sh
	}
	return out
}

// TestMirrorEqualsPlain: a VXLAN-mirrored capture and a plain capture of
// the same traffic (the mirrored point: srv's eth0) give the same flows
// with the same counts.
func TestMirrorEqualsPlain(t *testing.T) {
	mons, _ := filepath.Glob(filepath.Join(testdata, "*", "*.mon.pcap"))
	evals, _ := filepath.Glob(filepath.Join(testdata, "eval", "*", "*.mon.pcap"))
	mons = append(mons, evals...)
	if len(mons) < 2 {
		t.Fatalf("expected lab mirror captures in testdata, found %v", mons)
	}
	for _, mirror := range mons {
		plain := strings.TrimSuffix(mirror, ".mon.pcap") + ".srv.pcap"
		if _, err := os.Stat(plain); err != nil {
			continue // a mirror without the mirrored point's own capture
		}
		t.Run(filepath.Base(plain), func(t *testing.T) {
			rp := analyzeFiles(t, DefaultConfig(), plain)
			rm := analyzeFiles(t, DefaultConfig(), mirror)
			if len(rp.Flows) == 0 {
				t.Fatalf("%s: no flows", plain)
			}
			if diff := cmp.Diff(shapes(rm), shapes(rp)); diff != "" {
				t.Errorf("mirror vs plain flows (-mirror +plain):\n%s", diff)
			}
			if len(rm.Capture.Sessions) != 1 || rm.Capture.Sessions[0].VNI != 4242 {
				t.Errorf("mirror sessions: %+v", rm.Capture.Sessions)
			}
			for _, f := range rm.Flows {
				if f.Session == nil || f.Session.VNI != 4242 {
					t.Errorf("flow %d has no session", f.ID)
				}
			}
			if rp.Capture.Encapsulation["none"] != rp.Capture.Packets || rm.Capture.Encapsulation["vxlan"] != rm.Capture.Packets {
				t.Errorf("encapsulation counts: plain %v mirror %v", rp.Capture.Encapsulation, rm.Capture.Encapsulation)
			}
		})
	}
}

// TestTunnelsEqualPlain: the same traffic as a host capture, a pcapng
// VXLAN mirror capture and a GENEVE(GWLB)+VXLAN capture gives the same
// flows, for TCP, UDP, ICMP, IPv6 and fragments alike.
func TestTunnelsEqualPlain(t *testing.T) {
	plain := analyzeFiles(t, DefaultConfig(), findCapture(t, "mixed/mixed.b.pcap"))
	for _, tc := range []struct{ pattern, encap string }{
		{"mixed/mixed.mon.pcapng", "vxlan"},
		{"geneve/geneve.app.pcap", "geneve+vxlan"},
	} {
		t.Run(tc.encap, func(t *testing.T) {
			r := analyzeFiles(t, DefaultConfig(), findCapture(t, tc.pattern))
			if diff := cmp.Diff(shapes(r), shapes(plain)); diff != "" {
				t.Errorf("(-%s +plain):\n%s", tc.encap, diff)
			}
			if r.Capture.Encapsulation[tc.encap] == 0 || len(r.Capture.Sessions) != 1 {
				t.Errorf("encapsulation %v sessions %+v", r.Capture.Encapsulation, r.Capture.Sessions)
			}
			protos := map[string]bool{}
			for _, f := range r.Flows {
				protos[f.Proto] = true
			}
			for _, p := range []string{"tcp", "udp", "icmp", "icmpv6"} {
				if !protos[p] {
					t.Errorf("no %s flow", p)
				}
			}
		})
	}
}

// TestMirroredTwice: both ENIs mirrored: one flow per session and a
// finding that ties them.
func TestMirroredTwice(t *testing.T) {
	path := findCapture(t, "twosessions/*.mon.pcap*")
	r := analyzeFiles(t, DefaultConfig(), path)
	if len(r.Capture.Sessions) != 2 {
		t.Fatalf("sessions: %+v", r.Capture.Sessions)
	}
	var dup *result.Finding
	for i := range r.Findings {
		if r.Findings[i].Kind == "mirrored_twice" {
			if dup == nil {
				dup = &r.Findings[i]
			}
		}
	}
	if dup == nil {
		t.Fatalf("no mirrored_twice finding in %+v", r.Findings)
	}
	if len(dup.Flows) != 2 {
		t.Errorf("finding ties %d flows, want 2", len(dup.Flows))
	}
	// The two sessions' copies of the data flow carry the same packets.
	byID := map[uint64]result.Flow{}
	for _, f := range r.Flows {
		byID[f.ID] = f
	}
	a, b := byID[dup.Flows[0]], byID[dup.Flows[1]]
	if a.Client != b.Client || a.Server != b.Server || a.Session.VNI == b.Session.VNI {
		t.Errorf("tied flows differ: %+v vs %+v", a, b)
	}
}

func TestMaxReportFlowsKeepsLargest(t *testing.T) {
	path := findCapture(t, "policer/policer.srv.pcap*")
	cfg := DefaultConfig()
	cfg.MaxReportFlows = 1
	r := analyzeFiles(t, cfg, path)
	full := analyzeFiles(t, DefaultConfig(), path)
	if len(r.Flows) != 1 || r.Capture.FlowCounts.Unlisted != uint64(len(full.Flows)-1) {
		t.Fatalf("listed %d unlisted %d", len(r.Flows), r.Capture.FlowCounts.Unlisted)
	}
	if r.Flows[0].Bytes != full.Flows[0].Bytes {
		t.Errorf("kept flow of %d bytes, largest is %d", r.Flows[0].Bytes, full.Flows[0].Bytes)
	}
}

// TestRunEqualsSequential: the two-goroutine pipeline gives exactly the
// report of feeding frames one by one.
func TestRunEqualsSequential(t *testing.T) {
	for _, pat := range []string{"reorder/reorder.srv.pcap", "twosessions/twosessions.mon.pcap"} {
		path := findCapture(t, pat)
		seq := analyzeFiles(t, DefaultConfig(), path)
		src, err := capture.OpenFiles([]string{path}, capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := New(DefaultConfig())
		counts, err := e.Run(context.Background(), src, 1)
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		par := e.Finish()
		if counts[0] != seq.Capture.Packets {
			t.Errorf("%s: per-file count %d, want %d", pat, counts[0], seq.Capture.Packets)
		}
		if diff := cmp.Diff(par, seq); diff != "" {
			t.Errorf("%s: Run vs sequential (-run +seq):\n%s", pat, diff)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPacketAllocs: once a flow exists, analysing its packets (decode,
// flow lookup, TCP analysis, diagnosis) allocates nothing.
func TestPacketAllocs(t *testing.T) {
	path := findCapture(t, "shaper/shaper.srv.pcap")
	src, err := capture.OpenFiles([]string{path}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	type frame struct {
		data    []byte
		ts      int64
		origLen uint32
	}
	var frames []frame
	var f capture.Frame
	for src.Next(&f) == nil {
		frames = append(frames, frame{append([]byte(nil), f.Data...), f.TS, f.OrigLen})
	}
	e := New(DefaultConfig())
	// Warm up: the first half creates the flows and grows the bounded
	// per-flow buffers to their steady size.
	half := len(frames) / 2
	for _, fr := range frames[:half] {
		e.Packet(fr.data, fr.ts, fr.origLen, f.Link)
	}
	i := half
	allocs := testing.AllocsPerRun(500, func() {
		fr := frames[i]
		e.Packet(fr.data, fr.ts, fr.origLen, f.Link)
		i++
	})
	if allocs != 0 {
		t.Errorf("Engine.Packet allocates %.2f times per packet in steady state", allocs)
	}
}

// TestMaxDiagnosedFlows: beyond the cap, TCP flows keep their TCP analysis
// but carry no diagnosis, and the report says how many.
func TestMaxDiagnosedFlows(t *testing.T) {
	path := findCapture(t, "congestion/congestion.srv.pcap")
	cfg := DefaultConfig()
	cfg.MaxDiagnosedFlows = 1
	r := analyzeFiles(t, cfg, path)
	var diagnosed, analysed int
	for _, f := range r.Flows {
		if f.Diagnosis != nil {
			diagnosed++
		}
		if f.TCP != nil {
			analysed++
		}
	}
	if diagnosed < 1 || analysed != len(r.Flows) || r.Capture.FlowCounts.Undiagnosed == 0 ||
		uint64(diagnosed)+r.Capture.FlowCounts.Undiagnosed != uint64(len(r.Flows)) {
		t.Errorf("%d flows: %d diagnosed, %d analysed, %d counted undiagnosed", len(r.Flows), diagnosed, analysed, r.Capture.FlowCounts.Undiagnosed)
	}
}
