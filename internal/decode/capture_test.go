package decode

import (
	"compress/gzip"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// frame is one captured frame of a test capture.
type frame struct {
	data    []byte
	origLen uint32
}

// readCapture reads a pcap file of the repository's testdata, gzipped or
// not. It uses pcapgo directly: the capture package is not a dependency
// of the decoder.
func readCapture(t testing.TB, path string) (LinkType, []frame) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer zr.Close()
		r = zr
	}
	var (
		pr interface {
			ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		}
		link LinkType
	)
	if strings.Contains(path, ".pcapng") {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pr, link = ng, LinkType(ng.LinkType())
	} else {
		pc, err := pcapgo.NewReader(r)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pr, link = pc, LinkType(pc.LinkType())
	}
	var out []frame
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(out)+1, err)
		}
		out = append(out, frame{data: data, origLen: uint32(ci.Length)})
	}
	return link, out
}

// captures finds testdata captures matching a glob, gzipped or not.
func captures(t testing.TB, glob string) []string {
	t.Helper()
	var out []string
	for _, g := range []string{glob, glob + ".gz"} {
		for _, dir := range []string{"", "*"} {
			m, err := filepath.Glob(filepath.Join("..", "..", "testdata", dir, g))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range m {
				// testdata/broken holds deliberately corrupt files
				// (capture's TestRealBrokenFiles), not captures.
				if filepath.Base(filepath.Dir(f)) != "broken" {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// flowKey identifies one frame of a TCP/UDP conversation in both the
// plain and the mirror capture. The IP ID tells retransmissions apart.
type flowKey struct {
	src, dst   netip.Addr
	sport      uint16
	dport      uint16
	proto      uint8
	ipid       uint32
	seq, ack   uint32
	ipLen      uint32
	frameLen   uint32
	payloadLen uint32
	icmp       uint16
}

func keyOf(p *Packet) flowKey {
	return flowKey{p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto, p.IPID, p.TCP.Seq, p.TCP.Ack,
		p.IPLen, p.FrameLen, p.PayloadLen, 0}
}

// TestRealCaptures decodes every frame of the lab's captures, and checks
// that a VXLAN mirror capture (NAME.mon.pcap) carries, inner packet for
// inner packet, what the mirrored interface's own capture
// (NAME.srv.pcap) shows: same 5-tuples, IP ids, sequence numbers and
// lengths, in the same order apart from the mirror's own reordering.
func TestRealCaptures(t *testing.T) {
	mons := captures(t, "*.mon.pcap")
	plains := append(captures(t, "*.srv.pcap"), captures(t, "*.cli.pcap")...)
	if len(mons)+len(plains) == 0 {
		t.Skip("no lab captures in testdata")
	}
	d := New(DefaultConfig())
	decodeAll := func(path string) ([]flowKey, map[Encap]int) {
		link, frames := readCapture(t, path)
		var keys []flowKey
		encs := map[Encap]int{}
		var p Packet
		for i, f := range frames {
			if err := d.Decode(f.data, link, f.origLen, &p); err != nil {
				t.Errorf("%s: frame %d: %v", path, i+1, err)
				continue
			}
			if p.CapLen > uint32(len(f.data)) || (p.IPVersion != 0 && p.FrameLen < p.IPLen) {
				t.Errorf("%s: frame %d: CapLen %d FrameLen %d IPLen %d", path, i+1, p.CapLen, p.FrameLen, p.IPLen)
			}
			encs[p.Encap]++
			if p.L4 && (p.Proto == 6 || p.Proto == 17) {
				keys = append(keys, keyOf(&p))
			}
		}
		return keys, encs
	}
	for _, path := range plains {
		if _, encs := decodeAll(path); encs[EncapNone] == 0 {
			t.Errorf("%s: no plain frames decoded", path)
		}
	}
	for _, mon := range mons {
		t.Run(filepath.Base(mon), func(t *testing.T) {
			srv := strings.Replace(mon, ".mon.", ".srv.", 1)
			if _, err := os.Stat(srv); err != nil && strings.HasSuffix(srv, ".gz") {
				srv = strings.TrimSuffix(srv, ".gz")
			} else if err != nil {
				srv += ".gz"
			}
			if _, err := os.Stat(srv); err != nil {
				t.Skipf("no plain twin for %s", mon)
			}
			mk, encs := decodeAll(mon)
			pk, _ := decodeAll(srv)
			if encs[EncapVXLAN] == 0 {
				t.Fatalf("no VXLAN frames in %s: %v", mon, encs)
			}
			if err := compareOrdered(pk, mk, true); err != nil {
				t.Error(err)
			}
			t.Logf("%d plain, %d mirror TCP/UDP frames, encaps %v", len(pk), len(mk), encs)
		})
	}
}

// compareOrdered checks that every mirror frame is a frame of the plain
// capture and, when ordered, that the mirror keeps the plain order for at
// least 95% of frames (the lab's mirror path, like AWS's, may reorder a
// few).
func compareOrdered(plain, mirror []flowKey, ordered bool) error {
	count := map[flowKey]int{}
	pos := map[flowKey]int{}
	for i, k := range plain {
		count[k]++
		if _, ok := pos[k]; !ok {
			pos[k] = i
		}
	}
	unmatched, inOrder, last := 0, 0, -1
	var firstBad *flowKey
	for i := range mirror {
		k := mirror[i]
		if count[k] == 0 {
			unmatched++
			if firstBad == nil {
				firstBad = &mirror[i]
			}
			continue
		}
		count[k]--
		if pos[k] > last {
			inOrder++
			last = pos[k]
		}
	}
	if unmatched > 0 {
		return fmt.Errorf("%d of %d mirror frames are not in the plain capture; first %+v", unmatched, len(mirror), *firstBad)
	}
	if len(mirror) < len(plain)*9/10 {
		return fmt.Errorf("mirror has %d frames, plain %d", len(mirror), len(plain))
	}
	if ordered && inOrder < len(mirror)*95/100 {
		return fmt.Errorf("only %d of %d mirror frames in plain order", inOrder, len(mirror))
	}
	return nil
}

// TestRealTwoSessions: the lab mirrors cli (VNI 4343, outer source
// 198.19.0.1) and srv (VNI 4242, 198.19.0.2) to one target; every frame
// must carry one of the two sessions, and each session must hold the
// same TCP segments, seen from the two ends.
func TestRealTwoSessions(t *testing.T) {
	paths := captures(t, "twosessions.mon.pcap")
	if len(paths) == 0 {
		t.Skip("no twosessions capture in testdata")
	}
	link, frames := readCapture(t, paths[0])
	d := New(DefaultConfig())
	want := map[Session]bool{
		{OuterSrc: netip.MustParseAddr("198.19.0.1"), OuterDst: netip.MustParseAddr("198.19.0.4"), VNI: 4343, HasVNI: true}: true,
		{OuterSrc: netip.MustParseAddr("198.19.0.2"), OuterDst: netip.MustParseAddr("198.19.0.4"), VNI: 4242, HasVNI: true}: true,
	}
	perSession := map[Session]map[flowKey]int{}
	var p Packet
	for i, f := range frames {
		if err := d.Decode(f.data, link, f.origLen, &p); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if !want[p.Session] || p.Encap != EncapVXLAN {
			t.Fatalf("frame %d: encap %v session %+v", i+1, p.Encap, p.Session)
		}
		if p.HasTCP() {
			if perSession[p.Session] == nil {
				perSession[p.Session] = map[flowKey]int{}
			}
			k := keyOf(&p)
			k.ack = 0 // not needed to pair, keep the key identical per side
			perSession[p.Session][k]++
		}
	}
	if len(perSession) != 2 {
		t.Fatalf("%d sessions with TCP, want 2", len(perSession))
	}
	var sets []map[flowKey]int
	for _, m := range perSession {
		sets = append(sets, m)
	}
	common := 0
	for k, n := range sets[0] {
		common += min(n, sets[1][k])
	}
	// Both ends see the same segments unless the shaper between them
	// dropped some; nearly all must be common.
	if common < len(sets[0])*8/10 || common < len(sets[1])*8/10 {
		t.Errorf("only %d segments common to both sessions (%d, %d)", common, len(sets[0]), len(sets[1]))
	}
}

// TestRealGENEVE decodes the GWLB capture the testdata generator built
// from the mixed VXLAN mirror capture (GENEVE with the AWS options around
// each mirror packet's IPv4/UDP/VXLAN) and checks it frame by frame
// against that source: same mirror session, same inner packet, and the
// GWLB options its truth file states.
func TestRealGENEVE(t *testing.T) {
	gv := captures(t, "geneve.app.pcap")
	src := captures(t, "mixed.mon.pcapng")
	if len(gv) == 0 || len(src) == 0 {
		t.Skip("no GENEVE capture or its source in testdata")
	}
	d := New(DefaultConfig())
	glink, gframes := readCapture(t, gv[0])
	slink, sframes := readCapture(t, src[0])
	var p, q Packet
	j := 0 // next source frame
	for i, f := range gframes {
		if err := d.Decode(f.data, glink, f.origLen, &p); err != nil {
			t.Fatalf("geneve frame %d: %v", i+1, err)
		}
		if p.Encap != EncapGENEVEVXLAN || !p.Session.HasGWLB || p.Session.GWLBEndpointID != 0x0a1b2c3d4e5f6071 ||
			p.Session.GWLBAttachmentID != 0xa1 {
			t.Fatalf("geneve frame %d: encap %v session %+v", i+1, p.Encap, p.Session)
		}
		h := fnv.New32a()
		h.Write([]byte{byte(p.OuterSrcPort >> 8), byte(p.OuterSrcPort)})
		if p.Session.GWLBFlowCookie != h.Sum32() {
			t.Fatalf("geneve frame %d: flow cookie %#x, want fnv32a(%d) = %#x", i+1,
				p.Session.GWLBFlowCookie, p.OuterSrcPort, h.Sum32())
		}
		// The generator skipped the source's non-VXLAN frames.
		for {
			if j == len(sframes) {
				t.Fatalf("geneve frame %d has no source frame left", i+1)
			}
			err := d.Decode(sframes[j].data, slink, sframes[j].origLen, &q)
			j++
			if err == nil && q.Encap == EncapVXLAN {
				break
			}
		}
		want := q
		want.Encap = EncapGENEVEVXLAN
		want.Session.GWLBEndpointID, want.Session.GWLBAttachmentID = p.Session.GWLBEndpointID, p.Session.GWLBAttachmentID
		want.Session.GWLBFlowCookie, want.Session.HasGWLB = p.Session.GWLBFlowCookie, true
		// The capture length differs only when the snaplen cut either.
		if p.Truncated || q.Truncated {
			want.CapLen, want.Truncated = p.CapLen, p.Truncated
		}
		if p != want {
			t.Fatalf("geneve frame %d differs from its source frame %d", i+1, j)
		}
	}
	t.Logf("%d GENEVE frames match their VXLAN source frames", len(gframes))
}

// TestRealAllFrames decodes every frame of every capture in testdata,
// whatever its link type, and requires no errors.
func TestRealAllFrames(t *testing.T) {
	paths := append(captures(t, "*.pcap"), captures(t, "*.pcapng")...)
	if len(paths) == 0 {
		t.Skip("no captures in testdata")
	}
	d := New(DefaultConfig())
	for _, path := range paths {
		link, frames := readCapture(t, path)
		var p Packet
		ip, tcp := 0, 0
		for i, f := range frames {
			err := d.Decode(f.data, link, f.origLen, &p)
			if err != nil {
				t.Errorf("%s: frame %d: %v", path, i+1, err)
				continue
			}
			checkInvariants(t, f.data, &p, err)
			if p.IPVersion != 0 {
				ip++
			}
			if p.HasTCP() {
				tcp++
			}
		}
		if ip == 0 {
			t.Errorf("%s: no IP packets in %d frames", path, len(frames))
		}
		t.Logf("%s: link %d, %d frames, %d IP, %d TCP", filepath.Base(path), link, len(frames), ip, tcp)
	}
}

// TestRealMixed: a mixed IPv4/IPv6 TCP/UDP/ICMP exchange between hosts a
// and b, captured on b (Ethernet), on a with "any" (Linux SLL2) and
// through a VXLAN mirror of b (pcapng). The three captures must carry
// the same packets with the same wire lengths.
func TestRealMixed(t *testing.T) {
	b, aAny, mon := captures(t, "mixed.b.pcap"), captures(t, "mixed.a-any.pcap"), captures(t, "mixed.mon.pcapng")
	if len(b) == 0 || len(aAny) == 0 || len(mon) == 0 {
		t.Skip("no mixed captures in testdata")
	}
	d := New(DefaultConfig())
	keys := func(path string) []flowKey {
		link, frames := readCapture(t, path)
		var out []flowKey
		var p Packet
		for i, f := range frames {
			if err := d.Decode(f.data, link, f.origLen, &p); err != nil {
				t.Fatalf("%s: frame %d: %v", path, i+1, err)
			}
			if p.Encap == EncapVXLAN && (p.Session.VNI != 77 || p.Session.OuterSrc != netip.MustParseAddr("198.19.0.2")) {
				t.Fatalf("%s: frame %d: session %+v", path, i+1, p.Session)
			}
			if p.IPVersion != 0 {
				k := keyOf(&p)
				k.ipid = 0 // IPv6 has none, and ICMP ids vary by kernel path
				k.icmp = uint16(p.ICMPType)<<8 | uint16(p.ICMPCode)
				out = append(out, k)
			}
		}
		return out
	}
	kb := keys(b[0])
	for _, other := range []string{aAny[0], mon[0]} {
		// Concurrent flows seen at two points interleave differently, and
		// without IP ids equal packets repeat: match, do not order.
		if err := compareOrdered(kb, keys(other), false); err != nil {
			t.Errorf("%s vs %s: %v", filepath.Base(other), filepath.Base(b[0]), err)
		}
	}
}
