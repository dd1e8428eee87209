package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataOnlyReceiverWindow: with only the data direction mirrored (an
// AWS filter that keeps the sender's egress, or the receiver's ingress),
// a transfer held by the receiver's 32 KiB buffer (testdata/rwnd) is
// still called receiver-window limited: nothing is lost and its data
// leaves in bursts one handshake RTT apart. Flows held by a shaper and by
// the application, seen the same way, are not.
func TestDataOnlyReceiverWindow(t *testing.T) {
	for _, tc := range []struct {
		capture, view, eni, want string
	}{
		{"rwnd/rwnd.cli.pcap", "egress", "198.18.0.1", "receiver_window"},
		{"rwnd/rwnd.srv.pcap", "ingress", "198.18.0.2", "receiver_window"},
		{"shaper/shaper.srv.pcap", "ingress", "198.18.0.2", "shaper"},
		{"applimited/applimited.cli.pcap", "egress", "198.18.0.1", "application"},
	} {
		out, stderr, code := run(t, nil, "analyze", "--format", "json", "--rule", tc.view+" 100 accept tcp", "--eni-ip", tc.eni,
			filepath.Join(repoTestdata, tc.capture))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.capture, code, stderr)
		}
		var rep struct {
			Flows []struct {
				Diagnosis *struct {
					Verdict, Visibility, Summary string
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, f := range rep.Flows {
			if d := f.Diagnosis; d != nil && d.Visibility == "data_only" && d.Verdict != "insufficient_data" {
				got = d.Verdict
				if d.Verdict == "receiver_window" && !strings.Contains(d.Summary, "one RTT") {
					t.Errorf("%s: summary %q does not give the rounds", tc.capture, d.Summary)
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s (%s, --eni-ip %s): data-only verdict %q, want %q", tc.capture, tc.view, tc.eni, got, tc.want)
		}
	}
}
