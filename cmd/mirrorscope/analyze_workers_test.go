package main

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAnalyzeWorkersSameReport: `analyze --workers 2` and `--workers 4`
// write the same bytes as `--workers 1`, as text, JSON and HTML, on
// mirror captures (VXLAN, two sessions, GENEVE), a capture whose flows
// share a policer (cross-flow findings), a CI sweep capture and one with
// IP fragments.
func TestAnalyzeWorkersSameReport(t *testing.T) {
	for _, c := range []string{
		"policer/policer.mon.pcap",
		"twosessions/twosessions.mon.pcap",
		"geneve/geneve.app.pcap",
		"classes/c2_policer_shared.srv.pcap.gz",
		"sweep-ci/t066_policer/*.pcap.gz",
		"parity/ip-fragments.pcap",
	} {
		m, _ := filepath.Glob(filepath.Join(repoTestdata, c))
		if len(m) == 0 {
			t.Errorf("no capture matches testdata/%s", c)
			continue
		}
		for _, format := range []string{"text", "json", "html"} {
			t.Run(filepath.Base(m[0])+"/"+format, func(t *testing.T) {
				args := func(w string) []string {
					return []string{"analyze", "-q", "--format", format, "--workers", w, m[0]}
				}
				want, errOut, code := run(t, nil, args("1")...)
				if code != 0 {
					t.Fatalf("--workers 1: exit %d: %s", code, errOut)
				}
				for _, w := range []string{"2", "4"} {
					got, errOut, code := run(t, nil, args(w)...)
					if code != 0 {
						t.Fatalf("--workers %s: exit %d: %s", w, code, errOut)
					}
					if got != want {
						t.Errorf("--workers %s differs from --workers 1 (-got +want):\n%s", w, cmp.Diff(got, want))
					}
				}
			})
		}
	}
	if _, errOut, code := run(t, nil, "analyze", "--workers", "0", filepath.Join(repoTestdata, "policer/policer.mon.pcap")); code != 2 {
		t.Errorf("--workers 0: exit %d (%s), want 2", code, errOut)
	}
}
