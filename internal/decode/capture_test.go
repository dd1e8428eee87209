package decode

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
func readCapture(t *testing.T, path string) (LinkType, []frame) {
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
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
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
	return LinkType(pr.LinkType()), out
}

// captures finds testdata captures matching a glob, gzipped or not.
func captures(t *testing.T, glob string) []string {
	t.Helper()
	var out []string
	for _, g := range []string{glob, glob + ".gz"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*", g))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
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
}

func keyOf(p *Packet) flowKey {
	return flowKey{p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto, p.IPID, p.TCP.Seq, p.TCP.Ack,
		p.IPLen, p.FrameLen, p.PayloadLen}
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
			if _, err := os.Stat(srv); err != nil {
				t.Skipf("no plain twin for %s", mon)
			}
			mk, encs := decodeAll(mon)
			pk, _ := decodeAll(srv)
			if encs[EncapVXLAN] == 0 {
				t.Fatalf("no VXLAN frames in %s: %v", mon, encs)
			}
			if err := compareOrdered(pk, mk); err != nil {
				t.Error(err)
			}
			t.Logf("%d plain, %d mirror TCP/UDP frames, encaps %v", len(pk), len(mk), encs)
		})
	}
}

// compareOrdered checks that every mirror frame is a frame of the plain
// capture and that the mirror keeps the plain order for at least 95% of
// frames (the lab's mirror path, like AWS's, may reorder a few).
func compareOrdered(plain, mirror []flowKey) error {
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
	if inOrder < len(mirror)*95/100 {
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
