package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPacketsMatchTshark runs the tshark command that `packets --help`
// documents, literally, and diffs its lines with ours: the help promises
// a clean diff. Captures: the parity corpus (IPv6, gaps, SYN after RST,
// bad IP lengths, fragments), a host capture and a VXLAN mirror capture.
func TestPacketsMatchTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (apt-get install tshark)")
	}
	files, _ := filepath.Glob(repoTestdata + "/parity/*.pcap")
	files = append(files, repoTestdata+"/policer/policer.srv.pcap", repoTestdata+"/policer/policer.mon.pcap")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sh := strings.Replace(packetsTsharkCmd, "FILE", "'"+f+"'", 1)
			out, err := exec.Command("sh", "-c", sh).Output()
			if err != nil {
				t.Fatalf("tshark command: %v", err)
			}
			got, stderr, code := run(t, nil, "packets", "--no-header", f)
			if code != 0 {
				t.Fatalf("packets exit %d: %s", code, stderr)
			}
			want := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			ours := strings.Split(strings.TrimRight(got, "\n"), "\n")
			bad := 0
			for i := 0; i < len(want) || i < len(ours); i++ {
				var w, o string
				if i < len(want) {
					w = want[i]
				}
				if i < len(ours) {
					o = ours[i]
				}
				if w != o {
					bad++
					if bad <= 10 {
						t.Errorf("line %d:\n  ours   %q\n  tshark %q", i+1, o, w)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d lines differ", bad, len(want))
			}
		})
	}
}

func TestPacketsRefusesFlowsOnly(t *testing.T) {
	_, stderr, code := run(t, nil, "packets", "--flows-only", repoTestdata+"/policer/policer.srv.pcap")
	if code != 2 || !strings.Contains(stderr, "--flows-only") {
		t.Errorf("packets --flows-only: exit %d, stderr %q; want exit 2 naming the flag", code, stderr)
	}
}

// analyze --decap-inner analyses the pod flows inside a node's overlay,
// one flow per overlay VNI, and says the VNI in JSON; by default the
// node's own UDP packets are the flows.
func TestAnalyzeDecapInner(t *testing.T) {
	f := repoTestdata + "/encap/k8s-overlay.pcapng"
	for _, c := range []struct {
		args  []string
		flows int
		want  string
	}{
		{[]string{"analyze", "--format", "json", "--decap-inner", f}, 2, `"overlay_vni": 9`},
		{[]string{"analyze", "--format", "json", f}, 3, `"server": "[2001:db8::2]:6081"`},
	} {
		out, stderr, code := run(t, nil, c.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", c.args, code, stderr)
		}
		if n := strings.Count(out, `"client":`); n != c.flows || !strings.Contains(out, c.want) {
			t.Errorf("%v: %d flows, %q in output: %v", c.args, n, c.want, strings.Contains(out, c.want))
		}
	}
}
