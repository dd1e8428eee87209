package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
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
		{"extra argument", []string{"listen", "extra"}, 2, []string{`unexpected argument "extra"`, "listen --help"}, false},
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
	// Without the interface address, a capture of one conversation has
	// no capture host to infer (it rejected everything with exit 0).
	_, errOut, code = run(t, nil, "analyze", "--rule", "ingress 100 accept tcp dst-port 5201", path)
	if code != 2 || !strings.Contains(errOut, "--eni-ip") {
		t.Errorf("one conversation without --eni-ip: exit %d, %q; want exit 2 asking for --eni-ip", code, errOut)
	}
	b, _ := os.ReadFile(path)
	_, errOut, code = run(t, b, "analyze", "--rule", "ingress 100 accept tcp", "-")
	if code != 2 || !strings.Contains(errOut, "--eni-ip") {
		t.Errorf("stdin without --eni-ip: exit %d, %q; want exit 2 asking for --eni-ip", code, errOut)
	}
}

// TestAnalyzeFilterInfersHost: on a host's capture (one address in every
// packet, each peer in its own flows) --filter without --eni-ip takes the
// capture host for the interface and says so.
func TestAnalyzeFilterInfersHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.pcap")
	writeHostPcap(t, path)
	out, errOut, code := run(t, nil, "analyze", "--format", "json", "--rule", "ingress 100 accept tcp", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	schematest.Validate(t, "report", "analyze --rule without --eni-ip", []byte(out))
	var r struct {
		Capture struct {
			IPPackets uint64 `json:"ip_packets"`
			Filtered  uint64
		}
		Findings []struct{ Kind, Summary string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	// 3 peers x (2 packets to the host + 2 from it): ingress keeps 6.
	if r.Capture.IPPackets != 12 || r.Capture.Filtered != 6 {
		t.Errorf("ip %d filtered %d; want 12 and 6 (the egress half)", r.Capture.IPPackets, r.Capture.Filtered)
	}
	found := false
	for _, f := range r.Findings {
		if f.Kind == "eni_inferred" && strings.Contains(f.Summary, "10.0.0.5") && strings.Contains(f.Summary, "12 of 12") {
			found = true
		}
	}
	if !found {
		t.Errorf("no eni_inferred finding naming 10.0.0.5 in 12 of 12 packets: %+v", r.Findings)
	}
}

// writeHostPcap writes a pcap of host 10.0.0.5 exchanging two TCP segments
// each way with each of three peers.
func writeHostPcap(t *testing.T, path string) {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	host := [4]byte{10, 0, 0, 5}
	n := 0
	frame := func(src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags byte) {
		f := make([]byte, 14+20+20)
		f[12], f[13] = 0x08, 0x00
		ip := f[14:]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], 40)
		ip[8], ip[9] = 64, 6
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		tcp := ip[20:]
		binary.BigEndian.PutUint16(tcp[0:], sport)
		binary.BigEndian.PutUint16(tcp[2:], dport)
		binary.BigEndian.PutUint32(tcp[4:], seq)
		binary.BigEndian.PutUint32(tcp[8:], ack)
		tcp[12] = 5 << 4
		tcp[13] = flags
		binary.BigEndian.PutUint16(tcp[14:], 65535)
		rec := make([]byte, 16)
		n++
		le.PutUint32(rec[0:], 1_700_000_000)
		le.PutUint32(rec[4:], uint32(n*1000))
		le.PutUint32(rec[8:], uint32(len(f)))
		le.PutUint32(rec[12:], uint32(len(f)))
		b.Write(rec)
		b.Write(f)
	}
	for i, peer := range [][4]byte{{192, 0, 2, 1}, {192, 0, 2, 2}, {198, 51, 100, 9}} {
		cport := uint16(40000 + i)
		frame(peer, host, cport, 443, 100, 0, 0x02)
		frame(host, peer, 443, cport, 500, 101, 0x12)
		frame(peer, host, cport, 443, 101, 501, 0x10)
		frame(host, peer, 443, cport, 501, 101, 0x11)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVNISelection: a --vni that is not in the capture names the VNIs
// that are (it talked about mirror filters), in analyze and filter test;
// filter test on a mirror stream without --decap says to use it.
func TestVNISelection(t *testing.T) {
	path := repoTestdata + "/twosessions/twosessions.mon.pcap"
	out, errOut, code := run(t, nil, "analyze", "--vni", "99", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"no packet is in the selected mirror sessions", "VNI 4343 from 198.19.0.1", "VNI 4242 from 198.19.0.2", "--vni 4343"} {
		if !strings.Contains(out, want) {
			t.Errorf("analyze --vni 99: no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mirror filter") {
		t.Errorf("analyze --vni 99 talks about mirror filters:\n%s", out)
	}
	js, _, _ := run(t, nil, "analyze", "--format", "json", "--vni", "99", path)
	schematest.Validate(t, "report", "analyze --vni 99", []byte(js))
	out, _, _ = run(t, nil, "analyze", "--vni", "4242", path)
	if !strings.Contains(out, "selection  1,649 packets left out by --vni/--outer-src (1 other session(s))") {
		t.Errorf("analyze --vni 4242 does not count the other session's packets:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rule", "ingress 100 accept tcp", path}, "--decap"},
		{[]string{"--rule", "ingress 100 accept tcp", "--decap", "--vni", "7", path}, "the capture has VNI 4343 (1649 packets), 4242 (1642 packets)"},
		{[]string{"--rule", "ingress 100 accept tcp", "--vni", "4242", path}, "give --decap too"},
	} {
		_, errOut, code := run(t, nil, append([]string{"filter", "test"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("filter test %q: exit %d, %q; want exit 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
	out, errOut, code = run(t, nil, "filter", "test", "--rule", "ingress 100 accept tcp", "--decap", "--vni", "4242", path)
	if code != 0 || !strings.Contains(out, "other mirror sessions left out (--vni): 1649 pkts") || !strings.Contains(out, "capture: 1642 packets") {
		t.Errorf("filter test --decap --vni 4242: exit %d %s\n%s", code, errOut, out)
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
