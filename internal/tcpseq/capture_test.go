package tcpseq

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// frame is one decoded frame of a test capture. The test harness reads
// captures itself (gopacket's pcapgo) so that it does not depend on the
// capture package.
type frame struct {
	num int // 1-based frame number, as tshark's frame.number
	ts  int64
	ok  bool // decoded without error
	p   decode.Packet
}

type sessKey struct {
	outer  netip.Addr
	vni    uint32
	hasVNI bool
}

type connKey struct {
	sess sessKey
	a, b netip.AddrPort // canonical order: a < b
}

func keyOf(p *decode.Packet) connKey {
	a := netip.AddrPortFrom(p.Src, p.SrcPort)
	b := netip.AddrPortFrom(p.Dst, p.DstPort)
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return connKey{sess: sessOf(p), a: a, b: b}
}

func sessOf(p *decode.Packet) sessKey {
	return sessKey{outer: p.Session.OuterSrc, vni: p.Session.VNI, hasVNI: p.Session.HasVNI}
}

// testCaptures lists the capture files of the parity corpus: every
// *.pcap and *.pcap.gz under testdata, plus the files matched by the
// MIRRORSCOPE_PARITY_GLOB pattern (for local runs on extra lab captures).
func testCaptures(t testing.TB) []string {
	t.Helper()
	var files []string
	root := filepath.Join("..", "..", "testdata")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "broken" {
			return filepath.SkipDir // corrupt files for the reader's tests (testdata/gen/broken.sh)
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".pcap") || strings.HasSuffix(path, ".pcap.gz")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("walking %s: %v", root, err)
	}
	if g := os.Getenv("MIRRORSCOPE_PARITY_GLOB"); g != "" {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatalf("MIRRORSCOPE_PARITY_GLOB: %v", err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files
}

// readCapture decodes every frame of a pcap/pcapng file (optionally gzip
// compressed).
func readCapture(path string) ([]frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var (
		next func() ([]byte, int64, uint32, error)
		link decode.LinkType
	)
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		link = decode.LinkType(ng.LinkType())
		next = func() ([]byte, int64, uint32, error) {
			d, ci, err := ng.ReadPacketData()
			return d, ci.Timestamp.UnixNano(), uint32(ci.Length), err
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		link = decode.LinkType(pr.LinkType())
		next = func() ([]byte, int64, uint32, error) {
			d, ci, err := pr.ReadPacketData()
			return d, ci.Timestamp.UnixNano(), uint32(ci.Length), err
		}
	}
	dec := decode.New(decode.DefaultConfig())
	var out []frame
	for n := 1; ; n++ {
		data, ts, orig, err := next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s frame %d: %w", path, n, err)
		}
		fr := frame{num: n, ts: ts}
		fr.ok = dec.Decode(data, link, orig, &fr.p) == nil
		out = append(out, fr)
	}
}

// analyzeFrames runs the analysis over frames as the engine does: one Conn
// per (session, conversation), packets in file order, one StreamCounter.
// It returns the Result per frame number (TCP frames only).
func analyzeFrames(frames []frame) (map[int]Result, map[connKey]*Conn) {
	conns := map[connKey]*Conn{}
	streams := &StreamCounter{}
	res := make(map[int]Result, len(frames))
	frags := decode.NewReassembler(decode.DefaultFragConfig())
	for i := range frames {
		fr := &frames[i]
		if fr.ok && fr.p.Fragment && !frags.Add(&fr.p, fr.ts) {
			continue
		}
		if !fr.ok || !fr.p.HasTCP() {
			continue
		}
		k := keyOf(&fr.p)
		c := conns[k]
		if c == nil {
			c = NewConn(Config{Streams: streams})
			conns[k] = c
		}
		var r Result
		c.Analyze(&fr.p, fr.ts, &r)
		res[fr.num] = r
	}
	return res, conns
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
