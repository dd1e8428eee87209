package decode

import (
	"bytes"
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

// overlayFrame is a VXLAN mirror packet (VNI 4242) of a Kubernetes node
// whose traffic is itself an overlay packet to UDP port dport (VXLAN
// 4789/8472 with VNI 7, or GENEVE 6081 with VNI 9) carrying a pod's TCP
// segment (tcp4Frame: 198.18.0.1:40000 -> 198.18.0.2:5201).
func overlayFrame(t testing.TB, dport uint16) []byte {
	pod := tcp4Frame(t, 20)
	nodeA, nodeB := cli6, srv6 // the nodes talk over IPv6 here
	ip := ip6L(layers.IPProtocolUDP, nodeA, nodeB)
	var ov []byte
	if dport == 6081 {
		ov = append([]byte{0, 0, 0x65, 0x58, 0, 0, 9, 0}, pod...)
	} else {
		ov = append([]byte{0x08, 0, 0, 0, 0, 0, 7, 0}, pod...)
	}
	node := ser(t, ethL(layers.EthernetTypeIPv6), ip, udpL(ip, 33333, dport), gopacket.Payload(ov))
	return vxlanWrap(t, node, 4242, 44444, 0x08)
}

func TestDecapInner(t *testing.T) {
	on := New(Config{VXLANPort: 4789, GENEVEPort: 6081, DecapInner: true})
	off := New(DefaultConfig())
	for _, c := range []struct {
		port uint16
		vni  uint32
	}{{8472, 7}, {4789, 7}, {6081, 9}} {
		f := overlayFrame(t, c.port)
		var p Packet
		if err := on.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
			t.Fatal(err)
		}
		if !p.HasTCP() || p.Src != cli4 || p.SrcPort != 40000 || p.PayloadLen != 20 || p.Session.VNI != 4242 ||
			!p.Session.HasOverlay || p.Session.OverlayVNI != c.vni || p.Encap != EncapVXLAN || p.Session.OuterSrc != eni4 {
			t.Errorf("port %d with DecapInner: %+v", c.port, p)
		}
		if a := testing.AllocsPerRun(50, func() { _ = on.Decode(f, LinkEthernet, uint32(len(f)), &p) }); a != 0 {
			t.Errorf("%v allocs", a)
		}
		// Default: the node's own packet, as the ENI saw it.
		if err := off.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
			t.Fatal(err)
		}
		if !p.HasUDP() || p.DstPort != c.port || p.Session.HasOverlay || p.Src != cli6 {
			t.Errorf("port %d by default: %+v", c.port, p)
		}
	}
}

// TestDecapInnerMatchesTshark: tshark, told that 8472 is VXLAN, finds the
// same pod segments in testdata/encap/k8s-overlay.pcapng.
func TestDecapInnerMatchesTshark(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "encap", "k8s-overlay.pcapng")
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for i, port := range []uint16{8472, 4789, 6081} {
		f := overlayFrame(t, port)
		frames = append(frames, f)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1000), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MIRRORSCOPE_UPDATE_ENCAP") != "" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	out, err := exec.Command("tshark", "-n", "-r", path, "-d", "udp.port==8472,vxlan", "-T", "fields", "-E", "occurrence=l",
		"-e", "frame.number", "-e", "_ws.col.Source", "-e", "tcp.srcport", "-e", "tcp.len", "-e", "vxlan.vni", "-e", "geneve.vni").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	d := New(Config{VXLANPort: 4789, GENEVEPort: 6081, DecapInner: true})
	for i, f := range frames {
		var p Packet
		if err := d.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
			t.Fatal(err)
		}
		ours := strings.Join([]string{strconv.Itoa(i + 1), p.Src.String(), strconv.Itoa(int(p.SrcPort)), strconv.Itoa(int(p.PayloadLen))}, "\t")
		cols := strings.Split(lines[i], "\t")
		if strings.Join(cols[:4], "\t") != ours {
			t.Errorf("frame %d: ours %q, tshark %q", i+1, ours, lines[i])
		}
		// The overlay VNI is the last VXLAN VNI, or the GENEVE VNI.
		vni := cols[4]
		if len(cols) > 5 && cols[5] != "" { // geneve.vni prints in hex
			v, _ := strconv.ParseUint(strings.TrimPrefix(cols[5], "0x"), 16, 32)
			vni = strconv.FormatUint(v, 10)
		}
		if vni != strconv.Itoa(int(p.Session.OverlayVNI)) {
			t.Errorf("frame %d: overlay VNI %d, tshark %q", i+1, p.Session.OverlayVNI, lines[i])
		}
	}
}
