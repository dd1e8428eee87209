package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// DefaultSections are the per-flow text sections of analyze: the verdict
// first, then the TCP analysis in words.
func DefaultSections() []TextSection {
	return []TextSection{DiagnosisSection, TCPSection}
}

// DiagnosisSection prints the flow's verdict in one plain sentence.
func DiagnosisSection(f *result.Flow) []string {
	d, ok := f.Diagnosis.(*diagnose.Diagnosis)
	if !ok || d == nil || d.Summary == "" {
		return nil
	}
	out := []string{fmt.Sprintf("verdict: %s (confidence %.0f%%)", d.Summary, d.Confidence*100)}
	if sl := d.SharedLimiter; sl != nil {
		ids := make([]string, 0, len(sl.Flows))
		for _, id := range sl.Flows {
			ids = append(ids, fmt.Sprintf("#%d", id))
		}
		out = append(out, fmt.Sprintf("shared limiter %d: %s at %.1f Mbit/s shared by flows %s", sl.ID, sl.Verdict, sl.RateBps/1e6, strings.Join(ids, " ")))
	}
	switch d.Visibility {
	case diagnose.VisDataOnly:
		out = append(out, "visibility: data_only (only the data direction is in the capture)")
	case diagnose.VisAcksOnly:
		out = append(out, "visibility: acks_only (only the ACKs are in the capture)")
	}
	keys := make([]string, 0, len(d.Unknown))
	for k := range d.Unknown {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, d.Unknown[k])
	}
	return out
}

// TCPSection summarises the TCP analysis per data-carrying direction.
func TCPSection(f *result.Flow) []string {
	st, ok := f.TCP.(*tcpseq.Stats)
	if !ok || st == nil {
		return nil
	}
	var out []string
	if h := st.Handshake; h != nil && h.InitialRTTMS > 0 {
		// Each gap is one half of the path as seen from the capture
		// point: the server's side, then the client's.
		out = append(out, fmt.Sprintf("handshake: SYN->SYN/ACK %.2f ms (capture point to server and back), SYN/ACK->ACK %.2f ms (to client and back); initial RTT %.2f ms",
			h.SynToSynAckMS, h.SynAckToAckMS, h.InitialRTTMS))
	}
	for _, d := range []*tcpseq.DirStats{&st.A, &st.B} {
		if d.DataSegments == 0 {
			continue
		}
		who, peer := "c->s", "server"
		if d.Endpoint == f.Server {
			who, peer = "s->c", "client"
		}
		rt := d.Retrans
		line := fmt.Sprintf("%s tcp: %s data segments, %.2f%% retransmitted", who, Count(d.DataSegments), rt.Pct)
		if rt.Segments > 0 {
			var parts []string
			if rt.Fast > 0 {
				parts = append(parts, fmt.Sprintf("%d after duplicate ACKs", rt.Fast))
			}
			if rt.RTO > 0 {
				parts = append(parts, fmt.Sprintf("%d after timeouts", rt.RTO))
			}
			if rt.Spurious > 0 {
				parts = append(parts, fmt.Sprintf("%d spurious", rt.Spurious))
			}
			if rt.Other > 0 {
				parts = append(parts, fmt.Sprintf("%d other", rt.Other))
			}
			if len(parts) > 0 {
				line += " (" + strings.Join(parts, ", ") + ")"
			}
		}
		var extra []string
		for _, k := range []string{"out_of_order", "lost_segment", "duplicate_ack", "window_full", "zero_window"} {
			if n := d.Analysis[k]; n > 0 {
				extra = append(extra, fmt.Sprintf("%s %s", strings.ReplaceAll(k, "_", " "), Count(n)))
			}
		}
		if len(extra) > 0 {
			line += "; " + strings.Join(extra, ", ")
		}
		out = append(out, line)
		// The RTT seen from this direction's data: ACKs come back from the
		// peer, so this is the half from the capture point to the receiver
		// and back (the whole path RTT at a sender-side capture).
		if r := d.AckRTT; r != nil && r.Samples > 0 {
			out = append(out, fmt.Sprintf("%s rtt data->ack (capture point to %s and back): min %.2f, median %.2f, p90 %.2f, max %.2f ms over %d samples",
				who, peer, r.MinMS, r.MedianMS, r.P90MS, r.MaxMS, r.Samples))
		}
		if d.ECN.CE > 0 || d.ECN.ECE > 0 || d.ECN.CWR > 0 {
			out = append(out, fmt.Sprintf("%s ecn: %d CE marks, %d ECE, %d CWR", who, d.ECN.CE, d.ECN.ECE, d.ECN.CWR))
		}
	}
	if st.Resets > 0 {
		out = append(out, fmt.Sprintf("resets: %d", st.Resets))
	}
	return out
}
