package fleet

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// ViewConfig bounds and tunes a View.
type ViewConfig struct {
	// SeriesSeconds is how many seconds of series each source keeps.
	SeriesSeconds int
	// MaxSources bounds the sources per partition; later ones are
	// counted in "other".
	MaxSources int
	// FindingsPerPartition bounds the targets' findings kept.
	FindingsPerPartition int
	// HalfFlowMinFlows and HalfFlowShare: a (target, source) with at
	// least that many ended TCP flows, that share of them one-directional,
	// is reported as half flows.
	HalfFlowMinFlows int
	HalfFlowShare    float64
	// SameRateTolerance: policer rates within this fraction of each other
	// are "near the same rate".
	SameRateTolerance float64
}

// DefaultViewConfig returns the defaults of mirrorscope fleet.
func DefaultViewConfig() ViewConfig {
	return ViewConfig{SeriesSeconds: 600, MaxSources: 10000, FindingsPerPartition: 200,
		HalfFlowMinFlows: 5, HalfFlowShare: 0.5, SameRateTolerance: 0.1}
}

// View is the fleet's merged state of the partitions this process owns.
// Apply and Drop come from the consumer; reports and HTTP read it
// concurrently.
type View struct {
	cfg   ViewConfig
	mu    sync.Mutex
	parts map[partKey]*partView

	applied, dupes, bad atomic.Uint64
}

type partKey struct {
	topic string
	part  int32
}

type partView struct {
	next     int64 // records below this offset were applied already
	sources  map[string]*srcAgg
	findings []FindingRecord
	targets  map[string]*SummaryRecord
}

// srcAgg is one source as seen by every target, within one partition
// (a source's records are all in one partition per topic).
type srcAgg struct {
	src      Source
	byTarget map[string]*TargetCounts
	verdicts map[string]uint64
	rates    []float64 // policer rates (bits/s), at most maxRates
	// series: unix second -> ENI (or outer source) -> bytes in that
	// second, the last SeriesSeconds seconds.
	series map[int64]map[string]uint64
	maxSec int64
}

const maxRates = 1000

// TargetCounts is what one target saw of one source.
type TargetCounts struct {
	Flows    uint64 `json:"flows"`
	TCPFlows uint64 `json:"tcp_flows"`
	// HalfFlows are ended TCP flows seen in one direction only
	// (listen.IsHalfFlow).
	HalfFlows uint64 `json:"half_flows"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	// SeriesBytes/SeriesPackets: the session counters' totals (every
	// packet received, also of flows still open).
	SeriesPackets uint64 `json:"series_packets"`
	SeriesBytes   uint64 `json:"series_bytes"`
	Records       uint64 `json:"records"`
}

// NewView returns an empty view.
func NewView(cfg ViewConfig) *View {
	d := DefaultViewConfig()
	if cfg.SeriesSeconds <= 0 {
		cfg.SeriesSeconds = d.SeriesSeconds
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = d.MaxSources
	}
	if cfg.FindingsPerPartition <= 0 {
		cfg.FindingsPerPartition = d.FindingsPerPartition
	}
	if cfg.HalfFlowMinFlows <= 0 {
		cfg.HalfFlowMinFlows = d.HalfFlowMinFlows
	}
	if cfg.HalfFlowShare <= 0 {
		cfg.HalfFlowShare = d.HalfFlowShare
	}
	if cfg.SameRateTolerance <= 0 {
		cfg.SameRateTolerance = d.SameRateTolerance
	}
	return &View{cfg: cfg, parts: map[partKey]*partView{}}
}

// Apply adds the record at (topic, partition, offset) once: a record at
// an offset already applied (read again after a rebalance) is counted
// as a duplicate and skipped. A record that does not decode is counted
// and skipped.
func (v *View) Apply(topic string, partition int32, offset int64, value []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := partKey{topic, partition}
	pv := v.parts[k]
	if pv == nil {
		pv = &partView{sources: map[string]*srcAgg{}, targets: map[string]*SummaryRecord{}}
		v.parts[k] = pv
	}
	if offset < pv.next {
		v.dupes.Add(1)
		return
	}
	pv.next = offset + 1
	e, err := Decode(value)
	if err != nil {
		v.bad.Add(1)
		return
	}
	v.applied.Add(1)
	switch {
	case e.Flow != nil:
		if e.Flow.Interim {
			return // counted when it ends
		}
		a, tc := v.source(pv, e)
		f := e.Flow.Flow
		tc.Flows++
		tc.Packets += f.Packets
		tc.Bytes += f.Bytes
		if f.Proto == "tcp" {
			tc.TCPFlows++
			if listen.IsHalfFlow(f) {
				tc.HalfFlows++
			}
		}
		if d, ok := f.Diagnosis.(map[string]any); ok {
			verdict, _ := d["verdict"].(string)
			if verdict != "" {
				a.verdicts[verdict]++
			}
			if rate, _ := d["rate_bps"].(float64); verdict == "policer" && rate > 0 && len(a.rates) < maxRates {
				a.rates = append(a.rates, rate)
			}
		}
	case e.Series != nil:
		a, tc := v.source(pv, e)
		s := e.Series
		tc.SeriesPackets += s.Packets
		tc.SeriesBytes += s.Bytes
		sec := s.UnixMS / 1000
		if sec+int64(v.cfg.SeriesSeconds) <= a.maxSec {
			return // older than the window
		}
		m := a.series[sec]
		if m == nil {
			m = map[string]uint64{}
			a.series[sec] = m
		}
		var lbl string
		if e.Source != nil {
			lbl = e.Source.ENI
			if lbl == "" {
				lbl = e.Source.OuterSrc
			}
		}
		m[lbl] += s.Bytes
		// The directions are kept under prefixed labels (dirKey).
		if s.InBytes > 0 {
			m[dirKey("in", lbl)] += s.InBytes
		}
		if s.OutBytes > 0 {
			m[dirKey("out", lbl)] += s.OutBytes
		}
		if sec > a.maxSec {
			a.maxSec = sec
			for t := range a.series {
				if t+int64(v.cfg.SeriesSeconds) <= sec {
					delete(a.series, t)
				}
			}
		}
	case e.Finding != nil:
		if len(pv.findings) >= v.cfg.FindingsPerPartition {
			pv.findings = pv.findings[1:]
		}
		pv.findings = append(pv.findings, *e.Finding)
	case e.Summary != nil:
		pv.targets[e.Target] = e.Summary
	}
}

func (v *View) source(pv *partView, e *Envelope) (*srcAgg, *TargetCounts) {
	src := Source{Key: "unknown", KeyKind: "target"}
	if e.Source != nil {
		src = *e.Source
	}
	key := src.Key
	if _, ok := pv.sources[key]; !ok && len(pv.sources) >= v.cfg.MaxSources {
		key, src = "other", Source{Key: "other", KeyKind: "overflow"}
	}
	a := pv.sources[key]
	if a == nil {
		a = &srcAgg{src: src, byTarget: map[string]*TargetCounts{}, verdicts: map[string]uint64{}, series: map[int64]map[string]uint64{}}
		pv.sources[key] = a
	}
	if a.src.ENI == "" && src.ENI != "" {
		a.src.ENI = src.ENI
	}
	tc := a.byTarget[e.Target]
	if tc == nil {
		tc = &TargetCounts{}
		a.byTarget[e.Target] = tc
	}
	tc.Records++
	return a, tc
}

// Drop forgets partitions this process no longer owns (revoked or lost
// in a rebalance): their new owner reads them again in full.
func (v *View) Drop(topic string, partitions []int32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range partitions {
		delete(v.parts, partKey{topic, p})
	}
}

// Counters of the view: records applied, skipped as duplicates (offset
// already applied), skipped as undecodable.
func (v *View) Counters() (applied, dupes, bad uint64) {
	return v.applied.Load(), v.dupes.Load(), v.bad.Load()
}

// Report is the fleet report (JSON schema in docs/fleet.md).
type Report struct {
	SchemaVersion int            `json:"schema_version"`
	Partitions    int            `json:"partitions"`
	Records       uint64         `json:"records"`
	Duplicates    uint64         `json:"duplicates_skipped"`
	Undecodable   uint64         `json:"undecodable"`
	Targets       []TargetReport `json:"targets"`
	Sources       []SourceReport `json:"sources"`
	// Findings are the fleet's own (cross-target) findings.
	Findings []result.Finding `json:"findings"`
	// TargetFindings are the findings the targets published.
	TargetFindings []FindingRecord `json:"target_findings"`
}

// TargetReport is a target's last summary.
type TargetReport struct {
	Target      string `json:"target"`
	Datagrams   uint64 `json:"datagrams"`
	KernelDrops uint64 `json:"kernel_drops"`
	FlowsEnded  uint64 `json:"flows_ended"`
}

// SourceReport is one source merged over the targets.
type SourceReport struct {
	Source
	ENIs     []string                 `json:"enis,omitempty"`
	Targets  map[string]*TargetCounts `json:"targets"`
	Total    TargetCounts             `json:"total"`
	Verdicts map[string]uint64        `json:"verdicts,omitempty"`
	// PolicedRateBps is the median limiter rate of its policed flows.
	PolicedRateBps float64 `json:"policed_rate_bps,omitempty"`
	// PeakBPS is the highest per-second rate of all its ENIs together
	// (from the series).
	PeakBPS float64 `json:"peak_bps"`
}

// Report builds the report of what the view holds now.
func (v *View) Report() *Report {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := &Report{SchemaVersion: SchemaVersion, Partitions: len(v.parts), Records: v.applied.Load(),
		Duplicates: v.dupes.Load(), Undecodable: v.bad.Load(), Targets: []TargetReport{}, Sources: []SourceReport{}, Findings: []result.Finding{}}
	type merged struct {
		rep    SourceReport
		series map[int64]map[string]uint64
		rates  []float64
	}
	ms := map[string]*merged{}
	keys := make([]partKey, 0, len(v.parts))
	for k := range v.parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	for _, k := range keys {
		pv := v.parts[k]
		r.TargetFindings = append(r.TargetFindings, pv.findings...)
		for t, s := range pv.targets {
			r.Targets = append(r.Targets, TargetReport{Target: t, Datagrams: s.Listener.Datagrams, KernelDrops: s.Listener.KernelDrops, FlowsEnded: s.Listener.FlowsEnded})
		}
		for key, a := range pv.sources {
			m := ms[key]
			if m == nil {
				m = &merged{rep: SourceReport{Source: a.src, Targets: map[string]*TargetCounts{}, Verdicts: map[string]uint64{}},
					series: map[int64]map[string]uint64{}}
				ms[key] = m
			}
			for t, c := range a.byTarget {
				dst := m.rep.Targets[t]
				if dst == nil {
					dst = &TargetCounts{}
					m.rep.Targets[t] = dst
				}
				dst.add(c)
				m.rep.Total.add(c)
			}
			for vd, n := range a.verdicts {
				m.rep.Verdicts[vd] += n
			}
			m.rates = append(m.rates, a.rates...)
			for sec, byENI := range a.series {
				d := m.series[sec]
				if d == nil {
					d = map[string]uint64{}
					m.series[sec] = d
				}
				for e, b := range byENI {
					d[e] += b
				}
			}
		}
	}
	sort.Slice(r.Targets, func(i, j int) bool { return r.Targets[i].Target < r.Targets[j].Target })
	var shared []result.Finding
	for _, m := range ms {
		m.rep.PolicedRateBps = median(m.rates)
		byDir := splitDirs(m.series)
		enis := map[string]bool{}
		for _, byENI := range byDir[""] {
			var sum uint64
			for e, b := range byENI {
				enis[e] = true
				sum += b
			}
			m.rep.PeakBPS = max(m.rep.PeakBPS, float64(sum)*8)
		}
		for e := range enis {
			m.rep.ENIs = append(m.rep.ENIs, e)
		}
		sort.Strings(m.rep.ENIs)
		// ENA allowances are per direction: judge each direction apart
		// when the series have them, else both together.
		dirs := []string{"in", "out"}
		if len(byDir["in"])+len(byDir["out"]) == 0 {
			dirs = []string{""}
		}
		for _, d := range dirs {
			if f, ok := sharedCeiling(&m.rep, byDir[d], d); ok {
				shared = append(shared, f)
			}
		}
		r.Sources = append(r.Sources, m.rep)
	}
	sort.Slice(r.Sources, func(i, j int) bool {
		if r.Sources[i].Total.Bytes+r.Sources[i].Total.SeriesBytes != r.Sources[j].Total.Bytes+r.Sources[j].Total.SeriesBytes {
			return r.Sources[i].Total.Bytes+r.Sources[i].Total.SeriesBytes > r.Sources[j].Total.Bytes+r.Sources[j].Total.SeriesBytes
		}
		return r.Sources[i].Key < r.Sources[j].Key
	})
	r.Findings = append(r.Findings, v.halfFlowFindings(r.Sources)...)
	sort.Slice(shared, func(i, j int) bool { return shared[i].Summary < shared[j].Summary })
	r.Findings = append(r.Findings, shared...)
	r.Findings = append(r.Findings, v.sameRateFindings(r.Sources)...)
	return r
}

func (c *TargetCounts) add(o *TargetCounts) {
	c.Flows += o.Flows
	c.TCPFlows += o.TCPFlows
	c.HalfFlows += o.HalfFlows
	c.Packets += o.Packets
	c.Bytes += o.Bytes
	c.SeriesPackets += o.SeriesPackets
	c.SeriesBytes += o.SeriesBytes
	c.Records += o.Records
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// halfFlowFindings: a target that sees a large share of a source's TCP
// flows in one direction only is analysing half flows, and when the same
// source also reaches other targets the load balancer is splitting the
// directions of its connections.
func (v *View) halfFlowFindings(srcs []SourceReport) []result.Finding {
	var out []result.Finding
	for _, s := range srcs {
		targets := make([]string, 0, len(s.Targets))
		for t := range s.Targets {
			targets = append(targets, t)
		}
		sort.Strings(targets)
		for _, t := range targets {
			c := s.Targets[t]
			if c.TCPFlows < uint64(v.cfg.HalfFlowMinFlows) || float64(c.HalfFlows) < v.cfg.HalfFlowShare*float64(c.TCPFlows) {
				continue
			}
			f := result.Finding{Severity: "warning", Kind: "half_flows",
				Summary:  fmt.Sprintf("target %s sees %d of %d TCP flows of source %s (%s) in one direction only", t, c.HalfFlows, c.TCPFlows, s.Key, s.KeyKind),
				Evidence: []string{fmt.Sprintf("source %s reaches %d target(s): %s", s.Key, len(targets), strings.Join(targets, ", "))},
				Next: []string{
					"the load balancer sends the two directions of a connection to different targets: give the NLB target group stickiness source_ip (UDP 4789 flows are then hashed on the outer source only), or use a GWLB, whose flow hash is symmetric",
					"or the mirror filter mirrors one direction only (an ingress or an egress rule missing): check the filter's rules with `mirrorscope filter test`",
				}}
			out = append(out, f)
		}
	}
	return out
}

// sharedCeiling looks at an instance's ENIs together: when their summed
// rate holds flat near its peak for several seconds while the ENIs'
// shares of it move, they are limited together (ENA allowances are per
// instance), which no single target can see when the ENIs' streams land
// on different targets.
func sharedCeiling(s *SourceReport, series map[int64]map[string]uint64, dir string) (result.Finding, bool) {
	var peak float64
	for _, byENI := range series {
		var sum uint64
		for _, b := range byENI {
			sum += b
		}
		peak = max(peak, float64(sum)*8)
	}
	if len(s.ENIs) < 2 || peak <= 0 {
		return result.Finding{}, false
	}
	var secs []int64
	for t := range series {
		secs = append(secs, t)
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	var sums []float64
	shares := map[string][]float64{}
	for _, t := range secs {
		var sum uint64
		for _, b := range series[t] {
			sum += b
		}
		bps := float64(sum) * 8
		if bps < 0.9*peak {
			continue
		}
		sums = append(sums, bps)
		for _, e := range s.ENIs {
			shares[e] = append(shares[e], float64(series[t][e])*8/bps)
		}
	}
	const minSeconds = 5
	if len(sums) < minSeconds {
		return result.Finding{}, false
	}
	mean, sd := meanSD(sums)
	if sd/mean > 0.05 {
		return result.Finding{}, false
	}
	moving := 0.0
	for _, sh := range shares {
		_, d := meanSD(sh)
		moving = max(moving, d)
	}
	if moving < 0.1 {
		return result.Finding{}, false
	}
	what, counter := "traffic", "bw_in_allowance_exceeded, bw_out_allowance_exceeded"
	switch dir {
	case "in":
		what, counter = "inbound traffic", "bw_in_allowance_exceeded"
	case "out":
		what, counter = "outbound traffic", "bw_out_allowance_exceeded"
	}
	return result.Finding{Severity: "warning", Kind: "shared_ceiling",
		Summary: fmt.Sprintf("the %d ENIs of %s (%s) together hold their %s at %.1f Mbit/s for %d s while their shares move: a limit they share (ENA allowances are per instance)",
			len(s.ENIs), s.Key, s.KeyKind, what, mean/1e6, len(sums)),
		Evidence: []string{fmt.Sprintf("summed per-second rate within 10%% of its peak (%.1f Mbit/s) for %d s, spread %.1f%%; an ENI's share moved by %.0f points (standard deviation)",
			peak/1e6, len(sums), 100*sd/mean, 100*moving), "ENIs: " + strings.Join(s.ENIs, ", ")},
		Next: []string{"on the instance, read the ENA counters (ethtool -S): " + counter + ", pps_allowance_exceeded",
			"a larger instance type has a larger allowance; spreading the traffic over ENIs of one instance does not raise it"}}, true
}

func meanSD(x []float64) (float64, float64) {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return m, math.Sqrt(ss / float64(len(x)))
}

// sameRateFindings groups sources whose policed flows were limited near
// the same rate: a limit they share (one instance type's allowance, one
// policer upstream).
func (v *View) sameRateFindings(srcs []SourceReport) []result.Finding {
	var ps []SourceReport
	for _, s := range srcs {
		if s.PolicedRateBps > 0 {
			ps = append(ps, s)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].PolicedRateBps < ps[j].PolicedRateBps })
	var out []result.Finding
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && ps[j].PolicedRateBps <= ps[i].PolicedRateBps*(1+v.cfg.SameRateTolerance) {
			j++
		}
		if j-i >= 2 {
			var names []string
			var rates []float64
			for _, s := range ps[i:j] {
				names = append(names, s.Key)
				rates = append(rates, s.PolicedRateBps)
			}
			kind := "sources"
			if ps[i].KeyKind == "instance" {
				kind = "instances"
			}
			out = append(out, result.Finding{Severity: "warning", Kind: "same_rate_policing",
				Summary:  fmt.Sprintf("%d %s policed near the same rate, %.1f Mbit/s", j-i, kind, median(rates)/1e6),
				Evidence: []string{fmt.Sprintf("median policer rates from %.2f to %.2f Mbit/s: %s", rates[0]/1e6, rates[len(rates)-1]/1e6, strings.Join(names, ", "))},
				Next:     []string{"one limit for all of them: the same instance type's allowance (ethtool -S: *_allowance_exceeded), or one policer on the path they share (NAT gateway, Transit Gateway, VPN, a Direct Connect hosted connection)"}})
		}
		i = j
	}
	return out
}

// dirKey is the series label of one direction of an ENI's traffic.
func dirKey(dir, lbl string) string { return dir + "\x00" + lbl }

// splitDirs splits merged series into "" (both directions), "in" and
// "out", labels without their direction prefix.
func splitDirs(series map[int64]map[string]uint64) map[string]map[int64]map[string]uint64 {
	out := map[string]map[int64]map[string]uint64{"": {}, "in": {}, "out": {}}
	for sec, byLbl := range series {
		for k, b := range byLbl {
			dir, lbl := "", k
			if i := strings.IndexByte(k, 0); i >= 0 {
				dir, lbl = k[:i], k[i+1:]
			}
			m := out[dir][sec]
			if m == nil {
				m = map[string]uint64{}
				out[dir][sec] = m
			}
			m[lbl] += b
		}
	}
	return out
}
