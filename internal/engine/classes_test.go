package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
)

// classCase is one entry of testdata/classes/expect.json.
type classCase struct {
	Class      int      `json:"class"`
	Capture    string   `json:"capture"`
	View       string   `json:"view"` // both, ingress, egress
	ENIIP      string   `json:"eni_ip"`
	Verdicts   []string `json:"verdicts"`
	RateBps    float64  `json:"rate_bps"`
	Tol        float64  `json:"tol"`
	Shared     int      `json:"shared"`
	Visibility string   `json:"visibility"`
	MaxCeiling float64  `json:"max_ceiling_bps"`
	// SummaryHas: words every member's summary must hold
	SummaryHas string `json:"summary_has"`
}

// TestClasses: the six classes of traffic of issue 11 that the limiter
// verdict used to get wrong (testdata/classes/README.md), one regression
// capture each with its truth. One-direction views are what an AWS
// mirror filter with a single ingress or egress rule copies.
func TestClasses(t *testing.T) {
	dir := filepath.Join(testdata, "classes")
	raw, err := os.ReadFile(filepath.Join(dir, "expect.json"))
	if err != nil {
		t.Skipf("no class captures: %v", err)
	}
	var exp struct {
		Cases []classCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("expect.json: %v", err)
	}
	for _, c := range exp.Cases {
		t.Run(fmt.Sprintf("class%d/%s[%s]", c.Class, strings.TrimSuffix(c.Capture, ".pcap.gz"), c.View), func(t *testing.T) {
			run := c.Capture[:strings.IndexByte(c.Capture, '.')]
			conns := truthConns(t, filepath.Join(dir, run+".truth.json"))
			cfg := DefaultConfig()
			if c.View != "both" {
				ip := netip.MustParseAddr(c.ENIIP)
				ingress := c.View == "ingress"
				cfg.Accept = func(p *decode.Packet) bool {
					if !p.HasTCP() {
						return false
					}
					if ingress {
						return p.Dst == ip
					}
					return p.Src == ip
				}
			}
			r := analyzeFiles(t, cfg, filepath.Join(dir, c.Capture))
			for _, conn := range conns {
				var d *diagnose.Diagnosis
				var id uint64
				for i := range r.Flows {
					f := &r.Flows[i]
					if f.Client == conn[0] && f.Server == conn[1] || f.Client == conn[1] && f.Server == conn[0] {
						d, _ = f.Diagnosis.(*diagnose.Diagnosis)
						id = f.ID
					}
				}
				if d == nil {
					t.Errorf("%s -> %s: no diagnosed flow", conn[0], conn[1])
					continue
				}
				t.Logf("flow #%d %s: %s %.1f Mbit/s conf %.2f vis %s: %s", id, conn[0], d.Verdict, d.RateBps/1e6, d.Confidence, d.Visibility, d.Summary)
				if !slices.Contains(c.Verdicts, d.Verdict) {
					t.Errorf("flow #%d: verdict %s, want one of %v: %s", id, d.Verdict, c.Verdicts, d.Summary)
					continue
				}
				if d.Visibility != c.Visibility {
					t.Errorf("flow #%d: visibility %q, want %q", id, d.Visibility, c.Visibility)
				}
				if strings.Contains(d.Summary, " 0.0 ms") {
					t.Errorf("flow #%d: summary prints a zero for an unknown: %s", id, d.Summary)
				}
				if d.Verdict == diagnose.VerdictInsufficientData && d.Visibility != "both" && len(d.Unknown) == 0 {
					t.Errorf("flow #%d: insufficient_data without saying what could not be measured", id)
				}
				if (d.Verdict == diagnose.VerdictPolicer || d.Verdict == diagnose.VerdictShaper) && c.RateBps > 0 {
					if e := (d.RateBps - c.RateBps) / c.RateBps; math.Abs(e) > c.Tol {
						t.Errorf("flow #%d: rate %.2f Mbit/s, want %.2f ±%.0f%%", id, d.RateBps/1e6, c.RateBps/1e6, 100*c.Tol)
					}
				}
				if c.Shared > 0 {
					if d.SharedLimiter == nil || len(d.SharedLimiter.Flows) != c.Shared {
						t.Errorf("flow #%d: shared limiter %+v, want one of %d flows", id, d.SharedLimiter, c.Shared)
					}
				} else if d.SharedLimiter != nil {
					t.Errorf("flow #%d: shared limiter %+v, want none", id, d.SharedLimiter)
				}
				if c.SummaryHas != "" && !strings.Contains(d.Summary, c.SummaryHas) {
					t.Errorf("flow #%d: summary %q, want it to say %q", id, d.Summary, c.SummaryHas)
				}
				if c.MaxCeiling > 0 && d.BottleneckBps > c.MaxCeiling {
					t.Errorf("flow #%d: bottleneck %.1f Mbit/s, impossible here (max %.0f)", id, d.BottleneckBps/1e6, c.MaxCeiling/1e6)
				}
			}
			if c.MaxCeiling > 0 {
				for _, f := range r.Findings {
					if f.Kind != diagnose.KindSharedCeiling {
						continue
					}
					if strings.Contains(f.Summary, "~") || len(f.Flows) > 1 {
						t.Errorf("finding %q: the two directions of a bidirectional run go through two different limiters", f.Summary)
					}
				}
			}
		})
	}
}

// truthConns returns the data connections of a lab truth file as
// (client, server) pairs.
func truthConns(t *testing.T, path string) [][2]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	var tf struct {
		Connections []struct {
			Local  string `json:"local"`
			Remote string `json:"remote"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("truth %s: %v", path, err)
	}
	var out [][2]string
	for _, c := range tf.Connections {
		out = append(out, [2]string{c.Local, c.Remote})
	}
	return out
}
