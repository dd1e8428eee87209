package listen

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// HalfFlowConfig tunes half-flow detection: a mirror session whose ended
// TCP flows are one-directional in a large share. A TCP flow is half
// when one direction carried payload and the other no packet at all: a
// real connection cannot carry data without the other side's handshake
// and ACKs, so this is not an unanswered SYN but a target that receives
// one direction only (a load balancer hashing the two directions to
// different targets, or a mirror filter mirroring one direction).
type HalfFlowConfig struct {
	// MinFlows is the least ended TCP flows of a session before judging.
	MinFlows int
	// Share is the fraction of half flows that raises the finding.
	Share float64
}

// DefaultHalfFlowConfig: 10 flows, half of them one-directional.
func DefaultHalfFlowConfig() HalfFlowConfig { return HalfFlowConfig{MinFlows: 10, Share: 0.5} }

// IsHalfFlow reports whether an ended TCP flow was seen in one direction
// only (see HalfFlowConfig).
func IsHalfFlow(f *result.Flow) bool {
	if f.Proto != "tcp" {
		return false
	}
	return (f.C2S.Packets == 0 && f.S2C.PayloadBytes > 0) || (f.S2C.Packets == 0 && f.C2S.PayloadBytes > 0)
}

// halfFlows counts, per session, ended TCP flows and half flows, and
// raises one finding per session. observe runs on the sink goroutine;
// the collector reads under mu. Sessions are bounded by the registry's
// bound (MaxSessions), so the map and the metric's labels are too.
type halfFlows struct {
	cfg  HalfFlowConfig
	max  int
	mu   sync.Mutex
	sess map[result.SessionRef]*halfCount
}

type halfCount struct {
	tcp, half uint64
	raised    bool
}

func newHalfFlows(cfg HalfFlowConfig, maxSessions int) *halfFlows {
	d := DefaultHalfFlowConfig()
	if cfg.MinFlows <= 0 {
		cfg.MinFlows = d.MinFlows
	}
	if cfg.Share <= 0 {
		cfg.Share = d.Share
	}
	return &halfFlows{cfg: cfg, max: max(maxSessions, 1), sess: map[result.SessionRef]*halfCount{}}
}

// observe counts an ended flow; it returns a finding the first time the
// flow's session crosses the threshold.
func (h *halfFlows) observe(f *result.Flow, interim bool) *result.Finding {
	if h == nil || interim || f.Proto != "tcp" {
		return nil
	}
	var k result.SessionRef
	if f.Session != nil {
		k = *f.Session
		k.OuterDst = "" // a session is (outer source, VNI, GWLB endpoint)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.sess[k]
	if c == nil {
		if len(h.sess) >= h.max {
			k = result.SessionRef{OuterSrc: "overflow"}
			if c = h.sess[k]; c == nil {
				c = &halfCount{}
				h.sess[k] = c
			}
		} else {
			c = &halfCount{}
			h.sess[k] = c
		}
	}
	c.tcp++
	if IsHalfFlow(f) {
		c.half++
	}
	if c.raised || c.tcp < uint64(h.cfg.MinFlows) || float64(c.half) < h.cfg.Share*float64(c.tcp) {
		return nil
	}
	c.raised = true
	name := "plain capture"
	if k.OuterSrc != "" {
		name = fmt.Sprintf("session %s VNI %d", k.OuterSrc, k.VNI)
	}
	return &result.Finding{Severity: "warning", Kind: "half_flows",
		Summary: fmt.Sprintf("%s: %d of %d TCP flows seen in one direction only: this target receives half of each connection", name, c.half, c.tcp),
		Evidence: []string{fmt.Sprintf("%d ended TCP flows carried payload one way and not a single packet the other way", c.half),
			"the verdicts of these flows (policer, window, loss) rest on one direction and are not to be trusted"},
		Next: []string{
			"behind an NLB: set the target group's stickiness to source_ip, so both directions of a mirror session (one outer source) go to one target; or use a GWLB, whose flow hash is symmetric",
			"or the mirror filter has rules for one direction only: add the matching ingress or egress rule (check with `mirrorscope filter test`)",
			"with several targets publishing (--kafka), `mirrorscope fleet` shows which targets got the other halves",
		}}
}

var (
	descHalfFlows = prometheus.NewDesc("mirrorscope_listen_half_flows_total", "Ended TCP flows of a mirror session seen in one direction only (payload one way, no packet the other).", []string{"outer_src", "vni", "gwlb_endpoint_id"}, nil)
	descTCPEnded  = prometheus.NewDesc("mirrorscope_listen_tcp_flows_ended_total", "Ended TCP flows of a mirror session (the denominator of half flows).", []string{"outer_src", "vni", "gwlb_endpoint_id"}, nil)
)

func (h *halfFlows) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(h, ch) }

func (h *halfFlows) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, c := range h.sess {
		lv := []string{k.OuterSrc, strconv.FormatUint(uint64(k.VNI), 10), k.GWLBEndpointID}
		ch <- prometheus.MustNewConstMetric(descHalfFlows, prometheus.CounterValue, float64(c.half), lv...)
		ch <- prometheus.MustNewConstMetric(descTCPEnded, prometheus.CounterValue, float64(c.tcp), lv...)
	}
}
