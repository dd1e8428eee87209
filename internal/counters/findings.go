package counters

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Finding kinds (stable identifiers; documented in docs/counters.md).
const (
	KindENABandwidth = "ena_bw_allowance"
	KindENAPPS       = "ena_pps_allowance"
	KindENAConntrack = "ena_conntrack_allowance"
	KindENALinklocal = "ena_linklocal_allowance"
	KindMirrorSkip   = "mirror_skip"
	KindCoverage     = "mirror_coverage"
	KindNote         = "counters_note"
)

// Coverage thresholds: below coverageLow of the instance's (or the
// mirrored) traffic reached the capture is a warning; above coverageHigh
// the capture holds more than the instance sent (duplicates, or another
// instance's metrics). The comparison is trusted only when the capture
// spans at least coverageMinSpan of the CloudWatch periods it overlaps.
const (
	coverageLow     = 0.8
	coverageHigh    = 1.2
	coverageMinSpan = 0.5
	// slowSetupMS: a setup this long means a SYN or SYN/ACK was lost and
	// retransmitted (the first SYN retransmission timeout is 1 s).
	slowSetupMS = 900
)

// flowInfo is what the counter findings need to know about the report.
type flowInfo struct {
	limited []limitedFlow // policer/shaper verdicts
	gaps    []uint64      // flows with capture gaps
	gapSum  uint64
	slow    []uint64 // slow session setup
	local   []uint64 // flows to link-local services (DNS, IMDS, NTP)
}

type limitedFlow struct {
	id      uint64
	verdict string
	rate    float64
	dir     string
}

func scan(rep *result.Report) flowInfo {
	var fi flowInfo
	slow := map[uint64]bool{}
	for _, f := range rep.Findings {
		if f.Kind == diagnose.KindSlowSetup {
			for _, id := range f.Flows {
				slow[id] = true
			}
		}
	}
	for i := range rep.Flows {
		f := &rep.Flows[i]
		if linkLocal(f.Server) || linkLocal(f.Client) {
			fi.local = append(fi.local, f.ID)
		}
		d, ok := f.Diagnosis.(*diagnose.Diagnosis)
		if !ok || d == nil {
			continue
		}
		if d.Verdict == diagnose.VerdictPolicer || d.Verdict == diagnose.VerdictShaper {
			fi.limited = append(fi.limited, limitedFlow{f.ID, d.Verdict, d.RateBps, d.Direction})
		}
		if g := d.Measurements.ClientToServer.CaptureGaps + d.Measurements.ServerToClient.CaptureGaps; g > 0 {
			fi.gaps = append(fi.gaps, f.ID)
			fi.gapSum += g
		}
		m := &d.Measurements
		if m.SetupMS >= slowSetupMS || m.HandshakeSynSynAckMS >= slowSetupMS || m.HandshakeSynAckAckMS >= slowSetupMS {
			slow[f.ID] = true
		}
	}
	for id := range slow {
		fi.slow = append(fi.slow, id)
	}
	sort.Slice(fi.slow, func(i, j int) bool { return fi.slow[i] < fi.slow[j] })
	return fi
}

// linkLocal: Amazon DNS (VPC base+2 is not recognisable, 169.254.169.253
// is), IMDS (169.254.169.254, fd00:ec2::254), Time Sync (169.254.169.123,
// fd00:ec2::123), or any DNS flow (port 53).
func linkLocal(ep string) bool {
	ap, err := netip.ParseAddrPort(ep)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
		if ap.Port() == 53 {
			return true
		}
	} else if a, err = netip.ParseAddr(ep); err != nil {
		return false
	}
	switch a.String() {
	case "169.254.169.254", "169.254.169.253", "169.254.169.123", "fd00:ec2::254", "fd00:ec2::123", "fd00:ec2::253":
		return true
	}
	return false
}

// Findings correlates counter sets with a finished report. Counters are
// read inside the capture's window (rep.Capture.First..Last); a set that
// does not overlap it yields a counters_note, never a finding about the
// traffic.
func Findings(rep *result.Report, sets []*Set) []result.Finding {
	if rep == nil || len(sets) == 0 {
		return nil
	}
	w, err := ParseWindow(rep.Capture.First, rep.Capture.Last)
	if err != nil {
		return []result.Finding{{Severity: "info", Kind: KindNote, Summary: "counters not correlated: " + err.Error()}}
	}
	fi := scan(rep)
	var out, notes []result.Finding
	var ethSets []*Set
	ethDeltas := map[*Set]map[string]Delta{}
	cw := map[string]Delta{} // CloudWatch sums and counters of all files, by metric
	for _, s := range sets {
		if s == nil {
			continue
		}
		ds := s.Deltas(w)
		var ev []string
		ev = append(ev, s.Notes...)
		if len(ds) == 0 {
			from, to, ok := s.Span()
			sum := fmt.Sprintf("%s: no counters overlap the capture (%s); nothing was correlated", displayName(s.File), spanText(w.Start, w.End))
			if ok {
				sum = fmt.Sprintf("%s covers %s, the capture %s: no counters overlap it, nothing was correlated",
					displayName(s.File), spanText(from, to), spanText(w.Start, w.End))
			}
			if s.Format == FormatEthtool && len(s.Snapshots) == 1 {
				sum = fmt.Sprintf("%s holds a single snapshot (%s): a delta needs one before and one after the capture, nothing was correlated",
					displayName(s.File), from.Format(time.RFC3339))
			}
			notes = append(notes, result.Finding{Severity: "info", Kind: KindNote, Summary: sum, Evidence: ev,
				Next: []string{"collect the counters while the capture runs (see docs/counters.md); times are compared in UTC"}})
			continue
		}
		if len(ev) > 0 {
			notes = append(notes, result.Finding{Severity: "info", Kind: KindNote, Summary: "notes on " + displayName(s.File), Evidence: ev})
		}
		if s.Format == FormatEthtool {
			ethSets = append(ethSets, s)
			ethDeltas[s] = ds
			continue
		}
		for m, d := range ds {
			if prev, ok := cw[m]; ok {
				prev.Value += d.Value
				prev.Scaled += d.Scaled
				prev.From, prev.To = minTime(prev.From, d.From), maxTime(prev.To, d.To)
				prev.Partial = prev.Partial || d.Partial
				d = prev
			}
			cw[m] = d
		}
	}
	// ENA counters: per ethtool file, then the CloudWatch agent's.
	var srcs []namedDeltas
	for _, s := range ethSets {
		srcs = append(srcs, namedDeltas{displayName(s.File), ethDeltas[s]})
	}
	if hasAny(cw, enaCounters...) {
		srcs = append(srcs, namedDeltas{"CloudWatch (CWAgent ethtool_)", cw})
	}
	for _, src := range srcs {
		out = append(out, enaFindings(src.name, src.ds, w, &fi)...)
	}
	out = append(out, mirrorSkip(cw, w, &fi, srcs)...)
	out = append(out, coverage(rep, cw, w)...)
	return append(out, notes...)
}

// namedDeltas are one source's deltas (an ethtool file, or the
// CloudWatch agent's metrics of all files).
type namedDeltas struct {
	name string
	ds   map[string]Delta
}

func hasAny(ds map[string]Delta, names ...string) bool {
	for _, n := range names {
		if _, ok := ds[n]; ok {
			return true
		}
	}
	return false
}

func enaFindings(src string, ds map[string]Delta, w Window, fi *flowInfo) []result.Finding {
	var out []result.Finding
	capDur := w.End.Sub(w.Start)
	// Bandwidth.
	if hasAny(ds, BWIn, BWOut) {
		in, out2 := ds[BWIn], ds[BWOut]
		ev := deltaEvidence(capDur, in, out2)
		rose := in.Value > 0 || out2.Value > 0
		rise := riseText(in, out2)
		switch {
		case rose:
			f := result.Finding{
				Severity: "warning", Kind: KindENABandwidth,
				Summary: fmt.Sprintf("%s in %s during the capture: the instance's aggregate bandwidth allowance queued or dropped packets", rise, src),
				Next: []string{
					"compare the traffic with the instance type's baseline bandwidth: aws ec2 describe-instance-types --instance-types TYPE --query 'InstanceTypes[].NetworkInfo.NetworkPerformance' (\"up to\" types fall back to the baseline when burst credits run out)",
					"mirrored copies count toward the source instance's bandwidth: mirroring both directions of 1 Gbit/s in and out makes 4 Gbit/s",
					"use a larger instance type, spread the traffic, or shape it below the allowance",
				},
			}
			if len(fi.limited) > 0 {
				l := fi.limited[0]
				f.Summary = fmt.Sprintf("flow #%d %s while %s in %s: the instance allowance is the likely limiter", l.id, limitedText(l), rise, src)
				for _, l := range fi.limited {
					f.Flows = append(f.Flows, l.id)
					if l.id != fi.limited[0].id {
						ev = append(ev, fmt.Sprintf("flow #%d %s", l.id, limitedText(l)))
					}
				}
			}
			f.Evidence = ev
			out = append(out, f)
		case len(fi.limited) > 0:
			l := fi.limited[0]
			f := result.Finding{
				Severity: "info", Kind: KindENABandwidth,
				Summary: fmt.Sprintf("flow #%d %s while bw_in_allowance_exceeded and bw_out_allowance_exceeded stayed flat in %s: this instance's allowance did not limit it, the limiter is elsewhere on the path",
					l.id, limitedText(l), src),
				Evidence: ev,
				Next: []string{
					"read the ENA counters of the other instance of the conversation too",
					"look for a rate limit on the path: NAT gateway, firewall or appliance, a VPN or Direct Connect link, or the peer's own traffic shaping (tc)",
				},
			}
			for _, l := range fi.limited {
				f.Flows = append(f.Flows, l.id)
			}
			out = append(out, f)
		}
	}
	if d, ok := ds[PPS]; ok && d.Value > 0 {
		f := result.Finding{
			Severity: "warning", Kind: KindENAPPS,
			Summary: fmt.Sprintf("pps_allowance_exceeded rose by %s in %s during the capture: the instance's packets-per-second allowance (both directions together) queued or dropped packets",
				count(d.Value), src),
			Evidence: deltaEvidence(capDur, d),
			Next: []string{
				"small packets reach the PPS allowance long before the bandwidth allowance: compare the capture's packet rate with the instance type's limit",
				"mirroring adds one packet per mirrored packet to the source's PPS; narrow the mirror filter",
				"with ENA 2.13.3 or later in fragment-proxy mode, egress fragments above 1024 PPS also count here",
			},
		}
		for _, l := range fi.limited {
			f.Flows = append(f.Flows, l.id)
		}
		if len(fi.limited) > 0 {
			f.Evidence = append(f.Evidence, fmt.Sprintf("flow #%d %s: a PPS limit drops packets the way a policer does", fi.limited[0].id, limitedText(fi.limited[0])))
		}
		out = append(out, f)
	}
	if d, ok := ds[ConntrackExceeded]; ok {
		ev := deltaEvidence(capDur, d)
		if a, ok := ds[ConntrackAvailable]; ok {
			ev = append(ev, fmt.Sprintf("conntrack_allowance_available: between %s and %s connections still trackable", count(a.Min), count(a.Max)))
		}
		switch {
		case d.Value > 0:
			f := result.Finding{
				Severity: "warning", Kind: KindENAConntrack,
				Summary: fmt.Sprintf("conntrack_allowance_exceeded rose by %s in %s during the capture: connection tracking was full and packets of new connections were dropped",
					count(d.Value), src),
				Evidence: ev,
				Next: []string{
					"make high-volume flows untracked: security-group rules that allow all traffic (0.0.0.0/0 both ways) are not tracked",
					"lower idle connection timeouts (TCP established idle timeout on the ENI) or use a larger instance type",
					"every mirror session's inner flow is its own outer UDP flow at the target: a target can run out of conntrack entries too",
				},
			}
			if len(fi.slow) > 0 {
				f.Flows = fi.slow
				f.Summary = fmt.Sprintf("%s took %d ms or more to set up (a lost SYN, retransmitted) while conntrack_allowance_exceeded rose by %s in %s: connection tracking was full and new connections were dropped",
					flowList(fi.slow), slowSetupMS, count(d.Value), src)
			}
			out = append(out, f)
		case len(fi.slow) > 0:
			out = append(out, result.Finding{
				Severity: "info", Kind: KindENAConntrack, Flows: fi.slow,
				Summary:  fmt.Sprintf("%s set up slowly but conntrack_allowance_exceeded stayed flat in %s: connection tracking on this instance did not drop them", flowList(fi.slow), src),
				Evidence: ev,
				Next:     []string{"check the peer's conntrack counters, its accept queue and the application's start-up time"},
			})
		}
	}
	if d, ok := ds[LinklocalExceeded]; ok && d.Value > 0 {
		f := result.Finding{
			Severity: "warning", Kind: KindENALinklocal, Flows: fi.local,
			Summary: fmt.Sprintf("linklocal_allowance_exceeded rose by %s in %s during the capture: packets to Amazon DNS, the instance metadata service or Time Sync were dropped over the per-ENI PPS limit",
				count(d.Value), src),
			Evidence: append(deltaEvidence(capDur, d), "traffic to these link-local services is never mirrored (and Amazon DNS only with the amazon-dns filter rule), so a capture cannot show the drops"),
			Next: []string{
				"cache DNS on the instance (systemd-resolved, dnsmasq, nscd) or use your own resolver; custom resolvers are not subject to this limit",
				"lower how often software polls IMDS (credentials, metadata)",
			},
		}
		out = append(out, f)
	}
	return out
}

// mirrorSkip reads NetworkSkipMirror* and ties them to capture gaps.
func mirrorSkip(cw map[string]Delta, w Window, fi *flowInfo, eth []namedDeltas) []result.Finding {
	metrics := []string{"NetworkSkipMirrorIn", "NetworkSkipMirrorOut", "NetworkPacketsSkipMirrorIn", "NetworkPacketsSkipMirrorOut"}
	if !hasAny(cw, metrics...) {
		return nil
	}
	var ds []Delta
	var bytes, pkts float64
	for _, m := range metrics {
		if d, ok := cw[m]; ok {
			ds = append(ds, d)
			if strings.Contains(m, "Packets") {
				pkts += d.Value
			} else {
				bytes += d.Value
			}
		}
	}
	ev := deltaEvidence(w.End.Sub(w.Start), ds...)
	amount := ""
	switch {
	case bytes > 0 && pkts > 0:
		amount = fmt.Sprintf("%s (%s packets)", report.Bytes(uint64(bytes)), count(pkts))
	case bytes > 0:
		amount = report.Bytes(uint64(bytes))
	default:
		amount = count(pkts) + " packets"
	}
	if bytes > 0 || pkts > 0 {
		f := result.Finding{
			Severity: "warning", Kind: KindMirrorSkip, Flows: fi.gaps,
			Summary:  fmt.Sprintf("AWS skipped mirroring %s in the CloudWatch periods covering the capture: production traffic had priority over mirrored traffic", amount),
			Evidence: ev,
			Next: []string{
				"mirrored traffic counts toward the source instance's bandwidth: narrow the mirror filter, set a PacketLength, or use a larger source instance",
				"the skip counters are per period: compare the capture's gaps with the source's ENA bw_out/pps counters for the exact seconds",
			},
		}
		if len(fi.gaps) == 0 {
			f.Evidence = append(f.Evidence, "no flow in this capture has capture gaps: the skipped traffic fell outside the capture's seconds, or in traffic whose loss cannot be seen (UDP, or TCP without both directions)")
		} else {
			f.Summary += fmt.Sprintf("; the %s capture gaps of %s are mirror loss, not network loss", count(float64(fi.gapSum)), flowList(fi.gaps))
		}
		return []result.Finding{f}
	}
	if len(fi.gaps) == 0 {
		return []result.Finding{{
			Severity: "info", Kind: KindMirrorSkip,
			Summary:  "AWS skipped no mirrored traffic (NetworkSkipMirror* = 0) in the CloudWatch periods covering the capture",
			Evidence: ev,
		}}
	}
	f := result.Finding{
		Severity: "warning", Kind: KindMirrorSkip, Flows: fi.gaps,
		Summary: fmt.Sprintf("NetworkSkipMirror* stayed 0 in the periods covering the capture, yet %s %s %s capture gaps: AWS mirrored the packets, so look at the target side",
			flowList(fi.gaps), plural(len(fi.gaps), "has", "have"), count(float64(fi.gapSum))),
		Evidence: ev,
		Next: []string{
			"1. the capture host's own drops: mirrorscope listen's socket drop counters, `nstat -az UdpRcvbufErrors`, tcpdump's 'dropped by kernel'; raise SO_RCVBUF / the ring size",
			"2. the target's ENA counters: bw_in_allowance_exceeded and pps_allowance_exceeded (`ethtool -S eth0` on the target)",
			"3. then the source's ENA counters, then security-group/NACL drops at the source (never mirrored)",
		},
	}
	for _, e := range eth {
		for _, m := range []string{BWIn, PPS} {
			if d, ok := e.ds[m]; ok && d.Value > 0 {
				f.Evidence = append(f.Evidence, fmt.Sprintf("%s: %s rose by %s: if this is the target, its allowance dropped mirrored packets", e.name, m, count(d.Value)))
			}
		}
	}
	return []result.Finding{f}
}

// coverage compares the capture's bytes with NetworkIn+NetworkOut (and
// NetworkMirrorIn+NetworkMirrorOut) scaled to the capture window.
func coverage(rep *result.Report, cw map[string]Delta, w Window) []result.Finding {
	var captured uint64
	var ev []string
	what := "traffic"
	if len(rep.Capture.Sessions) > 0 {
		what = "mirrored traffic"
		for _, s := range rep.Capture.Sessions {
			captured += s.Bytes
			ev = append(ev, fmt.Sprintf("session %s VNI %d: %s captured", s.OuterSrc, s.VNI, report.Bytes(s.Bytes)))
		}
	} else {
		captured = rep.Capture.Bytes
	}
	type cmp struct {
		label    string
		in, out  string
		describe string
	}
	var out []result.Finding
	for _, c := range []cmp{
		{"NetworkMirrorIn+NetworkMirrorOut", "NetworkMirrorIn", "NetworkMirrorOut", "of what AWS mirrored reached the capture"},
		{"NetworkIn+NetworkOut", "NetworkIn", "NetworkOut", "of the instance's traffic reached the capture"},
	} {
		if !hasAny(cw, c.in, c.out) {
			continue
		}
		a, b := cw[c.in], cw[c.out]
		total := a.Scaled + b.Scaled
		periodSpan := maxTime(a.To, b.To).Sub(minTime(nonZero(a.From, b.From), nonZero(b.From, a.From)))
		capDur := w.End.Sub(w.Start)
		spanFrac := 1.0
		if periodSpan > 0 {
			spanFrac = math.Min(1, float64(capDur)/float64(periodSpan))
		}
		period := max(a.Period, b.Period)
		fev := append([]string(nil), ev...)
		fev = append(fev, fmt.Sprintf("%s: %s in the periods %s, %s scaled to the capture's %.1f s (an even rate within each %s period assumed)",
			c.label, report.Bytes(uint64(a.Value+b.Value)), spanText(minTime(nonZero(a.From, b.From), nonZero(b.From, a.From)), maxTime(a.To, b.To)),
			report.Bytes(uint64(total)), capDur.Seconds(), durText(period)))
		if total <= 0 {
			out = append(out, result.Finding{
				Severity: "info", Kind: KindCoverage,
				Summary:  fmt.Sprintf("%s is 0 in the periods covering the capture, which holds %s of %s: the metrics are of another instance or another time", c.label, report.Bytes(captured), what),
				Evidence: fev,
			})
			continue
		}
		share := float64(captured) / total
		f := result.Finding{
			Severity: "info", Kind: KindCoverage,
			Summary: fmt.Sprintf("the capture holds %s of %s; %s of the same window is about %s: about %.0f%% %s",
				report.Bytes(captured), what, c.label, report.Bytes(uint64(total)), 100*share, c.describe),
			Evidence: fev,
		}
		rough := spanFrac < coverageMinSpan
		if rough {
			f.Evidence = append(f.Evidence, fmt.Sprintf("the capture spans only %.1f%% of the %s CloudWatch periods it overlaps: a rough estimate, traffic is rarely even within a period",
				100*spanFrac, durText(period)))
		}
		switch {
		case share < coverageLow && !rough:
			f.Severity = "warning"
			f.Next = []string{
				"what did not reach the capture was left out by the mirror filter, cut (truncation) or lost (AWS skipped it, or the target dropped it)",
				"filters: check which traffic the mirror filter accepts (mirrorscope filter test with the session's rules)",
				"loss: see mirror_skip (NetworkSkipMirror*) and the target's drops",
				"metrics of several instances in one file are added up: query the source instance only",
			}
		case share > coverageHigh:
			f.Summary = fmt.Sprintf("the capture holds %s of %s, more than %s of the same window (about %s, %.0f%%): both ENIs of a conversation mirrored (each packet twice), or the metrics are of another instance",
				report.Bytes(captured), what, c.label, report.Bytes(uint64(total)), 100*share)
		}
		out = append(out, f)
	}
	return out
}

func nonZero(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a
}

// deltaEvidence describes each delta: value, the samples or periods it
// spans against the capture, resets.
func deltaEvidence(capDur time.Duration, ds ...Delta) []string {
	var ev []string
	for _, d := range ds {
		if d.Metric == "" {
			continue
		}
		var s string
		if d.Period > 0 && !strings.Contains(d.Metric, "_") {
			s = fmt.Sprintf("%s (%s): %s in the %s periods %s; the capture lasted %.1f s, so the periods are coarse compared with it",
				d.Metric, displayName(d.File), count(d.Value), durText(d.Period), spanText(d.From, d.To), capDur.Seconds())
		} else {
			s = fmt.Sprintf("%s (%s): +%s between samples at %s and %s (capture %.1f s)",
				d.Metric, displayName(d.File), count(d.Value), d.From.Format("15:04:05.000"), d.To.Format("15:04:05.000"), capDur.Seconds())
		}
		if d.Period > 0 && strings.Contains(d.Metric, "_") {
			s += fmt.Sprintf("; CloudWatch agent samples %s apart are coarse compared with the capture", durText(d.Period))
		}
		if d.Partial {
			s += "; the samples cover only part of the capture"
		}
		ev = append(ev, s)
		for _, r := range d.Resets {
			ev = append(ev, fmt.Sprintf("%s went down at %s: a driver reset; the rise after it is counted from zero (a lower bound)", d.Metric, r.Format(time.RFC3339)))
		}
	}
	return ev
}

func riseText(in, out Delta) string {
	var parts []string
	if out.Metric != "" {
		parts = append(parts, fmt.Sprintf("bw_out_allowance_exceeded rose by %s", count(out.Value)))
	}
	if in.Metric != "" {
		parts = append(parts, fmt.Sprintf("bw_in_allowance_exceeded by %s", count(in.Value)))
	}
	if len(parts) == 2 && out.Value == 0 {
		return fmt.Sprintf("bw_in_allowance_exceeded rose by %s (bw_out_allowance_exceeded by 0)", count(in.Value))
	}
	if len(parts) == 1 && in.Metric != "" {
		return "bw_in_allowance_exceeded rose by " + count(in.Value)
	}
	return strings.Join(parts, " and ")
}

func limitedText(l limitedFlow) string {
	verb := "policed"
	if l.verdict == diagnose.VerdictShaper {
		verb = "shaped"
	}
	if l.rate > 0 {
		return fmt.Sprintf("%s at %s", verb, report.Rate(l.rate))
	}
	return verb
}

func flowList(ids []uint64) string {
	var b strings.Builder
	if len(ids) == 1 {
		b.WriteString("flow ")
	} else {
		b.WriteString("flows ")
	}
	for i, id := range ids {
		if i == 8 && len(ids) > 9 {
			fmt.Fprintf(&b, " and %d more", len(ids)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("#" + strconv.FormatUint(id, 10))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// count formats a counter with thousands separators: 1,234.
func count(v float64) string {
	n := uint64(math.Round(math.Max(v, 0)))
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func spanText(a, b time.Time) string {
	return fmt.Sprintf("%s to %s", a.UTC().Format("2006-01-02T15:04:05.000Z"), b.UTC().Format("15:04:05.000Z"))
}

func durText(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d s", int64(d/time.Second))
	}
	return d.String()
}
