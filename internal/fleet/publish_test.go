package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

type lineBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }

// runListener runs a real listener on loopback with pub as its tap,
// replays files into it as VXLAN (VNI vni), and stops it; it returns the
// JSON lines.
func runListener(t *testing.T, pub listen.Tap, vni uint32, files ...string) []map[string]any {
	t.Helper()
	cfg := listen.DefaultConfig()
	cfg.VXLAN, cfg.HTTP, cfg.Sockets, cfg.RcvBuf = "127.0.0.1:0", "", 1, 8<<20
	cfg.Engine = engine.DefaultConfig()
	cfg.Taps, cfg.TapInterval = []listen.Tap{pub}, 20*time.Millisecond
	out := &lineBuf{}
	cfg.Out = out
	l, err := listen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.Run(ctx); done <- err }()
	st, err := listen.Replay(context.Background(), listen.ReplayConfig{Files: files, To: l.VXLANAddr().String(),
		VNI: vni, Encap: "vxlan", Sources: 4, Decode: decode.DefaultConfig(), NoRaw: true, PPS: 20000})
	if err != nil || st.Skipped != 0 {
		t.Fatalf("replay: %v (%d skipped)", err, st.Skipped)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listener: %v", err)
	}
	var lines []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(out.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("line %q: %v", ln, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func testdata(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPublishConsume: a real listener publishes a replayed mirror capture
// to a Kafka-protocol cluster; a real consumer reads back every flow and
// finding line, with the same fields, keyed by the source (mapped to its
// instance), and series whose packets add up to the session's.
func TestPublishConsume(t *testing.T) {
	c := newCluster(t, 4)
	defer c.Close()
	srcs, err := ParseSources(strings.NewReader("127.0.0.1 eni-0aaa i-0111 # the replay's outer source\n"))
	if err != nil {
		t.Fatal(err)
	}
	pc := DefaultPublisherConfig()
	pc.Brokers, pc.TopicPrefix, pc.Target, pc.Sources = c.ListenAddrs(), testPrefix, "target-a", srcs
	pub, err := NewPublisher(pc)
	if err != nil {
		t.Fatal(err)
	}
	lines := runListener(t, pub, 4242, testdata(t, "policer/policer.srv.pcap"), testdata(t, "twosessions/twosessions.mon.pcap"))
	st := pub.Stats()
	if st.DroppedFull+st.DroppedError+st.DroppedAtClose != 0 {
		t.Fatalf("dropped: %+v", st)
	}
	recs := consumeAll(t, c.ListenAddrs(), int(st.Produced), 10*time.Second)
	if len(recs) != int(st.Produced) {
		t.Fatalf("consumed %d records, produced %d", len(recs), st.Produced)
	}
	// Every flow and finding line is a record with the same fields.
	var wantLines, gotLines []string
	var sessPackets, seriesPackets uint64
	for _, m := range lines {
		switch m["type"] {
		case "flow", "finding":
			b, _ := json.Marshal(m)
			wantLines = append(wantLines, string(b))
		case "summary":
			for _, s := range m["listener"].(map[string]any)["sessions"].([]any) {
				sessPackets += uint64(s.(map[string]any)["packets"].(float64))
			}
		}
	}
	seqs := map[uint64]bool{}
	summaries := 0
	for _, r := range recs {
		e := r.env
		schematest.Validate(t, "fleet-record", fmt.Sprintf("record %s/%d@%d", r.topic, r.partition, r.offset), r.value)
		if seqs[e.Seq] {
			t.Errorf("seq %d twice", e.Seq)
		}
		seqs[e.Seq] = true
		if e.Target != "target-a" || e.SchemaVersion != SchemaVersion {
			t.Errorf("header %+v", e.Header)
		}
		switch {
		case e.Flow != nil:
			if r.key != "i-0111" || e.Source.KeyKind != "instance" || e.Source.ENI != "eni-0aaa" || e.Source.OuterSrc != "127.0.0.1" {
				t.Errorf("flow key %q source %+v", r.key, e.Source)
			}
			gotLines = append(gotLines, lineOf(t, "flow", e.Flow.Interim, e.Flow.Flow))
		case e.Finding != nil:
			gotLines = append(gotLines, lineOf(t, "finding", false, e.Finding.Finding))
		case e.Series != nil:
			if r.key != "i-0111" {
				t.Errorf("series key %q", r.key)
			}
			seriesPackets += e.Series.Packets
		case e.Summary != nil:
			summaries++
		}
	}
	sort.Strings(wantLines)
	sort.Strings(gotLines)
	if len(wantLines) < 5 {
		t.Fatalf("only %d flow/finding lines", len(wantLines))
	}
	if d := cmp.Diff(gotLines, wantLines); d != "" {
		t.Errorf("records vs JSON lines (-got +want):\n%s", d)
	}
	if seriesPackets != sessPackets || sessPackets == 0 {
		t.Errorf("series add up to %d packets, sessions have %d", seriesPackets, sessPackets)
	}
	if summaries != 1 {
		t.Errorf("%d summaries", summaries)
	}
	if len(seqs) != len(recs) || !seqs[1] || !seqs[uint64(len(recs))] {
		t.Errorf("seqs not 1..%d", len(recs))
	}
}

// lineOf re-encodes a record body as its JSON line, to compare fields.
func lineOf(t *testing.T, typ string, interim bool, body any) string {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["type"] = typ
	if interim {
		m["interim"] = true
	}
	b, _ = json.Marshal(m)
	return string(b)
}

// TestBrokerDownThenUp: the broker goes away (connections refused) and
// comes back on the same address with its log. The tap never blocks,
// /healthz is degraded while it is down, and every record is in the log
// except exactly the ones counted as dropped (the bounded buffer was
// full), each once.
func TestBrokerDownThenUp(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	opts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir)}
	c := newCluster(t, 2, opts...)
	brokers := c.ListenAddrs()
	pc := DefaultPublisherConfig()
	pc.Brokers, pc.TopicPrefix, pc.Target, pc.MaxBuffered = brokers, testPrefix, "t1", 100
	pc.DegradedAfter = time.Second
	pub, err := NewPublisher(pc)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	flows := func(n int) {
		callWithin(t, 5*time.Second, func() {
			for i := 0; i < n; i++ {
				calls++
				pub.Flow(&result.Flow{ID: uint64(calls), Proto: "tcp", Session: &result.SessionRef{OuterSrc: "10.0.0." + itoa(calls%7), VNI: 1}}, false)
			}
		})
	}
	flows(80)
	waitUntil(t, "80 acknowledged", 10*time.Second, func() bool { return pub.Stats().Produced == 80 })
	if err := pub.Health(); err != nil {
		t.Fatalf("healthy broker: %v", err)
	}

	c.Close()
	waitUntil(t, "degraded health", 10*time.Second, func() bool { return pub.Health() != nil })
	flows(300) // 100 fit in the buffer, 200 are dropped and counted
	// Promises run on franz-go's goroutine: the count follows shortly.
	waitUntil(t, "200 counted drops", 5*time.Second, func() bool { return pub.Stats().DroppedFull == 200 })
	if s := pub.Stats(); s.Buffered != 100 || s.Produced != 80 {
		t.Fatalf("while down: %+v, want 100 buffered", s)
	}

	c2, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("restarting the broker: %v", err)
	}
	defer c2.Close()
	waitUntil(t, "buffer drained", 20*time.Second, func() bool { s := pub.Stats(); return s.Buffered == 0 && s.Produced == 180 })
	waitUntil(t, "healthy again", 10*time.Second, func() bool { return pub.Health() == nil })
	flows(50)
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	s := pub.Stats()
	if s.Produced != 230 || s.DroppedFull != 200 || s.DroppedError != 0 || s.DroppedAtClose != 0 {
		t.Fatalf("stats %+v, want 230 produced and 200 dropped", s)
	}
	recs := consumeAll(t, c2.ListenAddrs(), 230, 10*time.Second)
	ids := map[uint64]int{}
	for _, r := range recs {
		ids[r.env.Flow.ID]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("flow %d in the log %d times", id, n)
		}
	}
	// Lost: exactly the 200 dropped while the buffer was full (ids 181..380).
	for id := uint64(1); id <= 430; id++ {
		dropped := id > 180 && id <= 380
		if (ids[id] == 1) == dropped {
			t.Errorf("flow %d: in log %v, dropped %v", id, ids[id] == 1, dropped)
		}
	}
	if len(recs) != 230 {
		t.Errorf("%d records in the log, want 230", len(recs))
	}
}

// TestSeriesDeltas: series records carry the per-interval differences of
// the session counters, by direction too, only for sessions with new
// traffic, and add up to the totals.
func TestSeriesDeltas(t *testing.T) {
	c := newCluster(t, 2)
	defer c.Close()
	pc := DefaultPublisherConfig()
	pc.Brokers, pc.TopicPrefix, pc.Target = c.ListenAddrs(), testPrefix, "t"
	pub, err := NewPublisher(pc)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	snap := func(pk, in, out uint64) []listen.SessionInfo {
		return []listen.SessionInfo{{OuterSrc: "10.0.0.1", VNI: 5, Encap: "vxlan", Packets: pk, Bytes: 100 * pk,
			DirCounts: listen.DirCounts{InPackets: in, InBytes: 100 * in, OutPackets: out, OutBytes: 100 * out}}}
	}
	pub.Sessions(t0.Add(time.Second), snap(10, 6, 4))
	pub.Sessions(t0.Add(2*time.Second), snap(10, 6, 4)) // nothing new: no record
	pub.Sessions(t0.Add(3*time.Second), snap(25, 10, 13))
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, c.ListenAddrs(), 2, 10*time.Second)
	var got []listen.DirCounts
	var pk []uint64
	for _, r := range recs {
		got = append(got, r.env.Series.DirCounts)
		pk = append(pk, r.env.Series.Packets)
	}
	want := []listen.DirCounts{{InPackets: 6, InBytes: 600, OutPackets: 4, OutBytes: 400}, {InPackets: 4, InBytes: 400, OutPackets: 9, OutBytes: 900}}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("series directions (-got +want):\n%s", d)
	}
	if d := cmp.Diff(pk, []uint64{10, 15}); d != "" {
		t.Errorf("series packets (-got +want):\n%s", d)
	}
}
