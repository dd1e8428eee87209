package listen

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// oneDirection writes a classic pcap of the frames of the Ethernet/IPv4
// captures in files whose IPv4 source is src: one direction of every
// connection, as a target behind a load balancer that splits directions
// receives it.
func oneDirection(t *testing.T, src netip.Addr, files ...string) string {
	t.Helper()
	var out []byte
	kept := 0
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b23c4d || binary.LittleEndian.Uint32(b[20:]) != 1 {
			t.Fatalf("%s: not a little-endian nanosecond Ethernet pcap", f)
		}
		if i == 0 {
			out = append(out, b[:24]...)
		}
		for p := 24; p+16 <= len(b); {
			n := int(binary.LittleEndian.Uint32(b[p+8:]))
			rec := b[p : p+16+n]
			p += 16 + n
			fr := rec[16:]
			if len(fr) >= 34 && binary.BigEndian.Uint16(fr[12:]) == 0x0800 && netip.AddrFrom4([4]byte(fr[26:30])) == src {
				out = append(out, rec...)
				kept++
			}
		}
	}
	if kept == 0 {
		t.Fatal("no frame kept")
	}
	path := filepath.Join(t.TempDir(), "onedir.pcap")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHalfFlowFinding replays real captures into a listener, once with
// only the client's direction (half flows: the finding and the metric)
// and once whole (neither).
func TestHalfFlowFinding(t *testing.T) {
	var files []string
	for _, run := range []string{"policer", "shaper", "applimited", "delay"} {
		files = append(files, capturePath(t, run+"/"+run+".srv.pcap"))
	}
	client := netip.MustParseAddr("198.18.0.1")
	for _, tc := range []struct {
		name  string
		files []string
		want  bool
	}{
		{"client direction only", []string{oneDirection(t, client, files...)}, true},
		{"both directions", files, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startListener(t, func(c *Config) { c.HalfFlows = HalfFlowConfig{MinFlows: 4, Share: 0.5} })
			st := replayTo(t, r.l.VXLANAddr().String(), "vxlan", 99, true, tc.files...)
			r.waitFor(t, st.Sent)
			time.Sleep(50 * time.Millisecond)
			r.stop(t)
			if r.err != nil {
				t.Fatal(r.err)
			}
			flows, findings, _ := parseLines(t, r.out.String())
			var half []string
			for _, f := range findings {
				if f.Kind == "half_flows" {
					half = append(half, f.Summary)
				}
			}
			tcp := 0
			for _, f := range flows {
				if !f.Interim && f.Proto == "tcp" {
					tcp++
				}
			}
			if tcp < 8 {
				t.Fatalf("%d TCP flows", tcp)
			}
			if got := len(half) == 1; got != tc.want {
				t.Fatalf("half_flows findings %q, want one: %v", half, tc.want)
			}
			if tc.want && !strings.Contains(half[0], "VNI 99") {
				t.Errorf("finding %q does not name the session", half[0])
			}
			// The metric: every TCP flow of the session counted, and half
			// of them (all, or none) one-directional.
			mfs, err := gatherHalf(r.l.sink.half)
			if err != nil {
				t.Fatal(err)
			}
			wantHalf := 0.0
			if tc.want {
				wantHalf = float64(tcp)
			}
			lbl := `outer_src="127.0.0.1",vni="99"`
			if mfs["mirrorscope_listen_tcp_flows_ended_total"][lbl] != float64(tcp) || mfs["mirrorscope_listen_half_flows_total"][lbl] != wantHalf {
				t.Errorf("metrics %v, want %d TCP flows, %v half", mfs, tcp, wantHalf)
			}
		})
	}
}

// gatherHalf returns the half-flow metrics: name -> labels -> value
// (labels outer_src and vni, as `outer_src="...",vni="..."`).
func gatherHalf(c prometheus.Collector) (map[string]map[string]float64, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		m := map[string]float64{}
		for _, mt := range mf.GetMetric() {
			var src, vni string
			for _, lp := range mt.GetLabel() {
				switch lp.GetName() {
				case "outer_src":
					src = lp.GetValue()
				case "vni":
					vni = lp.GetValue()
				}
			}
			m[`outer_src="`+src+`",vni="`+vni+`"`] = mt.GetCounter().GetValue()
		}
		out[mf.GetName()] = m
	}
	return out, nil
}
