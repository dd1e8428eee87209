package accuracy

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/sweep-ci/golden.tsv")

const ciDir = "../../testdata/sweep-ci"

// buildMirrorscope builds ./cmd/mirrorscope into a temporary folder: the
// sweep scores the command's JSON, as a user runs it.
// MIRRORSCOPE_BIN names a prebuilt binary instead.
func buildMirrorscope(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("MIRRORSCOPE_BIN"); b != "" {
		return b
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			t.Skip("no go toolchain to build mirrorscope")
		}
	}
	bin := filepath.Join(t.TempDir(), "mirrorscope")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/mirrorscope/mirrorscope/cmd/mirrorscope")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSweepCI scores the committed CI subset of the sweep
// (testdata/sweep-ci, made by testdata/gen/sweep/ci.sh) and compares every
// flow's verdict and score with golden.tsv, exactly: a verdict that
// changes, for better or worse, must be looked at and accepted with
// -update.
func TestSweepCI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mirrorscope and analyses the CI captures")
	}
	bin := buildMirrorscope(t)
	sums, err := filepath.Glob(filepath.Join(ciDir, "*", "*.summary.json"))
	if err != nil || len(sums) == 0 {
		t.Fatalf("no CI runs under %s: %v", ciDir, err)
	}
	sort.Strings(sums)
	var truths []*RunTruth
	var results []FlowResult
	a := &Analyzer{Bin: bin}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, s := range sums {
		var rt RunTruth
		if err := ReadJSON(s, &rt); err != nil {
			t.Fatal(err)
		}
		if rt.Excluded != "" {
			t.Fatalf("%s: CI run is excluded: %s", s, rt.Excluded)
		}
		frs, err := a.AnalyzeRun(ctx, filepath.Dir(s), &rt)
		if err != nil {
			t.Fatal(err)
		}
		truths = append(truths, &rt)
		results = append(results, frs...)
	}
	evs := Score("ci", truths, results)
	var b strings.Builder
	b.WriteString("capture\tclient\tdata\tvisibility\twant\tverdict\tright\n")
	right, data := 0, 0
	for _, e := range evs {
		vis := e.Vis
		if vis == "" {
			vis = "-"
		}
		fmt.Fprintf(&b, "%s\t%s\t%v\t%s\t%s\t%s\t%v\n", e.Capture(), e.R.Client, e.Data, vis, e.Want, e.R.Verdict, e.Right)
		if e.Data {
			data++
			if e.Right {
				right++
			}
		}
	}
	t.Logf("CI subset: %d runs, %d data flow views, %d right", len(truths), data, right)
	golden := filepath.Join(ciDir, "golden.tsv")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (make it with -update)", err)
	}
	if diff := cmp.Diff(strings.Split(b.String(), "\n"), strings.Split(string(want), "\n")); diff != "" {
		t.Errorf("verdicts on the CI subset changed (-got +want); if intended, go test ./internal/accuracy -run TestSweepCI -update:\n%s", diff)
	}
}
