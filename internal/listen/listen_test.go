package listen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testdata = "../../testdata"

func capturePath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(testdata, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("capture %s missing: %v", rel, err)
	}
	return p
}

// lines is a LineWriter collecting JSON lines for the test.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testFlow is what must agree between the listener and the offline
// engine: everything but ids, times and the session's outer addresses
// (replay sends from the loopback address).
type testFlow struct {
	Proto, Client, Server string
	VNI                   uint32
	Packets, Bytes        uint64
	C2SPackets, S2CPkts   uint64
	C2SBytes, S2CBytes    uint64
	Flags                 map[string]uint64
}

type jsonFlow struct {
	Type    string `json:"type"`
	Interim bool   `json:"interim"`
	result.Flow
	TCP *struct {
		Analysis map[string]uint64 `json:"analysis"`
	} `json:"tcp"`
}

func (f *jsonFlow) shape(vni bool) testFlow {
	s := testFlow{Proto: f.Proto, Client: f.Client, Server: f.Server, Packets: f.Packets, Bytes: f.Bytes,
		C2SPackets: f.C2S.Packets, S2CPkts: f.S2C.Packets, C2SBytes: f.C2S.Bytes, S2CBytes: f.S2C.Bytes}
	if vni && f.Session != nil {
		s.VNI = f.Session.VNI
	}
	if f.TCP != nil && len(f.TCP.Analysis) > 0 {
		s.Flags = f.TCP.Analysis
	}
	return s
}

func sortShapes(s []testFlow) {
	sort.Slice(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		if a.Server != b.Server {
			return a.Server < b.Server
		}
		return a.VNI < b.VNI
	})
}

// timeFree folds the TCP flags whose choice depends on packet timing
// (Wireshark picks fast retransmission within 20 ms of a dup ACK and out
// of order within the iRTT): the replayed stream has the receiver's
// times, not the capture's. What is retransmitted or out of order in all
// is the same.
func timeFree(s []testFlow) []testFlow {
	out := make([]testFlow, len(s))
	for i, f := range s {
		out[i] = f
		if f.Flags == nil {
			continue
		}
		m := map[string]uint64{}
		for k, v := range f.Flags {
			switch k {
			case "fast_retransmission", "out_of_order":
			case "retransmission":
			default:
				m[k] = v
			}
		}
		if n := f.Flags["retransmission"] + f.Flags["out_of_order"]; n > 0 {
			m["retransmission+out_of_order"] = n
		}
		out[i].Flags = m
	}
	return out
}

// offline runs the engine over files as analyze does.
func offline(t testing.TB, files ...string) []testFlow {
	t.Helper()
	r, err := engine.AnalyzeFiles(engine.DefaultConfig(), files...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r.Flows)
	var jf []jsonFlow
	if err := json.Unmarshal(b, &jf); err != nil {
		t.Fatal(err)
	}
	var out []testFlow
	for i := range jf {
		out = append(out, jf[i].shape(true))
	}
	sortShapes(out)
	return out
}

// offlinePerIface analyses a pcapng written by the listener one
// interface (= mirror session) at a time, taking the VNI from the
// interface name, so sessions stay apart as they do in the listener.
func offlinePerIface(t testing.TB, file string) []testFlow {
	t.Helper()
	src, err := capture.OpenFiles([]string{file}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	engs := map[uint32]*engine.Engine{}
	var f capture.Frame
	for {
		err := src.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := engs[f.Iface]
		if e == nil {
			e = engine.New(engine.DefaultConfig())
			engs[f.Iface] = e
		}
		e.Packet(f.Data, f.TS, f.OrigLen, f.Link)
	}
	var out []testFlow
	for id, e := range engs {
		var vni uint32
		name := src.Interfaces()[id].Name
		// "SRC vni N [gwlbe X]", "SRC erspan2 session N", "SRC gre key N"
		f := strings.Fields(name)
		found := false
		for i := 0; i+1 < len(f) && !found; i++ {
			if f[i] == "vni" || f[i] == "session" || f[i] == "key" {
				_, err := fmt.Sscanf(f[i+1], "%d", &vni)
				found = err == nil
			}
		}
		if !found {
			t.Fatalf("interface name %q: no session id", name)
		}
		r := e.Finish()
		b, _ := json.Marshal(r.Flows)
		var jf []jsonFlow
		if err := json.Unmarshal(b, &jf); err != nil {
			t.Fatal(err)
		}
		for i := range jf {
			s := jf[i].shape(false)
			s.VNI = vni
			out = append(out, s)
		}
	}
	sortShapes(out)
	return out
}

// parseLines splits the listener's output into ended flows, findings and
// the summary.
func parseLines(t testing.TB, out string) (flows []jsonFlow, findings []result.Finding, sum *Summary) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var typ struct{ Type string }
		if err := json.Unmarshal(sc.Bytes(), &typ); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		switch typ.Type {
		case "flow":
			var f jsonFlow
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				t.Fatal(err)
			}
			if !f.Interim {
				flows = append(flows, f)
			}
		case "finding":
			var f result.Finding
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				t.Fatal(err)
			}
			findings = append(findings, f)
		case "summary":
			sum = new(Summary)
			if err := json.Unmarshal(sc.Bytes(), sum); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("line of unknown type: %s", sc.Text())
		}
	}
	return flows, findings, sum
}

// running is a listener running in the background of a test.
type running struct {
	l      *Listener
	out    *lines
	cancel context.CancelFunc
	done   chan struct{}
	sum    *Summary
	err    error
}

func startListener(t testing.TB, mod func(*Config)) *running {
	t.Helper()
	cfg := DefaultConfig()
	cfg.VXLAN = "127.0.0.1:0"
	cfg.GENEVE = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Sockets = 3
	cfg.Shards = 0 // the default: inline analysis on each socket
	cfg.RcvBuf = 8 << 20
	cfg.Engine = engine.DefaultConfig()
	r := &running{out: &lines{}, done: make(chan struct{})}
	cfg.Out = r.out
	if mod != nil {
		mod(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.l = l
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.sum, r.err = l.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("listener did not stop")
	}
}

// waitFor polls until the listener has read n datagrams.
func (r *running) waitFor(t testing.TB, n uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r.l.counts(); r.datagrams() >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("listener read %d datagrams, want %d", r.datagrams(), n)
}

func (r *running) datagrams() uint64 {
	var n uint64
	for _, rc := range r.l.recvs {
		n += rc.stats.datagrams.Load()
	}
	return n
}

func replayTo(t testing.TB, to string, encap string, vni uint32, noRaw bool, files ...string) ReplayStats {
	t.Helper()
	return replayCfg(t, ReplayConfig{Files: files, To: to, VNI: vni, Encap: encap,
		Sources: 8, Decode: decode.DefaultConfig(), NoRaw: noRaw})
}

func replayCfg(t testing.TB, cfg ReplayConfig) ReplayStats {
	t.Helper()
	st, err := Replay(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if st.Skipped != 0 {
		t.Fatalf("replay skipped %d frames", st.Skipped)
	}
	return st
}

// TestReplayMatchesOffline replays real lab captures into the listener
// and checks it reports the flows and TCP analysis the engine gives on
// the same files offline, and that its own pcap output analyses the same.
func TestReplayMatchesOffline(t *testing.T) {
	// Replay sends through a raw socket when it may (root), else through
	// its UDP sockets: both keep the capture's order.
	// shards 0 is listen's default: each socket's goroutine analyses
	// what it reads (inline); 2 feeds two engine goroutines over queues.
	// gso: replay sends GSO runs, and with gro the listener receives
	// them coalesced and splits them itself.
	cases := []struct {
		name, file, encap string
		vni               uint32
		noRaw             bool
		shards            int
		gso, gro          bool
	}{
		{"plain-vxlan", "policer/policer.srv.pcap", "vxlan", 4242, false, 0, false, false},
		{"plain-vxlan-queues", "policer/policer.srv.pcap", "vxlan", 4242, false, 2, false, false},
		{"plain-vxlan-udp-sockets", "policer/policer.srv.pcap", "vxlan", 4242, true, 2, false, false},
		{"plain-vxlan-gso", "policer/policer.srv.pcap", "vxlan", 4242, true, 0, true, false},
		{"plain-vxlan-gso-gro", "policer/policer.srv.pcap", "vxlan", 4242, true, 0, true, true},
		{"mirror-vxlan", "policer/policer.mon.pcap", "vxlan", 0, false, 0, false, false},
		{"plain-geneve", "shaper/shaper.cli.pcap", "geneve", 77, false, 0, false, false},
		{"mirror-geneve-udp-sockets", "policer/policer.mon.pcap", "geneve", 0, true, 2, false, false},
		{"mirror-geneve-gso-gro", "policer/policer.mon.pcap", "geneve", 0, true, 0, true, true},
		{"two-sessions", "twosessions/twosessions.mon.pcap", "vxlan", 0, false, 0, false, false},
		{"two-sessions-gso-gro", "twosessions/twosessions.mon.pcap", "vxlan", 0, true, 2, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := capturePath(t, tc.file)
			want := offline(t, path)
			if tc.vni != 0 {
				for i := range want {
					want[i].VNI = tc.vni
				}
			}
			dir := t.TempDir()
			r := startListener(t, func(c *Config) {
				c.Pcap.Dir, c.Pcap.Snaplen, c.Shards, c.GRO = dir, 0, tc.shards, tc.gro
			})
			if inline := r.l.recvs[0].own != nil; inline != (tc.shards == 0) {
				t.Errorf("inline analysis %v with Shards %d", inline, tc.shards)
			}
			to := r.l.VXLANAddr().String()
			if tc.encap == "geneve" {
				to = r.l.GENEVEAddr().String()
			}
			st := replayCfg(t, ReplayConfig{Files: []string{path}, To: to, VNI: tc.vni, Encap: tc.encap,
				Sources: 8, Decode: decode.DefaultConfig(), NoRaw: tc.noRaw, GSO: tc.gso})
			if tc.gso && (!st.GSO || st.GSOSends == 0) {
				t.Errorf("replay --gso: GSO %v, %d GSO sends", st.GSO, st.GSOSends)
			}
			if st.Raw == tc.noRaw && (tc.noRaw || os.Geteuid() == 0) {
				t.Errorf("replay sent through a raw socket: %v (root: %v, NoRaw: %v)", st.Raw, os.Geteuid() == 0, tc.noRaw)
			}
			r.waitFor(t, st.Sent)
			r.stop(t)
			if r.err != nil {
				t.Fatalf("Run: %v", r.err)
			}
			flows, _, sum := parseLines(t, r.out.String())
			if sum == nil {
				t.Fatal("no summary line")
			}
			schematest.ValidateLines(t, "listen-line", "listen output", []byte(r.out.String()))
			// capture.bytes means the same as in analyze: the inner frames.
			if off, err := engine.AnalyzeFiles(engine.DefaultConfig(), path); err != nil {
				t.Error(err)
			} else if sum.Capture.Bytes != off.Capture.Bytes {
				t.Errorf("capture.bytes %d, analyze %d", sum.Capture.Bytes, off.Capture.Bytes)
			}
			if sum.Listener.KernelDrops != 0 {
				t.Fatalf("kernel dropped %d datagrams", sum.Listener.KernelDrops)
			}
			if sum.Listener.Accepted != st.Sent {
				t.Errorf("accepted %d of %d sent (%+v)", sum.Listener.Accepted, st.Sent, sum.Listener)
			}
			var got []testFlow
			for i := range flows {
				got = append(got, flows[i].shape(true))
			}
			sortShapes(got)
			if diff := cmp.Diff(timeFree(got), timeFree(want)); diff != "" {
				t.Errorf("flows (-listen +offline):\n%s", diff)
			}
			// The pcap the listener wrote, analysed offline, gives exactly
			// what the listener reported, timing-dependent flags included.
			files, _ := filepath.Glob(filepath.Join(dir, "*.pcapng"))
			if len(files) != 1 {
				t.Fatalf("pcap files: %v", files)
			}
			fromPcap := offlinePerIface(t, files[0])
			if diff := cmp.Diff(got, fromPcap); diff != "" {
				t.Errorf("flows (-listen +offline on listen's pcap):\n%s", diff)
			}
		})
	}
}

func TestMain_unused(t *testing.T) {
	_ = fmt.Sprint
	_ = net.IPv4len
	_ = http.StatusOK
	_ = testutil.ToFloat64
}
