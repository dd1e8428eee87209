package main

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

// TestAnalyzeInputBytes: inputs[].bytes is the bytes read from each file
// (its size once read to the end; the compressed size for gzip), and the
// report follows the schema.
func TestAnalyzeInputBytes(t *testing.T) {
	plain := repoTestdata + "/policer/policer.srv.pcap"
	raw, err := os.ReadFile(repoTestdata + "/shaper/shaper.srv.pcap")
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "shaper.srv.pcap.gz")
	f, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, nil, "analyze", "--format", "json", plain, gz)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	schematest.Validate(t, "report", "analyze --format json", []byte(out))
	var rep result.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Inputs) != 2 {
		t.Fatalf("inputs %+v", rep.Inputs)
	}
	for i, p := range []string{plain, gz} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if in := rep.Inputs[i]; in.Bytes != st.Size() || in.Packets == 0 {
			t.Errorf("inputs[%d] = %+v, want bytes %d (the file's size) and packets", i, in, st.Size())
		}
	}
}

// TestToolVersionFromLdflags builds the binary as scripts/build.sh does
// (-ldflags -X main.version=...) and checks that the version is what the
// report's "tool" and --version say.
func TestToolVersionFromLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	script, err := os.ReadFile("../../scripts/build.sh")
	if err != nil || !strings.Contains(string(script), "-X main.version=") {
		t.Fatalf("scripts/build.sh does not stamp main.version (%v)", err)
	}
	const ver = "v9.8.7-contract-test"
	bin := filepath.Join(t.TempDir(), "mirrorscope")
	build := exec.Command(goBin, "build", "-ldflags", "-X main.version="+ver, "-o", bin, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), ver) {
		t.Errorf("--version: %q (%v), want %s", b, err, ver)
	}
	b, err = exec.Command(bin, "analyze", "--format", "json", repoTestdata+"/policer/policer.srv.pcap").Output()
	if err != nil {
		t.Fatal(err)
	}
	var rep result.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Tool != "mirrorscope "+ver {
		t.Errorf("tool %q, want %q", rep.Tool, "mirrorscope "+ver)
	}
}

// TestAnalyzeBrokenFiles: analyze on each broken file of testdata/broken
// exits 2 with the reader's one-line error naming the file; when frames
// could be read, the report of them is still written, follows the schema
// and carries the error in inputs[].error.
func TestAnalyzeBrokenFiles(t *testing.T) {
	paths, _ := filepath.Glob(repoTestdata + "/broken/*")
	if len(paths) < 8 {
		t.Fatalf("%d broken files in testdata/broken (testdata/gen/broken.sh makes them)", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			out, errOut, code := run(t, nil, "analyze", "--format", "json", p)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "mirrorscope: capture: "+p+": ") {
				t.Errorf("stderr %q, want one line naming the file", errOut)
			}
			if out == "" {
				return // nothing could be opened
			}
			schematest.Validate(t, "report", "report of "+p, []byte(out))
			var rep result.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Inputs) != 1 || rep.Inputs[0].Error == "" || !strings.Contains(errOut, rep.Inputs[0].Error) {
				t.Errorf("inputs %+v, want the error of %q", rep.Inputs, errOut)
			}
		})
	}
}

// TestAnalyzeAnnotateStdin: --annotate takes its frames from the analysis
// (one pass), so a capture on standard input is annotated with the flows'
// verdicts, as a file is.
func TestAnalyzeAnnotateStdin(t *testing.T) {
	in := repoTestdata + "/policer/policer.cli.pcap"
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	dir := t.TempDir()
	ann := filepath.Join(dir, "stdin.pcapng")
	if _, errOut, code := run(t, nil, "analyze", "-q", "--annotate", ann, "-"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(ann)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "flow 1: policer at 5.0 Mbit/s"); n < 60 {
		t.Errorf("%d comments with the verdict in the annotated standard input, want one per retransmission (60)", n)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("files left next to the output: %v", ents)
	}
}
