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

type encapCase struct {
	name  string
	frame []byte
	enc   Encap
}

// encapCases are the same TCP segment (198.18.0.1:40000 -> :5201, 20
// bytes; IPv6 2001:db8::1 for 6in4) behind each link-layer shim and
// tunnel tshark 4.0 decodes as TCP.
func encapCases(t testing.TB) []encapCase {
	ip4 := tcp4Packet(t, 20)
	ip6 := tcp6Frame(t, 20)[14:]
	mac := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	eth := func(et uint16, rest ...[]byte) []byte {
		return bytes.Join(append([][]byte{mac, binary.BigEndian.AppendUint16(nil, et)}, rest...), nil)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	pppoe := func(proto uint16, ip []byte) []byte {
		return bytes.Join([][]byte{{0x11, 0, 0x12, 0x34}, u16(uint16(2 + len(ip))), u16(proto), ip}, nil)
	}
	gtp := func(hdr []byte, ip []byte) []byte {
		h := append([]byte{}, hdr...)
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+len(ip)))
		o := ip4L(layers.IPProtocolUDP, eni4, tgt4)
		return ser(t, ethL(layers.EthernetTypeIPv4), o, udpL(o, 2152, 2152), gopacket.Payload(append(h, ip...)))
	}
	o6 := ip6L(layers.IPProtocolIPv4, cli6, srv6)
	o4 := ip4L(layers.IPProtocolIPv6, eni4, tgt4)
	return []encapCase{
		{"ipv4 in ipv6", ser(t, ethL(layers.EthernetTypeIPv6), o6, gopacket.Payload(ip4)), EncapIPIP},
		{"6in4", ser(t, ethL(layers.EthernetTypeIPv4), o4, gopacket.Payload(ip6)), EncapIPIP},
		{"gtp-u", gtp([]byte{0x30, 0xff, 0, 0, 0, 0, 0x12, 0x34}, ip4), EncapGTPU},
		{"gtp-u extension header", gtp([]byte{0x34, 0xff, 0, 0, 0, 0, 0x56, 0x78, 0, 0, 0, 0x85, 1, 0x10, 9, 0}, ip4), EncapGTPU},
		{"mpls two labels", eth(etherMPLS, []byte{0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64}, ip4), EncapNone},
		{"pppoe", eth(etherPPPoE, pppoe(0x0021, ip4)), EncapNone},
		{"pppoe ipv6 over qinq", eth(etherQinQ, []byte{0, 100}, u16(etherVLAN), []byte{0, 200}, u16(etherPPPoE), pppoe(0x0057, ip6)), EncapNone},
		{"llc snap", eth(uint16(8+len(ip4)), []byte{0xaa, 0xaa, 3, 0, 0, 0, 8, 0}, ip4), EncapNone},
		{"802.1ah", eth(etherPBB, []byte{0, 0, 0x10, 0x01}, mac, u16(etherIPv4), ip4), EncapNone},
		{"vn-tag", eth(etherVNTag, []byte{0x80, 0x01, 0x00, 0x02}, u16(etherIPv4), ip4), EncapNone},
		// FabricPath: tshark takes the last 4 bytes as the FCS.
		{"fabricpath", eth(etherFabricPth, []byte{0x00, 0x3f}, mac, u16(etherIPv4), ip4, []byte{1, 2, 3, 4}), EncapNone},
	}
}

func TestDecodeEncaps(t *testing.T) {
	d := New(DefaultConfig())
	for _, c := range encapCases(t) {
		var p Packet
		if err := d.Decode(c.frame, LinkEthernet, uint32(len(c.frame)), &p); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Encap != c.enc || !p.HasTCP() || p.SrcPort != 40000 || p.TCP.Seq != 1000 || p.PayloadLen != 20 {
			t.Errorf("%s: encap %v tcp %v %v:%d seq %d len %d", c.name, p.Encap, p.HasTCP(), p.Src, p.SrcPort, p.TCP.Seq, p.PayloadLen)
		}
		if p.FrameLen > uint32(len(c.frame)) {
			t.Errorf("%s: FrameLen %d > frame %d", c.name, p.FrameLen, len(c.frame))
		}
		if a := testing.AllocsPerRun(50, func() { _ = d.Decode(c.frame, LinkEthernet, uint32(len(c.frame)), &p) }); a != 0 {
			t.Errorf("%s: %v allocs per Decode", c.name, a)
		}
	}
}

// nflogFrame is an NFLOG record (tcpdump -i nflog:N) holding ip.
func nflogFrame(ip []byte, family byte) []byte {
	b := []byte{family, 0, 0, 5}
	tlv := func(typ uint16, v []byte) {
		b = binary.LittleEndian.AppendUint16(b, uint16(4+len(v)))
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(1, []byte{0x08, 0x00, 3, 0}) // packet header: hw protocol, hook
	tlv(10, []byte("prefix\x00"))    // log prefix
	tlv(9, ip)                       // the packet
	return b
}

func TestDecodeNFLOG(t *testing.T) {
	d := New(DefaultConfig())
	for _, f := range [][]byte{nflogFrame(tcp4Packet(t, 20), 2), nflogFrame(tcp6Frame(t, 20)[14:], 10)} {
		var p Packet
		if err := d.Decode(f, LinkNFLOG, uint32(len(f)), &p); err != nil {
			t.Fatal(err)
		}
		if !p.HasTCP() || p.SrcPort != 40000 || p.PayloadLen != 20 {
			t.Errorf("nflog: tcp %v port %d len %d", p.HasTCP(), p.SrcPort, p.PayloadLen)
		}
	}
	var p Packet
	if err := d.Decode([]byte{2, 0, 0, 5, 2, 0, 9, 0}, LinkNFLOG, 8, &p); err != ErrNFLOG {
		t.Errorf("nflog TLV length 2: %v, want ErrNFLOG", err)
	}
}

// TestEncapCapturesMatchTshark writes the cases to testdata/encap/
// (MIRRORSCOPE_UPDATE_ENCAP=1 rewrites them) and checks that tshark 4.0
// finds the same TCP segment in every frame.
func TestEncapCapturesMatchTshark(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "encap")
	type file struct {
		name   string
		link   layers.LinkType
		frames [][]byte
	}
	var eth [][]byte
	for _, c := range encapCases(t) {
		eth = append(eth, c.frame)
	}
	files := []file{
		{"shims-tunnels.pcapng", layers.LinkTypeEthernet, eth},
		{"nflog.pcap", layers.LinkType(LinkNFLOG), [][]byte{nflogFrame(tcp4Packet(t, 20), 2), nflogFrame(tcp6Frame(t, 20)[14:], 10)}},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		var buf bytes.Buffer
		if strings.HasSuffix(f.name, ".pcapng") {
			w, err := pcapgo.NewNgWriter(&buf, f.link)
			if err != nil {
				t.Fatal(err)
			}
			for i, fr := range f.frames {
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1000), CaptureLength: len(fr), Length: len(fr)}
				if err := w.WritePacket(ci, fr); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		} else {
			w := pcapgo.NewWriterNanos(&buf)
			if err := w.WriteFileHeader(65535, f.link); err != nil {
				t.Fatal(err)
			}
			for i, fr := range f.frames {
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1000), CaptureLength: len(fr), Length: len(fr)}
				if err := w.WritePacket(ci, fr); err != nil {
					t.Fatal(err)
				}
			}
		}
		if os.Getenv("MIRRORSCOPE_UPDATE_ENCAP") != "" {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%v (MIRRORSCOPE_UPDATE_ENCAP=1 go test ./internal/decode -run Encap writes it)", err)
		}
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Skip("tshark not installed")
		}
		out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=l",
			"-e", "frame.number", "-e", "_ws.col.Source", "-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.len").Output()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		d := New(DefaultConfig())
		for i, fr := range f.frames {
			var p Packet
			if err := d.Decode(fr, LinkType(f.link), uint32(len(fr)), &p); err != nil {
				t.Fatal(err)
			}
			ours := strings.Join([]string{strconv.Itoa(i + 1), p.Src.String(), strconv.Itoa(int(p.SrcPort)),
				strconv.FormatUint(uint64(p.TCP.Seq), 10), strconv.Itoa(int(p.PayloadLen))}, "\t")
			if i >= len(lines) || lines[i] != ours {
				var l string
				if i < len(lines) {
					l = lines[i]
				}
				t.Errorf("%s frame %d: ours %q, tshark %q", f.name, i+1, ours, l)
			}
		}
	}
}
