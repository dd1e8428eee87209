package fleet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/listen"
)

// TestFleetNetns is the end-to-end run in a network namespace
// this test creates (and deletes): three listeners behind an nftables
// DNAT load balancer (jhash over the outer source address, as NLB
// source_ip stickiness; then over the outer source address and port,
// which splits the directions of connections), mirror streams of four
// real captures from four source addresses, publishing to a
// Kafka-protocol cluster, a real Prometheus scraping the three listeners,
// and the fleet view compared with one reference listener that received
// all of the same datagrams.
func TestFleetNetns(t *testing.T) {
	if os.Getenv("MS_FLEET_NETNS_HELPER") != "" {
		t.Skip("helper run")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	for _, tool := range []string{"ip", "nft", "prometheus"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (scripts/test.sh installs it)", tool)
		}
	}
	ns := fmt.Sprintf("msfleet%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns does not work here: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run", "^TestFleetNetnsHelper$", "-test.v", "-test.count=1")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "MS_FLEET_NETNS_HELPER=1")
	out, err := cmd.CombinedOutput()
	t.Logf("helper in %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFleetNetnsHelper") {
		t.Fatalf("helper failed: %v", err)
	}
}

const vip = "127.0.0.100"

// TestFleetNetnsHelper runs inside the namespace of TestFleetNetns.
func TestFleetNetnsHelper(t *testing.T) {
	if os.Getenv("MS_FLEET_NETNS_HELPER") == "" {
		t.Skip("run by TestFleetNetns inside its namespace")
	}
	files := []string{}
	for _, run := range []string{"policer", "shaper", "applimited", "delay"} {
		files = append(files, testdata(t, run+"/"+run+".srv.pcap"))
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, tp("srchash")...), kfake.SeedTopics(3, tp("tuplehash")...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Prometheus scrapes the three listeners every second.
	dir := t.TempDir()
	cfg := "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: mirrorscope-listen\n    static_configs:\n      - targets: ['127.0.0.1:9180', '127.0.0.2:9180', '127.0.0.3:9180']\n"
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command("prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address=127.0.0.1:9090", "--log.level=warn")
	prom.Stderr = os.Stderr
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prom.Process.Kill(); _ = prom.Wait() }()

	for _, mode := range []struct {
		name, hash string
		srcBase    int
		half       bool
	}{
		{"srchash", "ip saddr", 10, false},
		{"tuplehash", "ip saddr . udp sport", 20, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			nft(t, fmt.Sprintf("table ip lb {\n chain out {\n  type nat hook output priority -100;\n  ip daddr %s udp dport 4789 dnat to jhash %s mod 3 seed 0x5eed map { 0 : 127.0.0.1, 1 : 127.0.0.2, 2 : 127.0.0.3 }\n }\n}\n", vip, mode.hash))
			defer nft(t, "delete table ip lb")
			fleetRun(t, c.ListenAddrs(), mode.name, files, mode.srcBase, mode.half)
		})
	}
}

func tp(prefix string) []string { f, fi, s := Topics(prefix); return []string{f, fi, s} }

func nft(t *testing.T, rules string) {
	t.Helper()
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft %q: %v %s", rules, err, out)
	}
}

type runningListener struct {
	l      *listen.Listener
	cancel context.CancelFunc
	done   chan error
	out    *lineBuf
}

func startNS(t *testing.T, vx, httpAddr string, tap listen.Tap) *runningListener {
	t.Helper()
	cfg := listen.DefaultConfig()
	cfg.VXLAN, cfg.HTTP, cfg.Sockets, cfg.RcvBuf = vx, httpAddr, 1, 8<<20
	cfg.Engine = engine.DefaultConfig()
	if tap != nil {
		cfg.Taps = []listen.Tap{tap}
	}
	r := &runningListener{out: &lineBuf{}, done: make(chan error, 1)}
	cfg.Out = r.out
	l, err := listen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.l = l
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { _, err := l.Run(ctx); r.done <- err }()
	return r
}

func (r *runningListener) stop(t *testing.T) {
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
}

func fleetRun(t *testing.T, brokers []string, prefix string, files []string, srcBase int, wantHalf bool) {
	var targets []*runningListener
	var sent uint64
	for i := 1; i <= 3; i++ {
		pc := DefaultPublisherConfig()
		pc.Brokers, pc.TopicPrefix, pc.Target = brokers, prefix, "t"+strconv.Itoa(i)
		pub, err := NewPublisher(pc)
		if err != nil {
			t.Fatal(err)
		}
		a := "127.0.0." + strconv.Itoa(i)
		targets = append(targets, startNS(t, a+":4789", a+":9180", pub))
	}
	ref := startNS(t, "127.0.0.9:4789", "", nil)

	// Four mirror sources, one capture each, every datagram to the load
	// balancer's address and to the reference listener.
	for i, f := range files {
		sent += sendMirror(t, f, "127.0.0."+strconv.Itoa(srcBase+i+1), uint32(100+i))
	}
	// Prometheus sees every datagram the three targets received.
	q := url.Values{"query": {`sum(mirrorscope_listen_session_packets_total)`}}
	deadline := time.Now().Add(20 * time.Second)
	var got float64
	for time.Now().Before(deadline) {
		got = promQuery(t, q)
		if uint64(got) == sent {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if uint64(got) != sent {
		t.Errorf("Prometheus: fleet packets %v, sent %d", got, sent)
	}
	for _, r := range targets {
		r.stop(t)
	}
	ref.stop(t)

	// The reference: flows per outer source.
	want := map[string]*TargetCounts{}
	wantVerdicts := map[string]map[string]uint64{}
	for _, ln := range strings.Split(strings.TrimSpace(ref.out.b.String()), "\n") {
		var m struct {
			Type    string `json:"type"`
			Interim bool   `json:"interim"`
			Packets uint64 `json:"packets"`
			Session struct {
				OuterSrc string `json:"outer_src"`
			} `json:"session"`
			Diagnosis struct {
				Verdict string `json:"verdict"`
			} `json:"diagnosis"`
		}
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "flow" && !m.Interim {
			w := want[m.Session.OuterSrc]
			if w == nil {
				w = &TargetCounts{}
				want[m.Session.OuterSrc] = w
			}
			w.Flows++
			w.Packets += m.Packets
			if wantVerdicts[m.Session.OuterSrc] == nil {
				wantVerdicts[m.Session.OuterSrc] = map[string]uint64{}
			}
			if m.Diagnosis.Verdict != "" {
				wantVerdicts[m.Session.OuterSrc][m.Diagnosis.Verdict]++
			}
		}
	}
	if len(want) != 4 {
		t.Fatalf("reference saw %d sources", len(want))
	}

	vc := DefaultViewConfig()
	vc.HalfFlowMinFlows = 1
	v := NewView(vc)
	cons, err := NewConsumer(ConsumerConfig{Brokers: brokers, Group: "g-" + prefix, TopicPrefix: prefix}, v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	var rep *Report
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rep = v.Report()
		if len(rep.Targets) == 3 && len(rep.Sources) == 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	rep = v.Report()
	cancel()
	<-done
	var text strings.Builder
	_ = rep.WriteText(&text)
	t.Logf("fleet report:\n%s", text.String())

	half := 0
	for _, s := range rep.Sources {
		w := want[s.OuterSrc]
		if w == nil {
			t.Errorf("source %s not in the reference", s.OuterSrc)
			continue
		}
		half += int(s.Total.HalfFlows)
		if !wantHalf {
			// Source hashing: one target per source, and the fleet's
			// flows are the reference's.
			if len(s.Targets) != 1 || s.Total.Flows != w.Flows || s.Total.Packets != w.Packets {
				t.Errorf("source %s: %d targets, %d flows %d packets; reference %d flows %d packets",
					s.OuterSrc, len(s.Targets), s.Total.Flows, s.Total.Packets, w.Flows, w.Packets)
			}
			if d := cmp.Diff(s.Verdicts, wantVerdicts[s.OuterSrc]); d != "" {
				t.Errorf("source %s verdicts (-fleet +reference):\n%s", s.OuterSrc, d)
			}
		} else if s.Total.Packets != w.Packets {
			// Split directions: the packets still add up.
			t.Errorf("source %s: %d packets, reference %d", s.OuterSrc, s.Total.Packets, w.Packets)
		}
	}
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
	}
	if wantHalf && (half == 0 || kinds["half_flows"] == 0) {
		t.Errorf("5-tuple hashing: %d half flows, findings %v", half, kinds)
	}
	if !wantHalf && (half != 0 || kinds["half_flows"] != 0) {
		t.Errorf("source hashing: %d half flows, findings %v", half, kinds)
	}
}

// sendMirror sends the frames of a plain Ethernet capture as VXLAN
// mirror datagrams from src (4 source ports, chosen per inner direction
// as AWS hashes the packet's 5-tuple) to the load balancer and to the
// reference listener. It returns the datagrams sent to the balancer.
func sendMirror(t *testing.T, file, src string, vni uint32) uint64 {
	t.Helper()
	fs, err := capture.OpenFiles([]string{file}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	var conns [4]*net.UDPConn
	for i := range conns {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	lb := &net.UDPAddr{IP: net.ParseIP(vip), Port: 4789}
	ref := &net.UDPAddr{IP: net.ParseIP("127.0.0.9"), Port: 4789}
	var fr capture.Frame
	var n uint64
	var per [4]int
	defer func() { t.Logf("%s: datagrams per source port %v", src, per) }()
	buf := make([]byte, 0, 70000)
	for {
		if err := fs.Next(&fr); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		buf = buf[:8]
		binary.BigEndian.PutUint32(buf[0:], 0x08000000)
		binary.BigEndian.PutUint32(buf[4:], vni<<8)
		buf = append(buf, fr.Data...)
		h := fnv.New32a()
		if len(fr.Data) >= 38 {
			h.Write(fr.Data[26:38]) // IPv4 addresses and ports, in packet order
		}
		k := (h.Sum32() >> 24) % 4 // FNV's low bits hardly depend on the byte order
		per[k]++
		c := conns[k]
		for _, to := range []*net.UDPAddr{lb, ref} {
			if _, err := c.WriteToUDP(buf, to); err != nil {
				t.Fatal(err)
			}
		}
		n++
		if n%32 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	return n
}

func promQuery(t *testing.T, q url.Values) float64 {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:9090/api/v1/query?" + q.Encode())
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Data.Result) == 0 {
		return -1
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
