package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/fleet"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCmd runs the CLI in-process until the returned stop is called.
func startCmd(t *testing.T, args ...string) (stop func() (string, string, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	return func() (string, string, error) {
		cancel()
		select {
		case err := <-done:
			return out.String(), errb.String(), err
		case <-time.After(30 * time.Second):
			t.Fatal("command did not stop")
			return "", "", nil
		}
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestListenKafkaToFleet: 'listen --kafka' publishes a replayed mirror
// capture, 'fleet --kafka' reads it back and reports the source, its
// flows, every packet in its series and the target's findings; /metrics of listen counts what it
// published.
func TestListenKafkaToFleet(t *testing.T) {
	f, fi, s := fleet.Topics("e2e")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, f, fi, s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	vx, lhttp, fhttp := freeAddr(t, "udp"), freeAddr(t, "tcp"), freeAddr(t, "tcp")
	stopListen := startCmd(t, "listen", "--vxlan", vx, "--http", lhttp, "--sockets", "1", "-q", "-o", "/dev/null",
		"--kafka", brokers, "--kafka-topic", "e2e", "--kafka-target", "target-1")
	waitHTTP(t, "http://"+lhttp+"/healthz", "ok")
	st, err := listen.Replay(context.Background(), listen.ReplayConfig{Files: []string{repoTestdata + "/policer/policer.srv.pcap"},
		To: vx, VNI: 77, Encap: "vxlan", Sources: 2, Decode: decode.DefaultConfig(), NoRaw: true, PPS: 20000})
	if err != nil || st.Skipped != 0 {
		t.Fatalf("replay: %v %+v", err, st)
	}
	time.Sleep(300 * time.Millisecond)
	_, metrics := httpGet("http://" + lhttp + "/metrics")
	if !strings.Contains(metrics, "mirrorscope_kafka_records_produced_total") || !strings.Contains(metrics, `mirrorscope_kafka_records_dropped_total{reason="buffer_full"} 0`) {
		t.Errorf("listen /metrics without the publisher's counters:\n%s", grepLines(metrics, "kafka"))
	}
	if _, _, err := stopListen(); err != nil {
		t.Fatalf("listen: %v", err)
	}

	stopFleet := startCmd(t, "fleet", "--kafka", brokers, "--kafka-topic", "e2e", "--group", "e2e-"+strconv.Itoa(int(time.Now().UnixNano()%1e6)), "--http", fhttp, "-q")
	waitHTTP(t, "http://"+fhttp+"/api/report?format=text", "1990 series packets")
	for _, ep := range []string{"/api/report", "/api/sources", "/api/findings"} {
		code, body := httpGet("http://" + fhttp + ep)
		if code != 200 {
			t.Errorf("%s: %d", ep, code)
		}
		schematest.Validate(t, "fleet-report", ep, []byte(body))
	}
	_, page := httpGet("http://" + fhttp + "/")
	if !strings.Contains(page, "127.0.0.1") {
		t.Errorf("page without the source:\n%s", page)
	}
	out, _, err := stopFleet()
	if err != nil {
		t.Fatalf("fleet: %v", err)
	}
	for _, want := range []string{"127.0.0.1 (outer_src)", "on target-1:", "2 flows (0 half of 2 TCP)", "verdicts:", "TARGETS (1", "truncated_upstream"} {
		if !strings.Contains(out, want) {
			t.Errorf("fleet report lacks %q:\n%s", want, out)
		}
	}
}

func waitHTTP(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := httpGet(url)
		if code == 200 && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %q, want %q", url, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
