package main

import (
	"regexp"
	"testing"
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
