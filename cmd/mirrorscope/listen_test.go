package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestListenHelpDefaults: the defaults --help shows are the ones used.
func TestListenHelpDefaults(t *testing.T) {
	out, _, code := run(t, nil, "listen", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, re := range []string{
		`--max-report-flows int\s+most flows listed .*\(default 1000\)`,
		`--memory-limit bytes\s+memory budget .*\(default 1073741824\)`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("listen --help does not match %s:\n%s", re, out)
		}
	}
	out, _, _ = run(t, nil, "analyze", "--help")
	if !regexp.MustCompile(`--max-report-flows int\s+most flows listed .*\(default 10000\)`).MatchString(out) {
		t.Errorf("analyze --help lost its own default")
	}
}

// TestListenSIGHUPReopens: SIGHUP makes listen reopen --out (after
// logrotate moved it) instead of ending it.
func TestListenSIGHUPReopens(t *testing.T) {
	out := filepath.Join(t.TempDir(), "flows.jsonl")
	stop, _, stderr := startListen(t, "--vxlan", "127.0.0.1:0", "--out", out)
	waitFile := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(out); err == nil {
				return
			}
		}
		t.Fatalf("%s not created; stderr: %s", out, stderr.String())
	}
	waitFile()
	time.Sleep(100 * time.Millisecond) // past listen.New: the listener runs
	if err := os.Rename(out, out+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFile()
	if err := stop(); err != nil {
		t.Fatalf("listen: %v; stderr: %s", err, stderr.String())
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `"type":"summary"`) {
		t.Errorf("the reopened --out has no summary: %q", b)
	}
}

// TestListenGeneveWithSpace: `--geneve ADDR:PORT` with a space receives on
// ADDR:PORT (it failed with `unknown command "ADDR"`), and a stray
// argument is still a usage error.
func TestListenGeneveWithSpace(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	out := filepath.Join(t.TempDir(), "flows.jsonl")
	stop, done, stderr := startListen(t, "--vxlan", "off", "--geneve", addr, "--out", out)
	// Probe only once listen has started (its --out exists): a probe
	// socket open while listen binds would make it refuse a held port.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	held := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !held; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("listen ended early: %v; stderr: %s", err, stderr.String())
		default:
		}
		// The listener's sockets use SO_REUSEPORT; a plain bind fails
		// once it holds the port.
		if c, err := net.ListenPacket("udp", addr); err != nil {
			held = true
		} else {
			c.Close()
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("listen: %v; stderr: %s", err, stderr.String())
	}
	if !held {
		t.Fatalf("listen --geneve %s never bound %s", addr, addr)
	}

	for _, args := range [][]string{
		{"listen", "--geneve", "6081"},
		{"listen", "--vxlan", "off", "stray"},
		{"listen", "--geneve", "127.0.0.1:6081", "127.0.0.1:6082"},
	} {
		_, errOut, code := run(t, nil, args...)
		if code != 2 || !strings.Contains(errOut, "argument") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming the argument", args, code, errOut)
		}
	}
}

// startListen runs `listen --http "" --sockets 1 -q ARGS` in-process until
// stop, which returns its error. done delivers that error if listen ends
// by itself first (stop must then not be called).
func startListen(t *testing.T, args ...string) (stop func() error, done <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := newRootCmd()
	var stdout bytes.Buffer
	stderr = new(bytes.Buffer)
	cmd.SetOut(&stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(append([]string{"listen", "--http", "", "--sockets", "1", "-q"}, args...))
	ch := make(chan error, 1)
	go func() { ch <- cmd.ExecuteContext(ctx) }()
	return func() error { cancel(); return <-ch }, ch, stderr
}
