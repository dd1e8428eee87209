package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const repoTestdata = "../../testdata"

// run executes the CLI in-process and returns stdout, stderr and the exit
// status main would use.
func run(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if stdin != nil {
		cmd.SetIn(bytes.NewReader(stdin))
	}
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	if err != nil {
		// main prints the error; mimic it so tests see the user's view.
		errb.WriteString("mirrorscope: " + err.Error() + "\n")
		code = exitCodeOf(err)
	}
	return out.String(), errb.String(), code
}

func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitAnalysis
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(got, string(want)); diff != "" {
		t.Errorf("%s mismatch (-got +want):\n%s", name, diff)
	}
}

func TestAnalyzeGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"analyze_policer_mon.txt", []string{"analyze", repoTestdata + "/policer/policer.mon.pcap"}},
		{"analyze_policer_mon.json", []string{"analyze", "--format", "json", repoTestdata + "/policer/policer.mon.pcap"}},
		{"analyze_twosessions.txt", []string{"analyze", repoTestdata + "/twosessions/twosessions.mon.pcap"}},
		{"packets_policer_srv_flagged.tsv", []string{"packets", "--flagged", repoTestdata + "/policer/policer.srv.pcap"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, errOut, code := run(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, out)
			if strings.HasSuffix(tc.golden, ".json") && !json.Valid([]byte(out)) {
				t.Errorf("output is not valid JSON")
			}
			if strings.HasSuffix(tc.golden, ".txt") {
				for i, line := range strings.Split(out, "\n") {
					if n := len([]rune(line)); n > 80 {
						t.Errorf("line %d has %d columns (> 80): %q", i+1, n, line)
					}
				}
			}
		})
	}
}

func TestAnalyzeStdinEqualsFile(t *testing.T) {
	path := repoTestdata + "/shaper/shaper.srv.pcap"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	fromFile, _, code1 := run(t, nil, "analyze", "--format", "json", path)
	// The file source reads the process's standard input: feed it a pipe.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(data); w.Close() }()
	saved := os.Stdin
	os.Stdin = r
	fromStdin, _, code2 := run(t, nil, "analyze", "--format", "json", "-")
	os.Stdin = saved
	r.Close()
	if code1 != 0 || code2 != 0 {
		t.Fatalf("exit %d / %d", code1, code2)
	}
	var a, b map[string]any
	json.Unmarshal([]byte(fromFile), &a)
	json.Unmarshal([]byte(fromStdin), &b)
	delete(a, "inputs")
	delete(b, "inputs")
	if diff := cmp.Diff(b, a); diff != "" {
		t.Errorf("stdin vs file (-stdin +file):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notCap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCap, []byte("these are not packets\n"), 0o644)
	good, err := os.ReadFile(repoTestdata + "/policer/policer.srv.pcap")
	if err != nil {
		t.Skip(err)
	}
	trunc := filepath.Join(dir, "cut.pcap")
	os.WriteFile(trunc, good[:len(good)/2+7], 0o644)

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		errHas   []string
		wantJSON bool
	}{
		{"not a capture", []string{"analyze", notCap}, 2, []string{"notes.txt", "not a pcap or pcapng"}, false},
		{"missing file", []string{"analyze", filepath.Join(dir, "nope.pcap")}, 2, []string{"nope.pcap"}, false},
		{"truncated keeps partial results", []string{"analyze", "--format", "json", trunc}, 2, []string{"cut.pcap", "truncated"}, true},
		{"no args", []string{"analyze"}, 2, []string{"at least one capture"}, false},
		{"bad format", []string{"analyze", "--format", "xml", trunc}, 2, []string{"--format"}, false},
		{"bad flag", []string{"analyze", "--bogus", trunc}, 2, []string{"unknown flag"}, false},
		{"unknown command", []string{"bogus"}, 2, []string{`unknown command "bogus"`}, false},
		{"extra argument", []string{"listen", "extra"}, 2, []string{`unknown command "extra"`, "listen --help"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q lacks %q", errOut, s)
				}
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("error is not one line: %q", errOut)
			}
			if tc.wantJSON {
				var r struct {
					Capture struct{ Packets int }
					Flows   []any
					Inputs  []struct{ Error string }
				}
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatalf("partial report is not JSON: %v", err)
				}
				if r.Capture.Packets == 0 || len(r.Flows) == 0 || r.Inputs[0].Error == "" {
					t.Errorf("partial results not kept: %d packets, %d flows, input error %q", r.Capture.Packets, len(r.Flows), r.Inputs[0].Error)
				}
			}
		})
	}
}

// TestAnalyzeFilter: --rule keeps only what AWS would mirror; the counts
// equal tshark's for the hand-written display filter
// "ip.dst==198.18.0.2 && tcp.dstport==5201" (1253 packets, see
// docs/mirroring.md).
func TestAnalyzeFilter(t *testing.T) {
	path := repoTestdata + "/policer/policer.srv.pcap"
	out, errOut, code := run(t, nil, "analyze", "--format", "json", "--rule", "ingress 100 accept tcp dst-port 5201", "--eni-ip", "198.18.0.2", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Capture struct {
			IPPackets uint64 `json:"ip_packets"`
			Filtered  uint64
		}
		Flows []struct {
			Client, Server string
			C2S            struct{ Packets uint64 } `json:"client_to_server"`
			S2C            struct{ Packets uint64 } `json:"server_to_client"`
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var kept uint64
	for _, f := range r.Flows {
		kept += f.C2S.Packets
		if f.S2C.Packets != 0 {
			t.Errorf("flow %s->%s kept %d server->client packets; egress has no rules", f.Client, f.Server, f.S2C.Packets)
		}
	}
	if kept+r.Capture.Filtered != r.Capture.IPPackets || kept != 1253 {
		t.Errorf("kept %d + filtered %d != %d IP packets (want 1253 kept)", kept, r.Capture.Filtered, r.Capture.IPPackets)
	}
	// Without the interface address a plain capture has no direction.
	out, _, _ = run(t, nil, "analyze", "--rule", "ingress 100 accept tcp dst-port 5201", path)
	if !strings.Contains(out, "rejected all") {
		t.Errorf("no filter_rejects_all finding in:\n%s", out)
	}
}

// TestAnalyzeHTMLAndAnnotate: --format html writes one self-contained page
// and --annotate a pcapng with our comments (their content is tested in
// internal/report/htmlreport and internal/report/annotate).
func TestAnalyzeHTMLAndAnnotate(t *testing.T) {
	dir := t.TempDir()
	html, ann := filepath.Join(dir, "r.html"), filepath.Join(dir, "a.pcapng")
	_, errOut, code := run(t, nil, "analyze", "-q", "--format", "html", "-o", html, "--annotate", ann, repoTestdata+"/policer/policer.mon.pcap")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", "uPlot", "policed at"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{`src="http`, `href="http`} {
		if strings.Contains(string(page), bad) {
			t.Errorf("report loads something from the network: %q", bad)
		}
	}
	// The annotated file is itself a capture that analyze reads.
	out, errOut, code := run(t, nil, "analyze", "--format", "json", ann)
	if code != 0 {
		t.Fatalf("reading the annotated capture: exit %d: %s", code, errOut)
	}
	var r struct{ Capture struct{ Packets int } }
	json.Unmarshal([]byte(out), &r)
	if r.Capture.Packets != 1990 {
		t.Errorf("annotated capture has %d packets, want 1990", r.Capture.Packets)
	}
}

// TestAnalyzeCounters: --counters adds the counter findings; a bad counter
// file is bad input (exit 2) and stops before the analysis.
func TestAnalyzeCounters(t *testing.T) {
	const cdir = "../../internal/counters/testdata/"
	capFile := repoTestdata + "/policer/policer.cli.pcap"
	out, errOut, code := run(t, nil, "analyze", "--format", "json", "--counters", cdir+"ena-bw-out.txt", capFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Findings []struct{ Kind, Summary string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range r.Findings {
		if f.Kind == "ena_bw_allowance" && strings.Contains(f.Summary, "policed") {
			found = true
		}
	}
	if !found {
		t.Errorf("no ena_bw_allowance finding tied to the policed flow in %+v", r.Findings)
	}
	_, errOut, code = run(t, nil, "analyze", "--counters", cdir+"neither.txt", capFile)
	if code != 2 || !strings.Contains(errOut, "neither.txt") {
		t.Errorf("bad counters file: exit %d, stderr %q", code, errOut)
	}
}
