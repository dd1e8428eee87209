package listen

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// TestReplayLoopPorts: with LoopPorts every pass of a looped capture is
// new connections, each pass's ports shifted by its number, with the
// flows of the capture analysed offline; without it the passes are the
// same connections again, reported once (tshark's view: same ports and
// ISN is a retransmitted SYN).
func TestReplayLoopPorts(t *testing.T) {
	path := capturePath(t, "policer/policer.srv.pcap")
	one := offline(t, path)
	const loops = 3
	for _, shift := range []bool{true, false} {
		r := startListener(t, nil)
		st := replayCfg(t, ReplayConfig{Files: []string{path}, To: r.l.VXLANAddr().String(), VNI: 4242,
			Loop: loops, LoopPorts: shift, Encap: "vxlan", Sources: 4, Decode: decode.DefaultConfig(), NoRaw: true})
		r.waitFor(t, st.Sent)
		r.stop(t)
		if r.err != nil {
			t.Fatalf("Run: %v", r.err)
		}
		flows, _, _ := parseLines(t, r.out.String())
		var got []testFlow
		for i := range flows {
			got = append(got, flows[i].shape(false))
		}
		sortShapes(got)
		if !shift {
			if len(got) != len(one) {
				t.Errorf("without LoopPorts: %d flows, want the capture's %d (one connection per port pair)", len(got), len(one))
			}
			continue
		}
		var want []testFlow
		for i := range loops {
			for _, f := range one {
				f.VNI = 0
				f.Client, f.Server = shiftAddrPort(t, f.Client, i), shiftAddrPort(t, f.Server, i)
				want = append(want, f)
			}
		}
		sortShapes(want)
		if diff := cmp.Diff(timeFree(got), timeFree(want)); diff != "" {
			t.Errorf("LoopPorts flows (-listen +offline, ports shifted per pass):\n%s", diff)
		}
	}
}

func shiftAddrPort(t *testing.T, s string, n int) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(ap.Addr(), uint16((int(ap.Port())-1+n)%65535+1)).String()
}

func TestShiftPorts(t *testing.T) {
	for _, tc := range []struct{ a, b, n, wa, wb int }{
		{56248, 5201, 0, 56248, 5201},
		{56248, 5201, 2, 56250, 5203},
		{65535, 65534, 1, 1, 65535},
		{65535, 1, 65535, 65535, 1},
	} {
		b := []byte{byte(tc.a >> 8), byte(tc.a), byte(tc.b >> 8), byte(tc.b)}
		shiftPorts(b, tc.n)
		if ga, gb := int(b[0])<<8|int(b[1]), int(b[2])<<8|int(b[3]); ga != tc.wa || gb != tc.wb {
			t.Errorf("shift %d,%d by %d = %d,%d; want %d,%d", tc.a, tc.b, tc.n, ga, gb, tc.wa, tc.wb)
		}
	}
}

// TestReplayLoopPortsMirrorRefused: a mirror capture's inner ports are
// not rewritten; the replay says so instead of sending unshifted passes.
func TestReplayLoopPortsMirrorRefused(t *testing.T) {
	path := capturePath(t, "policer/policer.mon.pcap")
	_, err := Replay(context.Background(), ReplayConfig{Files: []string{path}, To: "127.0.0.1:9", Loop: 2, LoopPorts: true, Encap: "vxlan",
		Sources: 1, Decode: decode.DefaultConfig(), NoRaw: true})
	if err == nil || !strings.Contains(err.Error(), "plain captures only") {
		t.Fatalf("Replay of a mirror capture with LoopPorts: %v, want the plain-captures-only error", err)
	}
}
