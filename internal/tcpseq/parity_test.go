package tcpseq

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The tshark fields compared with our Result, in output order after
// frame.number. The flags come first, in the order of result.go.
var flagFields = [NumFlags]string{
	"tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
	"tcp.analysis.spurious_retransmission", "tcp.analysis.out_of_order",
	"tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment",
	"tcp.analysis.duplicate_ack", "tcp.analysis.zero_window",
	"tcp.analysis.zero_window_probe", "tcp.analysis.zero_window_probe_ack",
	"tcp.analysis.window_full", "tcp.analysis.window_update",
	"tcp.analysis.keep_alive", "tcp.analysis.keep_alive_ack",
	"tcp.analysis.reused_ports", "tcp.flags.reset",
}

var valueFields = []string{
	"tcp.stream", "tcp.analysis.duplicate_ack_num", "tcp.analysis.ack_rtt",
	"tcp.analysis.bytes_in_flight", "tcp.window_size",
}

// tsharkRow is what tshark says about one TCP frame.
type tsharkRow struct {
	flags  Flag
	values [5]string // valueFields
}

func tsharkArgs(file string) []string {
	args := []string{"-n", "-r", file,
		"-o", "tcp.analyze_sequence_numbers:TRUE",
		"-o", "tcp.track_bytes_in_flight:TRUE",
		"-o", "tcp.relative_sequence_numbers:TRUE",
		"-d", "udp.port==4789,vxlan",
		"-Y", "tcp",
		"-T", "fields", "-E", "occurrence=f", "-E", "separator=/t",
		"-e", "frame.number"}
	for _, f := range flagFields {
		args = append(args, "-e", f)
	}
	for _, f := range valueFields {
		args = append(args, "-e", f)
	}
	return args
}

func runTshark(file string) (map[int]tsharkRow, error) {
	cmd := exec.Command("tshark", tsharkArgs(file)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %w: %s", file, err, stderr.String())
	}
	rows := map[int]tsharkRow{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 1+NumFlags+len(valueFields) {
			return nil, fmt.Errorf("tshark %s: unexpected line %q", file, line)
		}
		n, err := strconv.Atoi(cols[0])
		if err != nil {
			return nil, fmt.Errorf("tshark %s: frame number %q: %w", file, cols[0], err)
		}
		var r tsharkRow
		for i := 0; i < NumFlags; i++ {
			v := cols[1+i]
			if v != "" && v != "0" && v != "False" {
				r.flags |= FlagByIndex(i)
			}
		}
		copy(r.values[:], cols[1+NumFlags:])
		rows[n] = r
	}
	return rows, nil
}

// ourValues renders a Result the way tshark prints the value fields.
func ourValues(r *Result) [5]string {
	var v [5]string
	v[0] = strconv.FormatUint(uint64(r.Stream), 10)
	if r.Flags&DuplicateAck != 0 {
		v[1] = strconv.FormatUint(uint64(r.DupAckNum), 10)
	}
	if r.HasAckRTT && r.AckRTT != 0 {
		v[2] = fmtSeconds(r.AckRTT)
	}
	if r.BytesInFlight > 0 {
		v[3] = strconv.FormatInt(r.BytesInFlight, 10)
	}
	v[4] = strconv.FormatUint(uint64(r.Window), 10)
	return v
}

// fmtSeconds prints ns as tshark prints a relative time: seconds with 9
// decimals.
func fmtSeconds(ns int64) string {
	sign := ""
	if ns < 0 {
		sign, ns = "-", -ns
	}
	return fmt.Sprintf("%s%d.%09d", sign, ns/1e9, ns%1e9)
}

// tsharkCache runs tshark once per file per test binary run.
type tsharkCache struct {
	mu  sync.Mutex
	out map[string]*tsharkOnce
}

type tsharkOnce struct {
	once sync.Once
	rows map[int]tsharkRow
	err  error
}

func (c *tsharkCache) get(file string) (map[int]tsharkRow, error) {
	c.mu.Lock()
	if c.out == nil {
		c.out = map[string]*tsharkOnce{}
	}
	o := c.out[file]
	if o == nil {
		o = &tsharkOnce{}
		c.out[file] = o
	}
	c.mu.Unlock()
	o.once.Do(func() { o.rows, o.err = runTshark(file) })
	return o.rows, o.err
}

var tshark tsharkCache

func needTshark(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed; the parity test needs tshark 4.0 (apt-get install tshark)")
	}
}

// TestWiresharkParity compares, frame by frame, our verdicts with tshark's
// on every capture of the corpus. A capture with several mirror sessions
// is compared per session: tshark gets a file holding only that session's
// frames (docs/wireshark-parity.md explains why).
func TestWiresharkParity(t *testing.T) {
	needTshark(t)
	files := testCaptures(t)
	if len(files) == 0 {
		t.Fatal("no capture in testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			frames, err := readCapture(file)
			if err != nil {
				t.Fatal(err)
			}
			sessions := map[sessKey][]int{} // frame indexes per session
			var order []sessKey
			for i := range frames {
				if !frames[i].ok {
					continue
				}
				k := sessOf(&frames[i].p)
				if _, ok := sessions[k]; !ok {
					order = append(order, k)
				}
				sessions[k] = append(sessions[k], i)
			}
			if len(order) <= 1 {
				compareFile(t, file, frames)
				return
			}
			for _, k := range order {
				if !k.hasVNI {
					t.Fatalf("capture mixes a non-VXLAN session with others; cannot split it for tshark")
				}
				dir := t.TempDir()
				sub := filepath.Join(dir, fmt.Sprintf("vni%d.pcap", k.vni))
				cmd := exec.Command("tshark", "-n", "-r", file, "-d", "udp.port==4789,vxlan",
					"-Y", fmt.Sprintf("vxlan.vni==%d", k.vni), "-F", "nsecpcap", "-w", sub)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("splitting VNI %d: %v: %s", k.vni, err, out)
				}
				idx := sessions[k]
				sf := make([]frame, len(idx))
				for j, i := range idx {
					sf[j] = frames[i]
					sf[j].num = j + 1 // frame number in the split file
				}
				t.Run(fmt.Sprintf("vni%d", k.vni), func(t *testing.T) {
					compareFile(t, sub, sf)
				})
			}
		})
	}
}

func compareFile(t *testing.T, file string, frames []frame) {
	t.Helper()
	want, err := tshark.get(file)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := analyzeFrames(frames)
	var nFlags, nBad int
	var counts [NumFlags]int
	for _, fr := range frames {
		r, ours := got[fr.num]
		w, theirs := want[fr.num]
		if !ours && !theirs {
			continue
		}
		if !ours {
			if w.flags != 0 {
				nBad++
				if nBad <= 20 {
					t.Errorf("frame %d: tshark %v, we did not analyze it", fr.num, w.flags.Names())
				}
			}
			continue
		}
		if !theirs {
			nBad++
			if nBad <= 20 {
				t.Errorf("frame %d: we analyzed it, tshark shows no TCP", fr.num)
			}
			continue
		}
		for i := 0; i < NumFlags; i++ {
			if r.Flags&FlagByIndex(i) != 0 {
				counts[i]++
			}
		}
		if r.Flags != 0 {
			nFlags++
		}
		ov := ourValues(&r)
		if r.Flags != w.flags || ov != w.values {
			nBad++
			if nBad <= 20 {
				t.Errorf("frame %d: got flags %v values %q, tshark flags %v values %q",
					fr.num, r.Flags.Names(), ov, w.flags.Names(), w.values)
			}
		}
	}
	if nBad > 20 {
		t.Errorf("... %d frames differ in total", nBad)
	}
	var parts []string
	for i, n := range counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", flagNames[i], n))
		}
	}
	t.Logf("%s: %d TCP frames, %d flagged (%s), %d differences", filepath.Base(file), len(got), nFlags, strings.Join(parts, " "), nBad)
}
