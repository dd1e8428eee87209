package report

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

func TestFormatters(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Count(0), "0"},
		{Count(999), "999"},
		{Count(1000), "1,000"},
		{Count(1234567), "1,234,567"},
		{Bytes(999), "999 B"},
		{Bytes(1500), "1.5 kB"},
		{Bytes(2_500_000), "2.50 MB"},
		{Bytes(3_000_000_000), "3.00 GB"},
		{Rate(500), "500 bit/s"},
		{Rate(19_130_000), "19.13 Mbit/s"},
		{Rate(4.5e9), "4.50 Gbit/s"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestWrapFits80Columns(t *testing.T) {
	long := strings.Repeat("policed at 13.1 Mbit/s, burst ~48 KB ", 6)
	out := wrap(long, 68, "           ")
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 79 {
			t.Errorf("line of %d runes: %q", n, line)
		}
	}
	if strings.Join(strings.Fields(out), " ") != strings.TrimSpace(long) {
		t.Errorf("wrap lost words")
	}
}

func TestWriteTextNoColorWhenAsked(t *testing.T) {
	r := &result.Report{Findings: []result.Finding{{Severity: "warning", Kind: "x", Summary: "something"}}}
	var b strings.Builder
	if err := WriteText(&b, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\033[") {
		t.Errorf("colour codes without Color: %q", b.String())
	}
	b.Reset()
	WriteText(&b, r, TextOptions{Color: true})
	if !strings.Contains(b.String(), "\033[") {
		t.Errorf("no colour codes with Color")
	}
}

func TestDiagnosisSectionVisibilityAndSharedLimiter(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    diagnose.Diagnosis
		want []string
	}{
		{"both, alone", diagnose.Diagnosis{Summary: "shaped at 20.0 Mbit/s", Confidence: 0.6, Visibility: diagnose.VisBoth},
			[]string{"verdict: shaped at 20.0 Mbit/s (confidence 60%)"}},
		{"shared", diagnose.Diagnosis{Summary: "policed at 40.0 Mbit/s shared by flows #1 #2 #3", Confidence: 0.5, Visibility: diagnose.VisBoth,
			SharedLimiter: &diagnose.SharedLimiter{ID: 1, Verdict: "policer", RateBps: 40e6, Flows: []uint64{1, 2, 3}}},
			[]string{"verdict: policed at 40.0 Mbit/s shared by flows #1 #2 #3 (confidence 50%)", "shared limiter 1: policer at 40.0 Mbit/s shared by flows #1 #2 #3"}},
		{"data only", diagnose.Diagnosis{Summary: "cannot tell", Confidence: 0.9, Visibility: diagnose.VisDataOnly,
			Unknown: map[string]string{"rtt": "RTT unknown: only the data direction is mirrored", "queue_delay": "queueing delay unknown: x"}},
			[]string{"verdict: cannot tell (confidence 90%)", "visibility: data_only (only the data direction is in the capture)",
				"queueing delay unknown: x", "RTT unknown: only the data direction is mirrored"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DiagnosisSection(&result.Flow{Diagnosis: &tc.d})
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("(-got +want)\n%s", diff)
			}
		})
	}
}

// TestTCPSectionNamesRTTHalves: at a capture point in the middle of the
// path each RTT figure is one half of it; the text says which (it gave
// bare "SYN->SYN/ACK" and "rtt (data->ack)" figures).
func TestTCPSectionNamesRTTHalves(t *testing.T) {
	st := &tcpseq.Stats{
		Handshake: &tcpseq.Handshake{SynToSynAckMS: 0.5, SynAckToAckMS: 20, InitialRTTMS: 20.5},
		A:         tcpseq.DirStats{Endpoint: "10.0.0.1:40000", DataSegments: 10, AckRTT: &tcpseq.Dist{Samples: 5, MinMS: 0.4, MedianMS: 0.5, P90MS: 0.6, MaxMS: 0.7}},
		B:         tcpseq.DirStats{Endpoint: "10.0.0.2:443", DataSegments: 10, AckRTT: &tcpseq.Dist{Samples: 5, MinMS: 19, MedianMS: 20, P90MS: 21, MaxMS: 22}},
	}
	got := strings.Join(TCPSection(&result.Flow{Client: "10.0.0.1:40000", Server: "10.0.0.2:443", TCP: st}), "\n")
	for _, want := range []string{
		"SYN->SYN/ACK 0.50 ms (capture point to server and back)",
		"SYN/ACK->ACK 20.00 ms (to client and back)",
		"c->s rtt data->ack (capture point to server and back): min 0.40",
		"s->c rtt data->ack (capture point to client and back): min 19.00",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}

// TestWriteTextCutShort: a capture that ends mid-packet says so in the
// text report, not only on standard error and in JSON.
func TestWriteTextCutShort(t *testing.T) {
	r := &result.Report{Inputs: []result.Input{{File: "cut.pcap", Packets: 807, Error: "truncated record header at byte 99986"}}}
	var b strings.Builder
	if err := WriteText(&b, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "WARNING  cut short: truncated record header at byte 99986; this report covers the 807 packets read before it"
	if !strings.Contains(b.String(), want) {
		t.Errorf("no %q in:\n%s", want, b.String())
	}
}
