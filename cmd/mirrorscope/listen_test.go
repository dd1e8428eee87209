package main

import (
	"bytes"
	"context"
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newRootCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"listen", "--vxlan", "127.0.0.1:0", "--http", "", "--sockets", "1", "--out", out, "-q"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
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
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v; stderr: %s", err, stderr.String())
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `"type":"summary"`) {
		t.Errorf("the reopened --out has no summary: %q", b)
	}
}
