package annotate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "..", "testdata"}, parts...)...)
}

// pass1 is the caller's analysis; it also returns the frames the engine
// flagged as retransmissions.
func pass1(t *testing.T, cfg engine.Config, paths ...string) (*result.Report, map[uint64]bool) {
	rep, retx, _ := pass1First(t, cfg, paths...)
	return rep, retx
}

// pass1First also returns the first frame of every flow.
func pass1First(t *testing.T, cfg engine.Config, paths ...string) (*result.Report, map[uint64]bool, map[uint64]uint64) {
	t.Helper()
	retx := map[uint64]bool{}
	first := map[uint64]uint64{}
	cfg.OnPacket = func(ev *result.PacketEvent) {
		n, f, r := ev.Frame, ev.Flow, ev.TCP
		if f != nil {
			if _, ok := first[f.ID]; !ok {
				first[f.ID] = n
			}
		}
		if r != nil && r.Flags&tcpseq.Retransmission != 0 {
			retx[n] = true
		}
	}
	eng := engine.New(cfg)
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var fr capture.Frame
	for {
		if err := src.Next(&fr); err != nil {
			if err == io.EOF {
				break
			}
			t.Fatal(err)
		}
		eng.Packet(fr.Data, fr.TS, fr.OrigLen, fr.Link)
	}
	return eng.Finish(), retx, first
}

// annotateFiles is what analyze --annotate does: one pass of the engine
// over paths, the Writer taking every frame from it, and the annotated
// file written with the report of that pass.
func annotateFiles(t *testing.T, out string, paths []string, cfg engine.Config, opts Options) (*result.Report, Stats, error) {
	t.Helper()
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		return nil, Stats{}, err
	}
	defer src.Close()
	opts.Interfaces = src.Interfaces
	w, err := Create(out, opts)
	if err != nil {
		return nil, Stats{}, err
	}
	defer w.Close()
	if user := cfg.OnPacket; user != nil {
		cfg.OnPacket = func(ev *result.PacketEvent) { user(ev); w.OnPacket(ev) }
	} else {
		cfg.OnPacket = w.OnPacket
	}
	eng := engine.New(cfg)
	_, readErr := eng.Run(context.Background(), src, len(paths))
	rep := eng.Finish()
	st, err := w.Finish(rep)
	if err != nil {
		return rep, st, err
	}
	return rep, st, readErr
}

type readBack struct {
	frames   [][]byte
	ts       []int64
	comments map[uint64]string // frame number -> comment
	ifaces   []pcapgo.NgInterface
}

func readNG(t *testing.T, path string) readBack {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatalf("pcapgo cannot read %s: %v", path, err)
	}
	rb := readBack{comments: map[uint64]string{}}
	for n := uint64(1); ; n++ {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		rb.frames = append(rb.frames, append([]byte(nil), data...))
		rb.ts = append(rb.ts, ci.Timestamp.UnixNano())
		if len(opts.Comments) > 0 {
			rb.comments[n] = strings.Join(opts.Comments, " | ")
		}
	}
	for i := 0; i < r.NInterfaces(); i++ {
		in, _ := r.Interface(i)
		rb.ifaces = append(rb.ifaces, in)
	}
	return rb
}

func commentsText(c map[uint64]string) string {
	var ns []uint64
	for n := range c {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%d\t%s\n", n, strings.ReplaceAll(c[n], "\n", "\\n"))
	}
	return b.String()
}

// normalize drops the findings' comments and replaces the diagnosis'
// wording (owned by internal/engine and internal/diagnose) with a
// placeholder, so the golden file pins what this package writes where.
func normalize(s string, rep *result.Report) string {
	for _, f := range rep.Findings {
		line := fmt.Sprintf("mirrorscope: finding (%s): %s", f.Severity, f.Summary)
		s = strings.ReplaceAll(s, "\\n"+line, "")
		s = strings.ReplaceAll(s, line+"\\n", "")
		s = strings.ReplaceAll(s, line, "")
	}
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasSuffix(l, "\t") {
			keep = append(keep, l)
		}
	}
	s = strings.Join(keep, "\n") + "\n"
	for _, f := range rep.Flows {
		if f.Diagnosis == nil {
			continue
		}
		b, _ := json.Marshal(f.Diagnosis)
		var d struct{ Summary string }
		json.Unmarshal(b, &d)
		if d.Summary != "" {
			s = strings.ReplaceAll(s, d.Summary, "{verdict summary}")
		}
	}
	return s
}

func verdictSummary(rep *result.Report, id uint64) string {
	for _, f := range rep.Flows {
		if f.ID == id && f.Diagnosis != nil {
			b, _ := json.Marshal(f.Diagnosis)
			var d struct{ Summary string }
			json.Unmarshal(b, &d)
			return d.Summary
		}
	}
	return ""
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if d := cmp.Diff(got, string(want)); d != "" {
		t.Errorf("%s (-got +want):\n%s", name, d)
	}
}

// tsharkFrames runs tshark with a display filter and returns the frame
// numbers (and the first field) it prints.
func tsharkFrames(t *testing.T, file, filter string, fields ...string) map[uint64]string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	args := []string{"-n", "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	m := map[uint64]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		a, b, _ := strings.Cut(line, "\t")
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			t.Fatalf("tshark line %q", line)
		}
		m[n] = b
	}
	return m
}

func TestPolicerSender(t *testing.T) {
	in := testdata("policer", "policer.cli.pcap")
	cfg := engine.DefaultConfig()
	// A separate analysis gives the reference: the frames flagged and the
	// first frame of each flow.
	rep, retx, first := pass1First(t, cfg, in)
	out := filepath.Join(t.TempDir(), "out.pcapng")
	got, st, err := annotateFiles(t, out, []string{in}, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != 2112 || got.Capture.Packets != 2112 {
		t.Fatalf("stats %+v, report packets %d", st, got.Capture.Packets)
	}
	rb := readNG(t, out)
	// every frame as received, same time
	orig, err := capture.OpenFiles([]string{in}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	var fr capture.Frame
	for i := 0; ; i++ {
		if err := orig.Next(&fr); err == io.EOF {
			if i != len(rb.frames) {
				t.Fatalf("%d frames written, %d read", len(rb.frames), i)
			}
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fr.Data, rb.frames[i]) || fr.TS != rb.ts[i] {
			t.Fatalf("frame %d differs from the input", i+1)
		}
	}
	if uint64(len(rb.comments)) != st.Commented {
		t.Errorf("%d comments read, %d written", len(rb.comments), st.Commented)
	}
	if len(retx) != 60 {
		t.Fatalf("engine flagged %d retransmissions, want 60", len(retx))
	}
	for n := range retx {
		c := rb.comments[n]
		if !strings.Contains(c, "retransmission") || !strings.Contains(c, "policer at 5.0 Mbit/s") {
			t.Errorf("frame %d (retransmission): comment %q", n, c)
		}
	}
	// every finding naming a flow is on the flow's first packet (the
	// findings are the engine's: checked here, kept out of the golden file)
	for _, fd := range rep.Findings {
		for _, id := range fd.Flows {
			c := rb.comments[first[id]]
			// a verdict finding repeats the verdict's summary, written once
			vs := verdictSummary(rep, id)
			if !strings.Contains(c, fd.Summary) && !(vs != "" && strings.Contains(fd.Summary, vs) && strings.Contains(c, vs)) {
				t.Errorf("finding %q not on flow %d's first frame %d: %q", fd.Summary, id, first[id], c)
			}
		}
	}
	golden(t, "policer.cli.comments", normalize(commentsText(rb.comments), rep))

	// tshark sees our comments on every frame it flags as a retransmission
	ts := tsharkFrames(t, out, "frame.comment", "frame.comment")
	if len(ts) != len(rb.comments) {
		t.Errorf("tshark shows %d commented frames, we wrote %d", len(ts), len(rb.comments))
	}
	for n, c := range rb.comments {
		// tshark prints a comment's newline as the two characters \n
		if got := strings.ReplaceAll(ts[n], `\n`, "\n"); got != c {
			t.Errorf("frame %d: tshark reads comment %q, we wrote %q", n, got, c)
			break
		}
	}
	for n := range tsharkFrames(t, in, "tcp.analysis.retransmission") {
		if !strings.Contains(ts[n], "mirrorscope: ") || !strings.Contains(ts[n], "retransmission") {
			t.Errorf("tshark: retransmission frame %d has comment %q", n, ts[n])
		}
	}
	// (the frames are byte for byte the input's, checked above, so
	// tshark's own analysis of the file is the input's)
}

func TestMirrorDecapAndSessions(t *testing.T) {
	in := testdata("policer", "policer.mon.pcap")
	cfg := engine.DefaultConfig()
	for _, decap := range []bool{false, true} {
		t.Run(fmt.Sprintf("decap=%v", decap), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.pcapng")
			_, st, err := annotateFiles(t, out, []string{in}, cfg, Options{Decap: decap})
			if err != nil {
				t.Fatal(err)
			}
			rb := readNG(t, out)
			var sess []string
			for _, f := range rb.ifaces {
				if strings.Contains(f.Description, "AWS traffic mirror session") {
					sess = append(sess, f.Name+": "+f.Description)
				}
			}
			if len(sess) != 1 || !strings.Contains(sess[0], "outer source 198.19.0.2 VNI 4242") {
				t.Errorf("session interfaces: %q", sess)
			}
			if decap != strings.Contains(sess[0], "decapsulated") {
				t.Errorf("decap %v but interface says %q", decap, sess[0])
			}
			if st.Commented == 0 {
				t.Fatal("nothing commented")
			}
			// tshark reads the result, sees TCP in every session frame,
			// and each frame it flags as a retransmission carries ours
			rt := tsharkFrames(t, out, "tcp.analysis.retransmission", "frame.interface_description", "frame.comment")
			if len(rt) == 0 {
				t.Fatal("tshark finds no retransmissions in the annotated mirror capture")
			}
			for n, line := range rt {
				desc, cm, _ := strings.Cut(line, "\t")
				if !strings.Contains(cm, "mirrorscope: ") || !strings.Contains(cm, "retransmission") {
					t.Errorf("frame %d: tshark retransmission, our comment %q", n, cm)
				}
				if !strings.Contains(desc, "VNI 4242") {
					t.Errorf("frame %d: interface %q", n, desc)
				}
			}
			if decap {
				vx := tsharkFrames(t, out, "vxlan")
				if len(vx) != 0 {
					t.Errorf("%d frames still VXLAN after decapsulation", len(vx))
				}
			}
		})
	}
}

// TestStdinVerdicts: the input is read once, so standard input gets the
// same comments as a file, verdicts included (they were flags only when
// annotate read the files a second time).
func TestStdinVerdicts(t *testing.T) {
	in := testdata("policer", "policer.cli.pcap")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	cfg := engine.DefaultConfig()
	dir := t.TempDir()
	got, st, err := annotateFiles(t, filepath.Join(dir, "stdin.pcapng"), []string{"-"}, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != 2112 || got.Capture.Packets != 2112 {
		t.Fatalf("stats %+v, packets %d", st, got.Capture.Packets)
	}
	if _, _, err := annotateFiles(t, filepath.Join(dir, "file.pcapng"), []string{in}, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	fromStdin, fromFile := readNG(t, filepath.Join(dir, "stdin.pcapng")), readNG(t, filepath.Join(dir, "file.pcapng"))
	if diff := cmp.Diff(fromStdin.comments, fromFile.comments); diff != "" {
		t.Errorf("comments (-stdin +file):\n%s", diff)
	}
	var verdicts int
	for _, c := range fromStdin.comments {
		if strings.Contains(c, "policer at 5.0 Mbit/s") {
			verdicts++
		}
	}
	if verdicts == 0 {
		t.Error("no verdict in the comments of standard input")
	}
}

// TestNoSpoolLeft: the spool file is gone after Finish, and after Close
// without Finish (which also removes the unwritten output).
func TestNoSpoolLeft(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := annotateFiles(t, filepath.Join(dir, "a.pcapng"), []string{testdata("policer", "policer.cli.pcap")}, engine.DefaultConfig(), Options{}); err != nil {
		t.Fatal(err)
	}
	w, err := Create(filepath.Join(dir, "b.pcapng"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff(names, []string{"a.pcapng"}); diff != "" {
		t.Errorf("files left (-got +want):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcap")
	good, err := os.ReadFile(testdata("policer", "policer.cli.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// cut in the middle of a record
	if err := os.WriteFile(bad, good[:len(good)/2+7], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pcapng")
	_, st, err := annotateFiles(t, out, []string{bad}, engine.DefaultConfig(), Options{})
	var ce *capture.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err %v, want a *capture.Error", err)
	}
	rb := readNG(t, out) // still a valid file with the whole frames
	if uint64(len(rb.frames)) != st.Frames || st.Frames == 0 {
		t.Errorf("read %d frames, wrote %d", len(rb.frames), st.Frames)
	}
	if _, _, err := annotateFiles(t, filepath.Join(dir, "x.pcapng"), []string{filepath.Join(dir, "missing.pcap")}, engine.DefaultConfig(), Options{}); err == nil {
		t.Error("no error for a missing input")
	}
}
