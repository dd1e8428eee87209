package listen

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

func sendUDP(t testing.TB, to string, payloads ...[]byte) {
	t.Helper()
	c, err := net.Dial("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range payloads {
		if _, err := c.Write(p); err != nil {
			t.Fatalf("send %d bytes: %v", len(p), err)
		}
	}
}

// TestMalformedDatagrams: broken datagrams are counted by kind and
// skipped, and the listener goes on analysing good traffic; /metrics and
// /healthz answer.
func TestMalformedDatagrams(t *testing.T) {
	path := capturePath(t, "policer/policer.srv.pcap")
	r := startListener(t, nil)
	vx, gn := r.l.VXLANAddr().String(), r.l.GENEVEAddr().String()

	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 65000)
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	junk[0] = 0x00 // no I flag
	noI := append([]byte{0x00, 0, 0, 0, 0, 0x10, 0x92, 0}, make([]byte, 60)...)
	// GENEVE with 2 words of options whose only option claims 5 words.
	lying := []byte{0x02, 0, 0x08, 0x00, 0, 0, 0, 0, 0x01, 0x08, 1, 5, 0, 0, 0, 0}
	lying = append(lying, make([]byte, 40)...)
	// VXLAN fine, inner IPv4 header with IHL 3.
	badIP := []byte{0x08, 0, 0, 0, 0, 0, 7, 0, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x43}
	badIP = append(badIP, make([]byte, 40)...)
	sendUDP(t, vx, []byte{0x08, 0, 0}, noI, junk, badIP)
	sendUDP(t, gn, lying, []byte{0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3}) // version 1
	r.waitFor(t, 6)

	st := replayTo(t, vx, "vxlan", 4242, false, path)
	r.waitFor(t, 6+st.Sent)

	base := "http://" + r.l.HTTPAddr()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	// A TCP health check only connects.
	c, err := net.DialTimeout("tcp", r.l.HTTPAddr(), time.Second)
	if err != nil {
		t.Fatalf("TCP health check: %v", err)
	}
	c.Close()

	want := map[string]int{"short": 1, "vxlan": 2, "geneve": 2, "ipv4_header": 1}
	var exp strings.Builder
	exp.WriteString("# HELP mirrorscope_listen_decode_errors_total Datagrams skipped because they could not be decoded, by kind.\n")
	exp.WriteString("# TYPE mirrorscope_listen_decode_errors_total counter\n")
	for i := 1; i <= decode.NumErrors; i++ {
		k := decode.Error(i).Name()
		fmt.Fprintf(&exp, "mirrorscope_listen_decode_errors_total{kind=%q} %d\n", k, want[k])
	}
	fmt.Fprintf(&exp, "# HELP mirrorscope_listen_accepted_total Datagrams handed to the analysis.\n# TYPE mirrorscope_listen_accepted_total counter\nmirrorscope_listen_accepted_total %d\n", st.Sent)
	if err := testutil.ScrapeAndCompare(base+"/metrics", strings.NewReader(exp.String()),
		"mirrorscope_listen_decode_errors_total", "mirrorscope_listen_accepted_total"); err != nil {
		t.Error(err)
	}
	// The undecodable datagram of VNI 7 is a decode error, not a session.
	sess := `# HELP mirrorscope_listen_session_drops_total Datagrams of a known session not analysed: inner frame undecodable (traffic outside the allow-lists is counted in rejected, in no session).
# TYPE mirrorscope_listen_session_drops_total counter
mirrorscope_listen_session_drops_total{encap="vxlan",gwlb_endpoint_id="",outer_src="127.0.0.1",vni="4242"} 0
`
	if err := testutil.ScrapeAndCompare(base+"/metrics", strings.NewReader(sess), "mirrorscope_listen_session_drops_total"); err != nil {
		t.Error(err)
	}
	for _, ep := range []string{"/api/flows", "/api/sessions", "/api/findings", "/api/summary", "/"} {
		resp, err := http.Get(base + ep)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d %q", ep, resp.StatusCode, b)
		}
		if name, ok := strings.CutPrefix(ep, "/api/"); ok {
			schematest.Validate(t, "listen-api-"+name, ep, b)
		}
		if ep == "/api/flows" && !bytes.Contains(b, []byte(`"198.18.0.2:5201"`)) {
			t.Errorf("/api/flows lacks the replayed flows: %s", b)
		}
	}
	r.stop(t)
	flows, findings, sum := parseLines(t, r.out.String())
	if len(flows) != len(offline(t, path)) {
		t.Errorf("%d flows after the junk, want %d", len(flows), len(offline(t, path)))
	}
	if sum.Capture.DecodeErrors != 6 {
		t.Errorf("summary decode errors %d, want 6", sum.Capture.DecodeErrors)
	}
	var sawDecode bool
	for _, f := range findings {
		sawDecode = sawDecode || f.Kind == "decode_errors"
	}
	if !sawDecode {
		t.Errorf("no decode_errors finding in %+v", findings)
	}
}

// TestAllowLists: traffic from other sources or VNIs is counted per
// reason and never analysed.
func TestAllowLists(t *testing.T) {
	path := capturePath(t, "policer/policer.srv.pcap")
	cases := []struct {
		name   string
		mod    func(*Config)
		vni    uint32
		reason string
	}{
		{"vni", func(c *Config) { c.AllowVNI = []uint32{4242} }, 7, "vni_not_allowed"},
		{"src", func(c *Config) { c.AllowSrc = mustPrefixes("10.0.0.0/8") }, 4242, "src_not_allowed"},
		{"allowed", func(c *Config) { c.AllowVNI = []uint32{4242}; c.AllowSrc = mustPrefixes("127.0.0.0/8") }, 4242, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := startListener(t, tc.mod)
			st := replayTo(t, r.l.VXLANAddr().String(), "vxlan", tc.vni, false, path)
			r.waitFor(t, st.Sent)
			r.stop(t)
			flows, _, sum := parseLines(t, r.out.String())
			if tc.reason == "" {
				if len(flows) == 0 || sum.Listener.Accepted != st.Sent {
					t.Fatalf("allowed traffic not analysed: %d flows, %+v", len(flows), sum.Listener)
				}
				return
			}
			if len(flows) != 0 || sum.Listener.Accepted != 0 {
				t.Errorf("rejected traffic analysed: %d flows", len(flows))
			}
			if got := sum.Listener.Rejected[tc.reason]; got != st.Sent {
				t.Errorf("rejected %v, want %d %s", sum.Listener.Rejected, st.Sent, tc.reason)
			}
			// Rejected traffic is counted, and creates no session.
			if len(sum.Listener.Sessions) != 0 {
				t.Errorf("rejected traffic made sessions: %+v", sum.Listener.Sessions)
			}
		})
	}
}

func mustPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}
