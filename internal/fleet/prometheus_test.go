package fleet

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const promDir = "../../deploy/prometheus"

// TestPrometheusRulesUseRealMetrics: every mirrorscope metric the example
// rules and alerts query is one that listen or fleet exports.
func TestPrometheusRulesUseRealMetrics(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(promDir, "mirrorscope.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, dir := range []string{"../listen", "."} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
	}
	names := regexp.MustCompile(`\bmirrorscope_[a-z_]+\b`).FindAllString(string(rules), -1)
	if len(names) < 8 {
		t.Fatalf("only %d metric names found", len(names))
	}
	for _, n := range names {
		if !strings.Contains(src.String(), `"`+n+`"`) {
			t.Errorf("rules use %s, which no collector exports", n)
		}
	}
}

// TestPromtool checks the scrape config and rules with promtool, and runs
// the rules' unit tests (deploy/prometheus/mirrorscope.rules.test.yml).
// CI installs promtool (Debian's prometheus package, scripts/test.sh).
func TestPromtool(t *testing.T) {
	pt, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "rules", "mirrorscope.rules.yml"},
		{"check", "config", "--syntax-only", "prometheus.yml"},
		{"test", "rules", "mirrorscope.rules.test.yml"},
	} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = promDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
