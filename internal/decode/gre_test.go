package decode

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// greHdr builds a GRE header: flags (C 0x8000, K 0x2000, S 0x1000), the
// protocol type, and key/sequence when their flags are set.
func greHdr(flags, proto uint16, key, seq uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, flags)
	b = binary.BigEndian.AppendUint16(b, proto)
	if flags&0x8000 != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	if flags&0x2000 != 0 {
		b = binary.BigEndian.AppendUint32(b, key)
	}
	if flags&0x1000 != 0 {
		b = binary.BigEndian.AppendUint32(b, seq)
	}
	return b
}

// erspan2Hdr is an ERSPAN type II header (version 1) for session id.
func erspan2Hdr(session uint16) []byte {
	return []byte{0x10, 0x05, byte(session >> 8 & 3), byte(session), 0, 0, 0, 9}
}

// erspan3Hdr is an ERSPAN type III header (version 2), frame type ft,
// with the optional 8-byte platform subheader when opt.
func erspan3Hdr(session uint16, ft uint8, opt bool) []byte {
	b := []byte{0x20, 0x05, byte(session >> 8 & 3), byte(session), 0x12, 0x34, 0x56, 0x78, 0, 0, ft << 2, 0}
	if opt {
		b[11] |= 1
		b = append(b, 1, 2, 3, 4, 5, 6, 7, 8)
	}
	return b
}

type greCase struct {
	name  string
	frame []byte
	enc   Encap
	vni   uint32
	hasID bool
}

// greCases are GRE and ERSPAN mirror packets around the same inner
// TCP segment, as switches (ERSPAN I/II/III), Linux gretap/ip6erspan and
// RFC 8086 GRE-in-UDP send them.
func greCases(t testing.TB) []greCase {
	inner := tcp4Frame(t, 20)
	innerIP := inner[14:]
	o4 := func(b []byte) []byte {
		ip := ip4L(layers.IPProtocolGRE, eni4, tgt4)
		return ser(t, ethL(layers.EthernetTypeIPv4), ip, gopacket.Payload(b))
	}
	o6 := func(b []byte) []byte {
		ip := ip6L(layers.IPProtocolGRE, cli6, srv6)
		return ser(t, ethL(layers.EthernetTypeIPv6), ip, gopacket.Payload(b))
	}
	udp := func(b []byte) []byte {
		ip := ip4L(layers.IPProtocolUDP, eni4, tgt4)
		return ser(t, ethL(layers.EthernetTypeIPv4), ip, udpL(ip, 50000, 4754), gopacket.Payload(b))
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return []greCase{
		{"gre ipv4", o4(cat(greHdr(0, 0x0800, 0, 0), innerIP)), EncapGRE, 0, false},
		{"gre checksum key teb", o4(cat(greHdr(0xa000, 0x6558, 77, 0), inner)), EncapGRE, 77, true},
		{"erspan type I", o4(cat(greHdr(0, 0x88be, 0, 0), inner)), EncapERSPAN1, 0, true},
		{"erspan type II", o4(cat(greHdr(0x1000, 0x88be, 0, 1), erspan2Hdr(100), inner)), EncapERSPAN2, 100, true},
		{"erspan type III", o4(cat(greHdr(0x1000, 0x22eb, 0, 2), erspan3Hdr(200, 0, false), inner)), EncapERSPAN3, 200, true},
		{"erspan type III subheader", o4(cat(greHdr(0x1000, 0x22eb, 0, 3), erspan3Hdr(201, 0, true), inner)), EncapERSPAN3, 201, true},
		{"erspan II over ipv6", o6(cat(greHdr(0x1000, 0x88be, 0, 4), erspan2Hdr(1023), inner)), EncapERSPAN2, 1023, true},
		{"gre over udp 4754", udp(cat(greHdr(0, 0x0800, 0, 0), innerIP)), EncapGRE, 0, false},
	}
}

func TestDecodeGRE(t *testing.T) {
	d := New(DefaultConfig())
	want := wantTCP4(20)
	for _, c := range greCases(t) {
		var p Packet
		if err := d.Decode(c.frame, LinkEthernet, uint32(len(c.frame)), &p); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Encap != c.enc || p.Session.VNI != c.vni || p.Session.HasVNI != c.hasID || !p.HasTCP() ||
			p.Src != want.Src || p.SrcPort != want.SrcPort || p.TCP.Seq != want.TCP.Seq || p.PayloadLen != 20 {
			t.Errorf("%s: encap %v id %d/%v tcp %v %v:%d seq %d len %d", c.name, p.Encap, p.Session.VNI,
				p.Session.HasVNI, p.HasTCP(), p.Src, p.SrcPort, p.TCP.Seq, p.PayloadLen)
		}
		if p.Session.OuterSrc != eni4 && p.Session.OuterSrc != cli6 {
			t.Errorf("%s: outer source %v", c.name, p.Session.OuterSrc)
		}
		allocs := testing.AllocsPerRun(50, func() { _ = d.Decode(c.frame, LinkEthernet, uint32(len(c.frame)), &p) })
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Decode", c.name, allocs)
		}
	}
	// Bad headers are decode errors, never panics.
	bad := []struct {
		name string
		b    []byte
		err  error
	}{
		{"gre version 1 (pptp): not followed", greHdr(1, 0x0800, 0, 0), nil},
		{"gre mpls: not followed", greHdr(0, 0x8847, 0, 0), nil},
		{"erspan II wrong version", append(greHdr(0x1000, 0x88be, 0, 1), 0x20, 0, 0, 1, 0, 0, 0, 0), ErrGRE},
		{"erspan III cut", append(greHdr(0x1000, 0x22eb, 0, 1), 0x20, 0), ErrShort},
		{"key cut", []byte{0x20, 0, 0x65, 0x58, 0}, ErrShort},
	}
	for _, c := range bad {
		ip := ip4L(layers.IPProtocolGRE, eni4, tgt4)
		f := ser(t, ethL(layers.EthernetTypeIPv4), ip, gopacket.Payload(c.b))
		var p Packet
		if err := d.Decode(f, LinkEthernet, uint32(len(f)), &p); err != c.err {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
		}
	}
}

// TestGRECaptureMatchesTshark writes the GRE/ERSPAN cases to
// testdata/encap/gre-erspan.pcapng (-update-gre rewrites it) and checks
// that tshark 4.0 decodes the same inner TCP segment and session id from
// every frame as we do.
func TestGRECaptureMatchesTshark(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "encap", "gre-erspan.pcapng")
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	cases := greCases(t)
	for i, c := range cases {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1000), CaptureLength: len(c.frame), Length: len(c.frame)}
		if err := w.WritePacket(ci, c.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MIRRORSCOPE_UPDATE_ENCAP") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v (MIRRORSCOPE_UPDATE_ENCAP=1 go test ./internal/decode -run GRECapture writes it)", err)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=l",
		"-e", "frame.number", "-e", "_ws.col.Source", "-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.len",
		"-e", "erspan.spanid", "-e", "gre.key").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("tshark printed %d lines for %d frames", len(lines), len(cases))
	}
	d := New(DefaultConfig())
	for i, l := range lines {
		f := strings.Split(l, "\t")
		var p Packet
		if err := d.Decode(cases[i].frame, LinkEthernet, uint32(len(cases[i].frame)), &p); err != nil {
			t.Fatal(err)
		}
		for len(f) < 7 {
			f = append(f, "")
		}
		// Our session id where the header has one: the ERSPAN II/III
		// session (tshark erspan.spanid) or the GRE key (gre.key, hex).
		id := ""
		if p.Session.HasVNI && !(p.Encap == EncapERSPAN1 && cases[i].name == "erspan type I") {
			id = strconv.FormatUint(uint64(p.Session.VNI), 10)
		}
		tid := f[5]
		if k, err := strconv.ParseUint(strings.TrimPrefix(f[6], "0x"), 16, 32); err == nil && f[6] != "" {
			tid = strconv.FormatUint(k, 10)
		}
		ours := strings.Join([]string{strconv.Itoa(i + 1), p.Src.String(), strconv.Itoa(int(p.SrcPort)),
			strconv.FormatUint(uint64(p.TCP.Seq), 10), strconv.Itoa(int(p.PayloadLen))}, "\t")
		theirs := strings.Join(f[:5], "\t")
		if ours != theirs || id != tid {
			t.Errorf("%s: ours %q id %q, tshark %q id %q", cases[i].name, ours, id, theirs, tid)
		}
	}
}

func BenchmarkDecodeEncaps(b *testing.B) {
	d := New(DefaultConfig())
	frames := map[string][]byte{}
	for _, c := range greCases(b) {
		frames[c.name] = c.frame
	}
	for _, c := range encapCases(b) {
		frames[c.name] = c.frame
	}
	for _, name := range []string{"erspan type II", "erspan type III", "gre over udp 4754", "mpls two labels", "pppoe ipv6 over qinq", "gtp-u"} {
		f := frames[name]
		b.Run(strings.ReplaceAll(name, " ", "-"), func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				if err := d.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("fragments-2-reassembled", func(b *testing.B) {
		r := NewReassembler(FragConfig{})
		fs := fragsOf(b, 1448, 9, 0, 800)
		var p Packet
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range fs {
				_ = d.Decode(f, LinkEthernet, uint32(len(f)), &p)
				r.Add(&p, 0)
			}
		}
	})
}
