package listen

import (
	"fmt"
	"sort"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Summary is the last JSON line, written after every flow has ended.
type Summary struct {
	Type     string        `json:"type"` // "summary"
	Listener ListenerStats `json:"listener"`
	// Capture merges the shards' capture summaries, as analyze's
	// "capture" object.
	Capture result.Capture `json:"capture"`
	// Findings were written as finding lines just before.
	Findings []result.Finding `json:"-"`
	// Flows are the largest ended flows (MaxReportFlows per shard), for
	// callers of Run; they were written as flow lines when they ended.
	Flows []result.Flow `json:"-"`
}

// ListenerStats is what the receiving side counted.
type ListenerStats struct {
	Start string `json:"start"`
	End   string `json:"end,omitempty"`
	// Datagrams/Bytes: everything read from the sockets.
	Datagrams uint64 `json:"datagrams"`
	Bytes     uint64 `json:"bytes"`
	// Accepted: decoded, allowed and handed to the analysis.
	Accepted uint64 `json:"accepted"`
	// KernelDrops: datagrams the kernel dropped because our socket
	// buffers were full (SO_RXQ_OVFL; AF_PACKET tp_drops). This is loss
	// at this target, not in the mirrored network.
	KernelDrops  uint64            `json:"kernel_drops"`
	DecodeErrors map[string]uint64 `json:"decode_errors"`
	Rejected     map[string]uint64 `json:"rejected"`
	Sockets      []SocketInfo      `json:"sockets"`
	Sessions     []SessionInfo     `json:"sessions"`
	FlowsEnded   uint64            `json:"flows_ended"`
	FlowsActive  int64             `json:"flows_active"`
}

// SocketInfo describes one receiving socket.
type SocketInfo struct {
	Kind        string `json:"kind"`
	Addr        string `json:"addr,omitempty"`
	RcvBuf      int    `json:"rcvbuf"`
	Datagrams   uint64 `json:"datagrams"`
	KernelDrops uint64 `json:"kernel_drops"`
}

type liveCounts struct {
	drops, decodeErrs, rejected, truncUp uint64
}

func (l *Listener) counts() (c liveCounts) {
	for _, d := range l.kernelDrops() {
		c.drops += d
	}
	for _, r := range l.recvs {
		for i := range r.stats.decodeErr {
			c.decodeErrs += r.stats.decodeErr[i].Load()
		}
		for i := range r.stats.rejected {
			c.rejected += r.stats.rejected[i].Load()
		}
	}
	return c
}

func (l *Listener) stats() ListenerStats {
	st := ListenerStats{
		Start:        formatTS(l.start.UnixNano()),
		DecodeErrors: map[string]uint64{},
		Rejected:     map[string]uint64{},
		FlowsEnded:   l.flowsEnded.Load(),
	}
	drops := l.kernelDrops()
	for i, r := range l.recvs {
		rs := &r.stats
		st.Datagrams += rs.datagrams.Load()
		st.Bytes += rs.bytes.Load()
		st.Accepted += rs.accepted.Load()
		st.KernelDrops += drops[i]
		for i := range rs.decodeErr {
			if n := rs.decodeErr[i].Load(); n > 0 {
				st.DecodeErrors[decode.Error(i).Name()] += n
			}
		}
		for i := range rs.rejected {
			if n := rs.rejected[i].Load(); n > 0 {
				st.Rejected[rejectNames[i]] += n
			}
		}
		si := SocketInfo{Kind: r.kind, RcvBuf: r.rcvbuf, Datagrams: rs.datagrams.Load(), KernelDrops: drops[i]}
		if r.kind == "erspan" {
			si.Addr = r.addr.Addr().String() // GRE has no port
		} else if r.addr.IsValid() {
			si.Addr = r.addr.String()
		} else {
			si.Addr = l.cfg.Iface
		}
		st.Sockets = append(st.Sockets, si)
	}
	for _, sh := range l.shards {
		st.FlowsActive += sh.live.Load()
	}
	st.Sessions = l.reg.infos()
	return st
}

// liveFindings reports, once per report interval, what got worse at the
// receiving side since the last time.
func (l *Listener) liveFindings(last liveCounts) liveCounts {
	c := l.counts()
	iv := l.cfg.ReportInterval
	if d := c.drops - last.drops; d > 0 {
		f := dropsFinding(d, fmt.Sprintf("in the last %s", iv))
		l.sink.finding(&f)
	}
	if d := c.decodeErrs - last.decodeErrs; d > 0 {
		l.sink.finding(&result.Finding{Severity: "warning", Kind: "decode_errors",
			Summary: fmt.Sprintf("%d datagrams in the last %s could not be decoded and were skipped (see /metrics mirrorscope_listen_decode_errors_total by kind)", d, iv)})
	}
	if d := c.rejected - last.rejected; d > 0 {
		l.sink.finding(&result.Finding{Severity: "info", Kind: "rejected",
			Summary: fmt.Sprintf("%d datagrams in the last %s came from sources or VNIs outside --allow-src/--allow-vni and were dropped", d, iv)})
	}
	return c
}

func dropsFinding(n uint64, when string) result.Finding {
	return result.Finding{
		Severity: "warning",
		Kind:     "socket_drops",
		Summary: fmt.Sprintf("the kernel dropped %d mirrored datagrams %s because this target's socket buffers were full: "+
			"that loss is at the target, not in the mirrored network", n, when),
		Next: []string{
			"raise --rcvbuf and --sockets, give the target more CPU, or split sessions across targets",
			"gaps in flows during these drops are not network loss",
		},
	}
}

// summary merges the finished shards' reports with the listener's own
// counts.
func (l *Listener) summary() *Summary {
	st := l.stats()
	st.End = formatTS(time.Now().UnixNano())
	sum := &Summary{Type: "summary", Listener: st}
	c := &sum.Capture
	c.Encapsulation = map[string]uint64{}
	var first, last time.Time
	sess := map[string]*result.Session{}
	var order []string
	for _, sh := range l.shards {
		r := sh.rep
		if r == nil {
			continue
		}
		x := &r.Capture
		c.Packets += x.Packets
		c.Bytes += x.Bytes
		c.IPPackets += x.IPPackets
		c.NonIPPackets += x.NonIPPackets
		c.TruncatedPackets += x.TruncatedPackets
		c.TruncatedUpstream += x.TruncatedUpstream
		c.Filtered += x.Filtered
		c.TimeStepsBack += x.TimeStepsBack
		c.MaxStepBackUS = max(c.MaxStepBackUS, x.MaxStepBackUS)
		for k, v := range x.Encapsulation {
			c.Encapsulation[k] += v
		}
		if t, err := time.Parse(time.RFC3339Nano, x.First); err == nil && (first.IsZero() || t.Before(first)) {
			first = t
		}
		if t, err := time.Parse(time.RFC3339Nano, x.Last); err == nil && t.After(last) {
			last = t
		}
		for _, s := range x.Sessions {
			k := fmt.Sprintf("%s/%d/%s/%s", s.OuterSrc, s.VNI, s.Encap, s.GWLBEndpointID)
			m := sess[k]
			if m == nil {
				cp := s
				sess[k] = &cp
				order = append(order, k)
				continue
			}
			m.Packets += s.Packets
			m.Bytes += s.Bytes
			m.Flows += s.Flows
			m.Truncated += s.Truncated
		}
		fc, xc := &c.FlowCounts, &x.FlowCounts
		fc.Total += xc.Total
		fc.TCP += xc.TCP
		fc.UDP += xc.UDP
		fc.ICMP += xc.ICMP
		fc.Other += xc.Other
		fc.Evicted += xc.Evicted
		fc.IdleEnd += xc.IdleEnd
		fc.Listed += xc.Listed
		fc.Unlisted += xc.Unlisted
		fc.Undiagnosed += xc.Undiagnosed
		sum.Flows = append(sum.Flows, r.Flows...)
	}
	// Datagrams that failed to decode count as packets, as in analyze.
	for k, v := range st.DecodeErrors {
		if c.DecodeErrorKinds == nil {
			c.DecodeErrorKinds = map[string]uint64{}
		}
		c.DecodeErrorKinds[k] += v
		c.DecodeErrors += v
		c.Packets += v
	}
	if !first.IsZero() {
		c.First = first.Format(time.RFC3339Nano)
		c.Last = last.Format(time.RFC3339Nano)
		c.DurationS = last.Sub(first).Seconds()
	}
	c.Sessions = []result.Session{}
	for _, k := range order {
		c.Sessions = append(c.Sessions, *sess[k])
	}
	sort.SliceStable(c.Sessions, func(i, j int) bool { return c.Sessions[i].Packets > c.Sessions[j].Packets })
	sortFlowsByBytes(sum.Flows)
	sum.Findings = engine.Findings(&result.Report{Capture: *c, Flows: sum.Flows})
	if st.KernelDrops > 0 {
		sum.Findings = append(sum.Findings, dropsFinding(st.KernelDrops, "while listening"))
	}
	var rej uint64
	for _, v := range st.Rejected {
		rej += v
	}
	if rej > 0 {
		sum.Findings = append(sum.Findings, result.Finding{Severity: "info", Kind: "rejected",
			Summary: fmt.Sprintf("%d datagrams came from sources or VNIs outside --allow-src/--allow-vni and were dropped", rej)})
	}
	return sum
}
