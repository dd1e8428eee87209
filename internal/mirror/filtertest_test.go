package mirror

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

const policerSrv = "../../testdata/policer/policer.srv.pcap"
const policerMon = "../../testdata/policer/policer.mon.pcap"

var srvAddr = Addrs{netip.MustParseAddr("198.18.0.2")}

// tsharkCounts runs one tshark pass with an io,stat column per display
// filter and returns each filter's packets and bytes (frame.len, which for
// these Ethernet captures is 14 + ip.len, the frame AWS would mirror).
func tsharkCounts(t *testing.T, file string, filters []string) []Counts {
	t.Helper()
	for _, f := range filters {
		if strings.Contains(f, ",") {
			t.Fatalf("display filter %q: io,stat cannot take commas", f)
		}
	}
	cmd := exec.Command("tshark", "-n", "-q", "-r", file, "-z", "io,stat,0,"+strings.Join(filters, ","))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark: %v: %s", err, errb.String())
	}
	var row string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "<>") {
			row = l
		}
	}
	cells := strings.Split(row, "|")
	if len(cells) < 2+2*len(filters) {
		t.Fatalf("tshark io,stat output not understood:\n%s", out.String())
	}
	res := make([]Counts, len(filters))
	for i := range filters {
		p, err1 := strconv.ParseUint(strings.TrimSpace(cells[2+2*i]), 10, 64)
		b, err2 := strconv.ParseUint(strings.TrimSpace(cells[3+2*i]), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("tshark io,stat row %q: %v %v", row, err1, err2)
		}
		res[i] = Counts{Packets: p, Bytes: b}
	}
	return res
}

func needTshark(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	if _, err := os.Stat(policerSrv); err != nil {
		t.Skipf("lab capture missing: %v", err)
	}
}

// TestFilterTestAgainstTshark replays a real lab capture taken on the
// server's interface (198.18.0.2, iperf3 server on 5201, client
// 198.18.0.1) and checks every rule's count against a tshark display
// filter written by hand for what that rule decides under first-match.
func TestFilterTestAgainstTshark(t *testing.T) {
	needTshark(t)
	const in, out = "ip.dst==198.18.0.2", "ip.src==198.18.0.2"
	type check struct {
		rule   int
		dir    Direction
		filter string
	}
	tests := []struct {
		name    string
		rules   []string
		checks  []check
		noMatch map[Direction]string
	}{
		{
			name: "ports, reject before accept, cidr miss",
			rules: []string{
				"ingress 100 accept tcp dst-port 5201",
				"egress 200 reject tcp src-port 5201 dst-port 56240",
				"egress 300 accept all dst 198.18.0.0/31",
				"egress 400 accept udp",
			},
			checks: []check{
				{100, Ingress, in + " && tcp.dstport==5201"},
				{200, Egress, out + " && tcp.srcport==5201 && tcp.dstport==56240"},
				{300, Egress, out + " && !(tcp.srcport==5201 && tcp.dstport==56240) && ip.dst==198.18.0.0/31"},
				{400, Egress, out + " && udp"},
			},
			noMatch: map[Direction]string{
				Ingress: in + " && !(tcp.dstport==5201)",
				Egress:  out + " && !(tcp.srcport==5201 && tcp.dstport==56240) && !(ip.dst==198.18.0.0/31) && !udp",
			},
		},
		{
			name: "wrong cidr mirrors nothing",
			rules: []string{
				"ingress 100 accept tcp src 10.0.0.0/8",
			},
			checks:  []check{{100, Ingress, in + " && tcp && ip.src==10.0.0.0/8"}},
			noMatch: map[Direction]string{Ingress: in + " && !(tcp && ip.src==10.0.0.0/8)", Egress: out},
		},
		{
			name: "port ranges and /32",
			rules: []string{
				"ingress 10 reject tcp src 198.18.0.1/32 src-port 56241-65535",
				"ingress 20 accept tcp src-port 56240-56240",
				"egress 10 accept tcp dst-port 50000-56247",
				"egress 20 reject all",
			},
			checks: []check{
				{10, Ingress, in + " && ip.src==198.18.0.1 && tcp.srcport>=56241"},
				{20, Ingress, in + " && !(ip.src==198.18.0.1 && tcp.srcport>=56241) && tcp.srcport==56240"},
				{10, Egress, out + " && tcp.dstport>=50000 && tcp.dstport<=56247"},
				{20, Egress, out + " && !(tcp.dstport>=50000 && tcp.dstport<=56247)"},
			},
			noMatch: map[Direction]string{Ingress: in + " && !(ip.src==198.18.0.1 && tcp.srcport>=56241) && !(tcp.srcport==56240)", Egress: "frame.number==0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := mustFilter(t, false, tc.rules...)
			rep, err := TestCaptures([]string{policerSrv}, SingleFilter(f), TestOptions{Addrs: srvAddr})
			if err != nil {
				t.Fatal(err)
			}
			sr := rep.Sessions[0]
			var filters []string
			for _, c := range tc.checks {
				filters = append(filters, c.filter)
			}
			filters = append(filters, tc.noMatch[Ingress], tc.noMatch[Egress])
			counts := tsharkCounts(t, policerSrv, filters)
			var wantMirrored Counts
			for ci, c := range tc.checks {
				var got *RuleCounts
				for i := range sr.Rules {
					if sr.Rules[i].Number == c.rule && sr.Rules[i].Direction == c.dir.String() {
						got = &sr.Rules[i]
					}
				}
				want := counts[ci]
				if got.Counts != want {
					t.Errorf("%s rule %d: got %+v, tshark -Y %q: %+v", c.dir, c.rule, got.Counts, c.filter, want)
				}
				if got.Action == "accept" {
					wantMirrored.Packets += want.Packets
					wantMirrored.Bytes += want.Bytes
				}
			}
			for i, got := range []Counts{sr.NoMatchIngress, sr.NoMatchEgress} {
				dir := Direction(i)
				if want := counts[len(tc.checks)+i]; got != want {
					t.Errorf("%s no match: got %+v, tshark -Y %q: %+v", dir, got, tc.noMatch[dir], want)
				}
			}
			if rep.Mirrored != wantMirrored {
				t.Errorf("mirrored %+v, want %+v", rep.Mirrored, wantMirrored)
			}
			if rep.MirrorWireBytes != wantMirrored.Bytes+54*wantMirrored.Packets {
				t.Errorf("wire bytes %d, want %d", rep.MirrorWireBytes, wantMirrored.Bytes+54*wantMirrored.Packets)
			}
			if rep.Total.Packets != 1990 || rep.DecodeErrors != 0 {
				t.Errorf("total %d packets, %d decode errors; want 1990, 0", rep.Total.Packets, rep.DecodeErrors)
			}
		})
	}
}

// The lab's VXLAN mirror of the same interface holds the same frames: the
// same filter over the decapsulated mirror stream must count the same.
func TestFilterTestMirrorStreamEqualsSource(t *testing.T) {
	if _, err := os.Stat(policerMon); err != nil {
		t.Skipf("lab capture missing: %v", err)
	}
	f := mustFilter(t, false, "ingress 100 accept tcp dst-port 5201", "egress 100 reject tcp dst-port 56240", "egress 200 accept all")
	src, err := TestCaptures([]string{policerSrv}, SingleFilter(f), TestOptions{Addrs: srvAddr})
	if err != nil {
		t.Fatal(err)
	}
	mon, err := TestCaptures([]string{policerMon}, SingleFilter(f), TestOptions{Addrs: srvAddr, Decap: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range src.Sessions[0].Rules {
		if g, w := mon.Sessions[0].Rules[i].Counts, src.Sessions[0].Rules[i].Counts; g != w {
			t.Errorf("rule %s: mirror stream %+v, source %+v", src.Sessions[0].Rules[i].Rule, g, w)
		}
	}
	if src.Mirrored.Packets == 0 || mon.Mirrored != src.Mirrored {
		t.Errorf("mirrored: stream %+v, source %+v", mon.Mirrored, src.Mirrored)
	}
}

func TestFilterTestSessionsAndTruncation(t *testing.T) {
	if _, err := os.Stat(policerSrv); err != nil {
		t.Skipf("lab capture missing: %v", err)
	}
	acks := mustFilter(t, false, "egress 100 accept tcp")
	data := mustFilter(t, false, "ingress 100 accept tcp", "egress 100 accept tcp")
	ss := Sessions{{Number: 7, Filter: data, VNI: 7, PacketLength: 100}, {Number: 3, Filter: acks, VNI: 3}}
	if err := ss.Validate(); err != nil {
		t.Fatal(err)
	}
	rep, err := TestCaptures([]string{policerSrv}, ss, TestOptions{Addrs: srvAddr})
	if err != nil {
		t.Fatal(err)
	}
	s3, s7 := rep.Sessions[0], rep.Sessions[1]
	if s3.Number != 3 || s7.Number != 7 {
		t.Fatalf("sessions out of order: %d %d", s3.Number, s7.Number)
	}
	// Session 3 has priority for egress; session 7 only gets ingress.
	if s3.MirroredEgress.Packets != rep.Egress.Packets || s3.MirroredIngress.Packets != 0 {
		t.Errorf("session 3 mirrored in %d eg %d, want 0 and %d", s3.MirroredIngress.Packets, s3.MirroredEgress.Packets, rep.Egress.Packets)
	}
	if s7.MirroredEgress.Packets != 0 || s7.MirroredIngress != rep.Ingress {
		t.Errorf("session 7 mirrored in %+v eg %+v, want %+v and 0", s7.MirroredIngress, s7.MirroredEgress, rep.Ingress)
	}
	// Filter evaluated alone still counts egress for session 7.
	if s7.Rules[1].Packets != rep.Egress.Packets {
		t.Errorf("session 7 egress rule alone: %d, want %d", s7.Rules[1].Packets, rep.Egress.Packets)
	}
	// Truncation: frames longer than 100 bytes are cut to 100.
	big := ingressOver(t, 100)
	if s7.Truncated != big {
		t.Errorf("truncated %d, want %d", s7.Truncated, big)
	}
}

// ingressOver counts the ingress packets with a frame over max bytes.
func ingressOver(t *testing.T, max uint32) uint64 {
	t.Helper()
	var n uint64
	f := mustFilter(t, false, "ingress 1 accept tcp")
	_, err := TestCaptures([]string{policerSrv}, SingleFilter(f), TestOptions{Addrs: srvAddr, OnPacket: func(_ *decode.Packet, d Decision) {
		if d.DirKnown && d.Dir == Ingress && d.Len > max {
			n++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFilterTestInferENI(t *testing.T) {
	if _, err := os.Stat(policerSrv); err != nil {
		t.Skipf("lab capture missing: %v", err)
	}
	f := mustFilter(t, false, "ingress 1 accept all")
	_, err := TestCaptures([]string{policerSrv}, SingleFilter(f), TestOptions{})
	if !errors.Is(err, ErrAmbiguousENI) {
		t.Fatalf("one-conversation capture: err %v, want ErrAmbiguousENI", err)
	}
	_, err = TestCaptures([]string{"testdata/nonexistent.pcap"}, SingleFilter(f), TestOptions{Addrs: srvAddr})
	if err == nil {
		t.Fatal("missing file: no error")
	}
}
