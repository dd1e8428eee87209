package listen

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

var loopbackSeq atomic.Uint32

// uniqueLoopback is an address of 127.0.0.0/8 (all on lo) no other test,
// in this process or another one running at the same time, listens on: a
// raw GRE socket gets every GRE packet sent to its address.
func uniqueLoopback() netip.Addr {
	pid := os.Getpid()
	n := loopbackSeq.Add(1)
	return netip.AddrFrom4([4]byte{127, byte(pid>>16) | 0x80, byte(pid >> 8), byte(pid)&0xf0 | byte(n&0x0f)})
}

// startERSPAN starts a listener with the GRE listener on a unique
// loopback address and GRE over UDP on a free port, skipping the test
// without CAP_NET_RAW.
func startERSPAN(t *testing.T, mod func(*Config)) *running {
	t.Helper()
	probe, err := capture.Listen(t.Context(), capture.ListenConfig{Kind: capture.GRE, Addr: "127.0.0.1"}, nil)
	if errors.Is(err, syscall.EPERM) {
		t.Skip("the GRE listener needs CAP_NET_RAW (run as root)")
	}
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	return startListener(t, func(c *Config) {
		c.VXLAN, c.GENEVE = "", ""
		c.ERSPAN, c.GREUDP = uniqueLoopback().String(), "127.0.0.1:0"
		if mod != nil {
			mod(c)
		}
	})
}

// TestReplayERSPANMatchesOffline replays lab captures as ERSPAN II, ERSPAN
// III and GRE (over IP through a raw socket, and over UDP 4754) into the
// listener, which must report the flows and TCP analysis the engine
// gives on the same files offline, one session per (outer source,
// session id) with its encapsulation, and write a pcapng that analyses
// the same.
func TestReplayERSPANMatchesOffline(t *testing.T) {
	cases := []struct {
		name, file, encap string
		vni               uint32
		udp               bool
		wantEncap         string
		wantVNI           uint32
	}{
		{"erspan2", "policer/policer.srv.pcap", "erspan2", 100, false, "erspan2", 100},
		{"erspan3", "shaper/shaper.cli.pcap", "erspan3", 1023, false, "erspan3", 1023},
		{"gre", "policer/policer.srv.pcap", "gre", 4242, false, "gre", 4242},
		{"erspan2-over-udp", "policer/policer.srv.pcap", "erspan2", 7, true, "erspan2", 7},
		// A VXLAN mirror capture rewrapped: the inner frames, the VNI (4242
		// in the capture, cut to 10 bits) as the ERSPAN session.
		{"erspan3-from-vxlan-mirror", "policer/policer.mon.pcap", "erspan3", 0, false, "erspan3", 4242 & 0x3ff},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := capturePath(t, tc.file)
			want := offline(t, path)
			for i := range want {
				want[i].VNI = tc.wantVNI
			}
			dir := t.TempDir()
			r := startERSPAN(t, func(c *Config) { c.Pcap.Dir, c.Pcap.Snaplen = dir, 0 })
			if r.l.recvs[0].own == nil {
				t.Error("the GRE listeners are not analysed inline")
			}
			to := r.l.ERSPANAddr().String()
			if tc.udp {
				to = r.l.GREUDPAddr().String()
			}
			st := replayCfg(t, ReplayConfig{Files: []string{path}, To: to, VNI: tc.vni, Encap: tc.encap,
				Sources: 4, Decode: decode.DefaultConfig()})
			r.waitFor(t, st.Sent)
			// The session in /api/sessions and /metrics, while running.
			api := httpGet(t, "http://"+r.l.HTTPAddr()+"/api/sessions")
			if !strings.Contains(api, `"encap":"`+tc.wantEncap+`"`) || !strings.Contains(api, fmt.Sprintf(`"vni":%d,`, tc.wantVNI)) {
				t.Errorf("/api/sessions: %s", api)
			}
			metric := fmt.Sprintf(`mirrorscope_listen_session_packets_total{encap="%s",gwlb_endpoint_id="",outer_src="127.0.0.1",vni="%d"}`, tc.wantEncap, tc.wantVNI)
			if m := httpGet(t, "http://"+r.l.HTTPAddr()+"/metrics"); !strings.Contains(m, metric) {
				t.Errorf("/metrics has no %s", metric)
			}
			r.stop(t)
			if r.err != nil {
				t.Fatalf("Run: %v", r.err)
			}
			flows, _, sum := parseLines(t, r.out.String())
			if sum == nil {
				t.Fatal("no summary line")
			}
			if sum.Listener.KernelDrops != 0 || sum.Listener.Accepted != st.Sent {
				t.Fatalf("accepted %d of %d sent, %d kernel drops", sum.Listener.Accepted, st.Sent, sum.Listener.KernelDrops)
			}
			var got []testFlow
			for i := range flows {
				got = append(got, flows[i].shape(true))
			}
			sortShapes(got)
			if diff := cmp.Diff(timeFree(got), timeFree(want)); diff != "" {
				t.Errorf("flows (-listen +offline):\n%s", diff)
			}
			// One session: (outer source, session id), its encapsulation.
			if ss := sum.Listener.Sessions; len(ss) != 1 || ss[0].Encap != tc.wantEncap || ss[0].VNI != tc.wantVNI ||
				ss[0].OuterSrc != "127.0.0.1" || ss[0].Packets != st.Sent {
				t.Errorf("listener sessions %+v, want one %s session %d from 127.0.0.1 of %d packets", ss, tc.wantEncap, tc.wantVNI, st.Sent)
			}
			if cs := sum.Capture.Sessions; len(cs) != 1 || cs[0].Encap != tc.wantEncap || cs[0].VNI != tc.wantVNI {
				t.Errorf("capture.sessions %+v", cs)
			}
			wantSock := "erspan"
			if tc.udp {
				wantSock = "gre-udp"
			}
			var sockDG uint64
			for _, s := range sum.Listener.Sockets {
				if s.Kind == wantSock {
					sockDG += s.Datagrams
				}
			}
			if sockDG != st.Sent {
				t.Errorf("%s sockets read %d datagrams, want %d (%+v)", wantSock, sockDG, st.Sent, sum.Listener.Sockets)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.pcapng"))
			if len(files) != 1 {
				t.Fatalf("pcap files: %v", files)
			}
			if diff := cmp.Diff(got, offlinePerIface(t, files[0])); diff != "" {
				t.Errorf("flows (-listen +offline on listen's pcap):\n%s", diff)
			}
		})
	}
}

// TestERSPANOtherGRECounted: GRE the listener does not follow (PPTP's
// enhanced GRE, MPLS over GRE) and bad ERSPAN headers are counted by
// kind and skipped, creating no session; sources outside --allow-src are
// rejected before decoding.
func TestERSPANOtherGRECounted(t *testing.T) {
	for _, allow := range []string{"", "10.0.0.0/8", "vni 6"} {
		r := startERSPAN(t, func(c *Config) {
			switch allow {
			case "":
			case "vni 6":
				c.AllowVNI = []uint32{6}
			default:
				c.AllowSrc = mustPrefixes(allow)
			}
		})
		dst := r.l.ERSPANAddr()
		q, err := capture.NewGRESender(dst, 0)
		if err != nil {
			t.Fatal(err)
		}
		good := append([]byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 5, 0, 0, 0, 0}, vxlanTCP(40000, 5201)[8:]...)
		pkts := [][]byte{
			{0x30, 0x01, 0x88, 0x0b, 0, 4, 0, 1, 0, 0, 0, 1, 0xff, 0x03}, // PPTP
			{0x00, 0x00, 0x88, 0x47, 0, 0, 0x11, 0x40},                   // MPLS
			{0x00, 0x00, 0x88, 0x47, 0, 0, 0x11, 0x40},
			{0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 0x30, 0, 0, 1, 0, 0, 0, 0}, // ERSPAN II, version 3
			good,
		}
		for _, p := range pkts {
			q.Commit(0, append(q.Begin(), p...))
		}
		if n, _, _, err := q.Flush(); err != nil || n != uint64(len(pkts)) {
			t.Fatalf("sent %d: %v", n, err)
		}
		q.Close()
		r.waitFor(t, uint64(len(pkts)))
		r.stop(t)
		sum := r.sum
		if allow == "vni 6" {
			// --allow-vni selects ERSPAN session ids: session 5 is
			// rejected before any state; what does not decode stays a
			// decode error.
			if sum.Listener.Rejected["vni_not_allowed"] != 1 || len(sum.Listener.Sessions) != 0 || sum.Listener.DecodeErrors["gre_protocol"] != 3 {
				t.Errorf("allow vni 6: rejected %v, decode errors %v, sessions %+v", sum.Listener.Rejected, sum.Listener.DecodeErrors, sum.Listener.Sessions)
			}
			continue
		}
		if allow != "" {
			if sum.Listener.Rejected["src_not_allowed"] != uint64(len(pkts)) || len(sum.Listener.DecodeErrors) != 0 || len(sum.Listener.Sessions) != 0 {
				t.Errorf("allow %s: rejected %v, decode errors %v, sessions %+v", allow, sum.Listener.Rejected, sum.Listener.DecodeErrors, sum.Listener.Sessions)
			}
			continue
		}
		if d := cmp.Diff(sum.Listener.DecodeErrors, map[string]uint64{"gre_protocol": 3, "gre": 1}); d != "" {
			t.Errorf("decode errors (-got +want):\n%s", d)
		}
		if ss := sum.Listener.Sessions; len(ss) != 1 || ss[0].Encap != "erspan2" || ss[0].VNI != 5 || ss[0].Packets != 1 {
			t.Errorf("sessions %+v, want the one ERSPAN session 5", ss)
		}
	}
}

// TestERSPANReceivePathZeroAlloc: decoding a GRE datagram (ERSPAN II, III,
// GRE), the allow-lists, session counting and inline analysis allocate
// nothing per packet.
func TestERSPANReceivePathZeroAlloc(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VXLAN, cfg.GREUDP, cfg.HTTP = "", "127.0.0.1:0", ""
	cfg.Sockets = 1
	cfg.AllowSrc = mustPrefixes("127.0.0.0/8")
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeAll()
	r := l.recvs[0]
	if r.kind != "gre-udp" || r.own == nil {
		t.Fatalf("receiver %q, inline %v", r.kind, r.own != nil)
	}
	odec := decode.New(decode.Config{NoDecap: true})
	var p decode.Packet
	var pkts [][]byte
	for _, encap := range []string{encapERSPAN2, encapERSPAN3, encapGRE} {
		var g greWrap
		rc := ReplayConfig{Encap: encap, VNI: 9, Decode: decode.DefaultConfig()}
		for _, f := range [][]byte{vxlanTCP(40000, 5201)[8:], vxlanTCP(5201, 40000)[8:]} {
			d, ok := g.datagram(nil, f, decode.LinkEthernet, 0, odec, &p, &rc)
			if !ok {
				t.Fatal("not wrapped")
			}
			pkts = append(pkts, d)
		}
	}
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	dst := netip.MustParseAddr("127.0.0.1")
	i := 0
	n := testing.AllocsPerRun(3000, func() {
		d := pkts[i%len(pkts)]
		r.own.mu.Lock()
		r.datagram(d, len(d), from, dst, int64(i)*1000)
		r.own.mu.Unlock()
		i++
		if i%64 == 0 {
			r.endBatch()
		}
	})
	if n != 0 {
		t.Errorf("%.2f allocations per packet, want 0", n)
	}
	r.endBatch()
	if got := r.stats.accepted.Load(); got != 3001 {
		t.Errorf("accepted %d, want 3001 (decode errors %v)", got, l.stats().DecodeErrors)
	}
	if ss := l.reg.infos(); len(ss) != 3 {
		t.Errorf("sessions %+v, want erspan2, erspan3 and gre", ss)
	}
}

// TestReplayGREWrapZeroAlloc: wrapping a frame in ERSPAN or GRE
// allocates nothing.
func TestReplayGREWrapZeroAlloc(t *testing.T) {
	frame := vxlanTCP(40000, 5201)[8:]
	odec := decode.New(decode.Config{NoDecap: true})
	var p decode.Packet
	buf := make([]byte, 0, 2048)
	for _, encap := range []string{encapERSPAN2, encapERSPAN3, encapGRE} {
		var g greWrap
		rc := ReplayConfig{Encap: encap, VNI: 9, Decode: decode.DefaultConfig()}
		if a := testing.AllocsPerRun(1000, func() {
			if _, ok := g.datagram(buf[:0], frame, decode.LinkEthernet, 0, odec, &p, &rc); !ok {
				t.Fatal("not wrapped")
			}
		}); a != 0 {
			t.Errorf("%s: %.2f allocations per frame", encap, a)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
