package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListenERSPANReplay: `listen --erspan ADDR` receives what `replay
// --encap erspan2 --to ADDR` sends (GRE over IP, raw sockets), and reports
// the capture's flows in one session keyed by outer source and ERSPAN
// session id.
func TestListenERSPANReplay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raw GRE sockets need root (CAP_NET_RAW)")
	}
	pid := os.Getpid()
	addr := fmt.Sprintf("127.%d.%d.%d", byte(pid>>16)|0xc0, byte(pid>>8), byte(pid))
	out := filepath.Join(t.TempDir(), "flows.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newRootCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"listen", "--erspan", addr, "--vxlan", "", "--http", "", "--sockets", "1", "--out", out, "-q"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen did not start; stderr: %s", stderr.String())
		}
	}
	time.Sleep(100 * time.Millisecond) // past listen.New: the socket is open
	capPath := filepath.Join(repoTestdata, "policer", "policer.srv.pcap")
	_, rerr, code := run(t, nil, "replay", capPath, "--to", addr, "--encap", "erspan2", "--vni", "100", "--topspeed")
	if code != 0 || !strings.Contains(rerr, "through a raw socket, 0 skipped") {
		t.Fatalf("replay exit %d: %s", code, rerr)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v; stderr: %s", err, stderr.String())
	}
	aout, _, code := run(t, nil, "analyze", "--format", "json", capPath)
	if code != 0 {
		t.Fatalf("analyze exit %d", code)
	}
	var rep struct {
		Flows []struct{ Client, Server string }
	}
	if err := json.Unmarshal([]byte(aout), &rep); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flows := map[string]bool{}
	var sum struct {
		Listener struct {
			Sessions []struct {
				OuterSrc string `json:"outer_src"`
				VNI      uint32 `json:"vni"`
				Encap    string `json:"encap"`
			}
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var l struct {
			Type           string
			Client, Server string
			Interim        bool
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		switch {
		case l.Type == "flow" && !l.Interim:
			flows[l.Client+" "+l.Server] = true
		case l.Type == "summary":
			if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, fl := range rep.Flows {
		if !flows[fl.Client+" "+fl.Server] {
			t.Errorf("flow %s %s of analyze not reported by listen", fl.Client, fl.Server)
		}
	}
	if len(flows) != len(rep.Flows) {
		t.Errorf("listen reported %d flows, analyze %d", len(flows), len(rep.Flows))
	}
	if s := sum.Listener.Sessions; len(s) != 1 || s[0].Encap != "erspan2" || s[0].VNI != 100 || s[0].OuterSrc != "127.0.0.1" {
		t.Errorf("sessions %+v, want one erspan2 session 100 from 127.0.0.1", s)
	}
}

// TestERSPANUsageErrors: bad --erspan, --gre-udp and replay GRE arguments
// exit 2 with a message naming the flag.
func TestERSPANUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"listen", "--erspan", "127.0.0.1:47", "--http", ""}, "--erspan"},
		{[]string{"listen", "--gre-udp", "127.0.0.1", "--http", ""}, "--gre-udp"},
		{[]string{"replay", filepath.Join(repoTestdata, "policer", "policer.srv.pcap"), "--to", "127.0.0.1", "--encap", "erspan3", "--vni", "1024"}, "10 bits"},
		{[]string{"replay", filepath.Join(repoTestdata, "policer", "policer.srv.pcap"), "--to", "127.0.0.1", "--encap", "nvgre"}, "erspan2"},
	} {
		_, stderr, code := run(t, nil, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, stderr, c.want)
		}
	}
	out, _, _ := run(t, nil, "listen", "--help")
	for _, f := range []string{"--erspan", "--gre-udp"} {
		if !strings.Contains(out, f) {
			t.Errorf("listen --help does not mention %s", f)
		}
	}
}
