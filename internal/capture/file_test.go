package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// gotFrame is a Frame with its data copied, for comparisons.
type gotFrame struct {
	TS      int64
	CapLen  uint32
	OrigLen uint32
	Link    decode.LinkType
	Iface   uint32
	Index   uint64
	File    int
	Data    []byte
}

func snapshot(f *Frame) gotFrame {
	return gotFrame{f.TS, f.CapLen, f.OrigLen, f.Link, f.Iface, f.Index, f.File, append([]byte(nil), f.Data...)}
}

// readAll reads every frame of the source and the final error (nil on a
// clean io.EOF).
func readAll(t testing.TB, paths []string, opt Options) ([]gotFrame, *FileSource, error) {
	t.Helper()
	s, err := OpenFiles(paths, opt)
	if err != nil {
		return nil, nil, err
	}
	var out []gotFrame
	var f Frame
	for {
		err := s.Next(&f)
		if err == io.EOF {
			return out, s, nil
		}
		if err != nil {
			// The error is final.
			if err2 := s.Next(&f); err2 != err {
				t.Errorf("second Next after error returned %v, want the same %v", err2, err)
			}
			return out, s, err
		}
		if int(f.CapLen) != len(f.Data) {
			t.Fatalf("frame %d: CapLen %d but len(Data) %d", f.Index, f.CapLen, len(f.Data))
		}
		out = append(out, snapshot(&f))
	}
}

// readPcapgo reads a (possibly gzip-compressed) file with gopacket/pcapgo,
// the reference implementation, and returns the frames and error.
func readPcapgo(t testing.TB, path string) ([]gotFrame, error) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatal(err)
		}
	}
	type reader interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var r reader
	var links func(ci gopacket.CaptureInfo) decode.LinkType
	if len(raw) >= 4 && binary.LittleEndian.Uint32(raw) == ngSHB {
		nr, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, err
		}
		r = nr
		links = func(ci gopacket.CaptureInfo) decode.LinkType {
			return decode.LinkType(ci.AncillaryData[0].(layers.LinkType))
		}
	} else {
		pr, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		pr.SetSnaplen(1 << 30)
		r = pr
		lt := decode.LinkType(pr.LinkType())
		links = func(gopacket.CaptureInfo) decode.LinkType { return lt }
	}
	var out []gotFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, gotFrame{
			TS: ci.Timestamp.UnixNano(), CapLen: uint32(ci.CaptureLength), OrigLen: uint32(ci.Length),
			Link: links(ci), Iface: uint32(ci.InterfaceIndex), Index: uint64(len(out) + 1),
			Data: append([]byte(nil), data...),
		})
	}
}

// diffFrames compares frame lists; cmp.Diff is too slow on megabytes of
// packet data, so it is only used on the first differing frame.
func diffFrames(t *testing.T, what string, got, want []gotFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d frames, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.TS != w.TS || g.CapLen != w.CapLen || g.OrigLen != w.OrigLen || g.Link != w.Link ||
			g.Iface != w.Iface || g.Index != w.Index || g.File != w.File || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: frame %d (-got +want):\n%s", what, i+1, cmp.Diff(g, w))
			return
		}
	}
}

func compareWithPcapgo(t *testing.T, path string, wantErr bool) {
	t.Helper()
	got, _, err := readAll(t, []string{path}, Options{})
	want, werr := readPcapgo(t, path)
	if (err != nil) != wantErr {
		t.Errorf("%s: error %v, want error: %v", path, err, wantErr)
	}
	if wantErr && werr == nil {
		t.Errorf("%s: pcapgo read without error but we expected one", path)
	}
	if len(want) == 0 && !wantErr {
		t.Fatalf("%s: reference read no frames", path)
	}
	diffFrames(t, path+": frames differ from pcapgo", got, want)
}

func TestGeneratedAgainstPcapgo(t *testing.T) {
	cis, datas := synthPackets(3000, 1600, 7)
	files := map[string][]byte{
		"us.pcap":        genPcap(t, false, cis, datas, 1600),
		"ns.pcap":        genPcap(t, true, cis, datas, 1600),
		"two-if.pcapng":  genNg(t, cis, datas),
		"us.pcap.gz":     gz(t, genPcap(t, false, cis, datas, 1600)),
		"two-if.ng.gz":   gz(t, genNg(t, cis, datas)),
		"bigsnap.pcapng": genNg(t, cis[:200], datas[:200]),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			compareWithPcapgo(t, writeFile(t, name, data), false)
		})
	}
}

// testdataCaptures lists the capture files under testdata (recursively);
// broken ones (named *trunc* / *bad* / *not*) separately.
func testdataCaptures(t *testing.T) (good, broken []string) {
	t.Helper()
	filepath.WalkDir("../../testdata", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		base := filepath.Base(p)
		isCap := false
		for _, ext := range []string{".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz", ".cap"} {
			if strings.HasSuffix(base, ext) {
				isCap = true
			}
		}
		switch {
		case strings.Contains(base, "trunc") || strings.Contains(base, "bad") || strings.Contains(base, "notcap") || strings.Contains(base, "not-a"):
			if !strings.HasSuffix(base, ".md") && !strings.HasSuffix(base, ".json") {
				broken = append(broken, p)
			}
		case isCap:
			good = append(good, p)
		}
		return nil
	})
	return good, broken
}

// TestRealCaptures compares the reader with pcapgo on the lab captures in
// testdata, frame by frame.
func TestRealCaptures(t *testing.T) {
	good, _ := testdataCaptures(t)
	if len(good) == 0 {
		t.Skip("no captures in testdata yet")
	}
	for _, p := range good {
		t.Run(strings.TrimPrefix(p, "../../testdata/"), func(t *testing.T) { compareWithPcapgo(t, p, false) })
	}
}

// TestRealBrokenFiles reads the broken files of testdata/broken (made from
// real captures by testdata/gen/broken.sh): each gives the frames before
// the fault and then a final *Error naming the file, the fault and its
// byte offset; none panics or hangs.
func TestRealBrokenFiles(t *testing.T) {
	want := map[string]struct {
		frames int
		kind   error
		msg    string
	}{
		"trunc-record.pcap":   {2, ErrTruncated, "truncated record at byte 204 (frame 3): file ends mid-packet (36 of 82 bytes present)"},
		"trunc-header.pcap":   {2, ErrTruncated, "truncated record header at byte 204 (frame 3): file ends mid-packet (6 of 16 bytes present)"},
		"trunc-block.pcapng":  {1, ErrTruncated, "truncated record at byte 372 (frame 2): file ends mid-packet (128 of 248 bytes present)"},
		"bad-magic.pcap":      {0, ErrNotCapture, "not a pcap or pcapng file (magic 0x4a554e4b)"},
		"bad-caplen.pcap":     {1, ErrMalformed, "bad record at byte 114 (frame 2): captured length 4294967280 exceeds limit 262144"},
		"bad-blocklen.pcapng": {1, ErrMalformed, "bad block at byte 372 (after frame 1): block type 0x00000006: length 13 is not a multiple of 4 of at least 12"},
		"bad-trailer.pcapng":  {0, ErrMalformed, "bad block at byte 124: block type 0x00000006: trailing length 504 differs from leading length 248"},
		"notcap-empty.pcap":   {0, ErrNotCapture, "not a pcap or pcapng file (file has only 0 bytes)"},
	}
	_, broken := testdataCaptures(t)
	seen := map[string]bool{}
	for _, p := range broken {
		name := filepath.Base(p)
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: broken file without an expectation here", p)
			continue
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			var got []gotFrame
			var err error
			go func() {
				defer close(done)
				got, _, err = readAll(t, []string{p}, Options{})
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("reading did not end")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *capture.Error", err, err)
			}
			if !errors.Is(err, w.kind) {
				t.Errorf("error %v is not %v", err, w.kind)
			}
			if msg := "capture: " + p + ": " + w.msg; err.Error() != msg {
				t.Errorf("error\n %q, want\n %q", err, msg)
			}
			if len(got) != w.frames {
				t.Errorf("%d frames before the error, want %d", len(got), w.frames)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("testdata/broken/%s is missing (testdata/gen/broken.sh makes it)", name)
		}
	}
}

func TestHandMadePcapng(t *testing.T) {
	data1 := []byte{1, 2, 3, 4, 5}
	data2 := bytes.Repeat([]byte{0xab}, 64)
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		b := &ngBuilder{bo: bo}
		b.shb()
		b.block(0x00000004, []byte{0, 0, 0, 0})                                               // NRB (empty)
		b.idb(1, 65535, ngOpt{optIfName, []byte("eth0")}, ngOpt{optIfDesc, []byte("mirror")}) // µs default
		b.idb(101, 32, ngOpt{optIfTSResol, []byte{0x80 | 20}}, ngOpt{optIfTSOffset, bo.AppendUint64(nil, 100)})
		b.idb(276, 0, ngOpt{optIfTSResol, []byte{3}})
		b.epb(0, 1700000000_123456, 5, data1)
		b.block(0x00000005, make([]byte, 16))          // ISB
		b.epb(1, (1700000000<<20)|(1<<19), 100, data2) // 2^-20 units: .5 s, plus offset 100 s
		b.block(0x0000000A, make([]byte, 8))           // DSB
		b.block(0x40000BAD, []byte("custom"))          // custom/unknown
		b.epb(2, 1700000000_999, 64, data2)            // ms
		b.spb(200, data2)                              // SPB: interface 0 snaplen 65535, block holds 64
		b.pb(1, 3<<19, 64, data2)                      // obsolete PB on iface 1
		// Second section in the other byte order resets the interfaces.
		b2 := &ngBuilder{bo: binary.BigEndian}
		if bo == binary.BigEndian {
			b2.bo = binary.LittleEndian
		}
		b2.shb()
		b2.idb(228, 1500, ngOpt{optIfTSResol, []byte{9}})
		b2.epb(0, 1700000001_000000007, 5, data1)
		all := append(b.Bytes(), b2.Bytes()...)

		got, s, err := readAll(t, []string{writeFile(t, "h.pcapng", all)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []gotFrame{
			{TS: 1700000000_123456_000, CapLen: 5, OrigLen: 5, Link: 1, Iface: 0, Index: 1, Data: data1},
			{TS: 1700000100_500000000, CapLen: 64, OrigLen: 100, Link: 101, Iface: 1, Index: 2, Data: data2},
			{TS: 1700000000_999_000000, CapLen: 64, OrigLen: 64, Link: 276, Iface: 2, Index: 3, Data: data2},
			{TS: 0, CapLen: 64, OrigLen: 200, Link: 1, Iface: 0, Index: 4, Data: data2},
			{TS: 100_000000000 + 1_500000000, CapLen: 64, OrigLen: 64, Link: 101, Iface: 1, Index: 5, Data: data2},
			{TS: 1700000001_000000007, CapLen: 5, OrigLen: 5, Link: 228, Iface: 3, Index: 6, Data: data1},
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%v: frames (-got +want):\n%s", bo, diff)
		}
		wantIf := []Interface{
			{Link: 1, SnapLen: 65535, Name: "eth0", Description: "mirror", TSResol: 6},
			{Link: 101, SnapLen: 32, TSResol: 0x80 | 20, TSOffset: 100, ID: 1},
			{Link: 276, TSResol: 3, ID: 2},
			{Link: 228, SnapLen: 1500, TSResol: 9, Section: 1},
		}
		if diff := cmp.Diff(s.Interfaces(), wantIf); diff != "" {
			t.Errorf("%v: interfaces (-got +want):\n%s", bo, diff)
		}
	}
}

func TestSPBSnaplen(t *testing.T) {
	b := &ngBuilder{bo: binary.LittleEndian}
	b.shb().idb(1, 10).spb(64, bytes.Repeat([]byte{7}, 64))
	got, _, err := readAll(t, []string{writeFile(t, "s.pcapng", b.Bytes())}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []gotFrame{{CapLen: 10, OrigLen: 64, Link: 1, Index: 1, Data: bytes.Repeat([]byte{7}, 10)}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestHandMadePcap(t *testing.T) {
	d := []byte{9, 8, 7}
	tests := []struct {
		name  string
		bo    byteOrder
		magic uint32
		ts    int64
	}{
		{"le-us", binary.LittleEndian, 0xa1b2c3d4, 1700000000_000042_000},
		{"be-us", binary.BigEndian, 0xa1b2c3d4, 1700000000_000042_000},
		{"le-ns", binary.LittleEndian, 0xa1b23c4d, 1700000000_000000042},
		{"be-ns", binary.BigEndian, 0xa1b23c4d, 1700000000_000000042},
		{"le-modified", binary.LittleEndian, 0xa1b2cd34, 1700000000_000042_000},
		{"be-modified", binary.BigEndian, 0xa1b2cd34, 1700000000_000042_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := pcapBytes(tt.bo, tt.magic, 0x10000000|113, // FCS bits above the link type are ignored
				pcapRec{sec: 1700000000, frac: 42, orig: 60, data: d},
				pcapRec{sec: 1699999999, frac: 42, orig: 3, data: d}) // backwards: passed through
			got, s, err := readAll(t, []string{writeFile(t, "x.pcap", raw)}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := []gotFrame{
				{TS: tt.ts, CapLen: 3, OrigLen: 60, Link: 113, Index: 1, Data: d},
				{TS: tt.ts - 1e9, CapLen: 3, OrigLen: 3, Link: 113, Index: 2, Data: d},
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
			if ifs := s.Interfaces(); len(ifs) != 1 || ifs[0].Link != 113 || ifs[0].SnapLen != 65535 {
				t.Errorf("interfaces %+v", ifs)
			}
		})
	}
}

func TestMultipleFiles(t *testing.T) {
	cis, datas := synthPackets(50, 200, 3)
	p1 := writeFile(t, "a.pcap", genPcap(t, false, cis[:20], datas[:20], 200))
	p2 := writeFile(t, "b.pcapng.gz", gz(t, genNg(t, cis[20:], datas[20:])))
	p3 := writeFile(t, "c.pcap", genPcap(t, true, cis[:0], datas[:0], 200)) // header only
	p4 := writeFile(t, "d.pcap", genPcap(t, true, cis[:5], datas[:5], 200))
	got, s, err := readAll(t, []string{p1, p2, p3, p4}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 55 {
		t.Fatalf("got %d frames, want 55", len(got))
	}
	for i, f := range got {
		if f.Index != uint64(i+1) {
			t.Fatalf("frame %d has Index %d", i, f.Index)
		}
		var wantFile int
		var wantIface uint32
		switch {
		case i < 20:
			wantFile, wantIface = 0, 0
		case i < 50:
			wantFile, wantIface = 1, 1+uint32((i-20)%2)
		default:
			wantFile, wantIface = 3, 4
		}
		if f.File != wantFile || f.Iface != wantIface {
			t.Errorf("frame %d: file %d iface %d, want %d %d", i+1, f.File, f.Iface, wantFile, wantIface)
		}
		src := i
		if i >= 50 {
			src = i - 50
		}
		if !bytes.Equal(f.Data, datas[src]) || f.TS != cis[src].Timestamp.UnixNano() {
			t.Errorf("frame %d: data or timestamp differ", i+1)
		}
	}
	ifs := s.Interfaces()
	if len(ifs) != 5 || ifs[1].Name != "eth0" || ifs[2].Name != "tun0" || ifs[2].File != 1 || ifs[4].File != 3 || ifs[4].TSResol != 9 {
		t.Errorf("interfaces: %+v", ifs)
	}
	var total int64
	for _, p := range []string{p1, p2, p3, p4} {
		st, _ := os.Stat(p)
		total += st.Size()
	}
	if s.TotalBytes() != total || s.BytesRead() != total {
		t.Errorf("TotalBytes %d BytesRead %d, want both %d", s.TotalBytes(), s.BytesRead(), total)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

// stdinFrom makes os.Stdin a pipe that yields raw, until the test ends.
func stdinFrom(t *testing.T, raw []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(raw); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
}

func TestStdin(t *testing.T) {
	cis, datas := synthPackets(30, 300, 5)
	raw := gz(t, genPcap(t, false, cis, datas, 300))
	stdinFrom(t, raw)
	got, s, err := readAll(t, []string{"-"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 || s.TotalBytes() != 0 || s.BytesRead() != int64(len(raw)) {
		t.Errorf("frames %d total %d read %d (len %d)", len(got), s.TotalBytes(), s.BytesRead(), len(raw))
	}
	if _, err := OpenFiles([]string{"-", "-"}, Options{}); err == nil {
		t.Error("stdin twice accepted")
	}
}

// TestSmallBuffer forces records to straddle buffer refills at every
// possible alignment.
func TestSmallBuffer(t *testing.T) {
	cis, datas := synthPackets(500, 700, 11)
	for _, raw := range [][]byte{genPcap(t, false, cis, datas, 700), genNg(t, cis, datas)} {
		p := writeFile(t, "x", raw)
		want, _, err := readAll(t, []string{p}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(t, []string{p}, Options{MaxRecord: 1000, BufferSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		diffFrames(t, "small buffer", got, want)
	}
}

func TestErrors(t *testing.T) {
	le := binary.LittleEndian
	d := []byte{1, 2, 3, 4}
	okPcap := pcapBytes(le, 0xa1b2c3d4, 1, pcapRec{sec: 1, orig: 4, data: d}, pcapRec{sec: 2, orig: 4, data: d})
	ng := func(f func(b *ngBuilder)) []byte {
		b := &ngBuilder{bo: le}
		b.shb().idb(1, 0)
		f(b)
		return b.Bytes()
	}
	okNg := ng(func(b *ngBuilder) { b.epb(0, 1, 4, d).epb(0, 2, 4, d) })
	setU32 := func(p []byte, off int, v uint32) []byte {
		p = append([]byte(nil), p...)
		le.PutUint32(p[off:], v)
		return p
	}
	// Offsets in okNg: SHB 0..28, IDB 28..48, EPB1 48..84, EPB2 84..120.
	tests := []struct {
		name   string
		data   []byte
		frames int
		kind   error
		msg    string // substring of the message after "capture: <file>: "
	}{
		{"text", []byte("hello, these are my notes\n"), 0, ErrNotCapture, "not a pcap or pcapng file (magic 0x68656c6c)"},
		{"empty", nil, 0, ErrNotCapture, "not a pcap or pcapng file (file has only 0 bytes)"},
		{"tiny", []byte{0xd4, 0xc3}, 0, ErrNotCapture, "file has only 2 bytes"},
		{"gzip-text", gz(t, []byte("plain text")), 0, ErrNotCapture, "magic 0x706c6169"},
		{"bad-gzip", []byte{0x1f, 0x8b, 0, 0, 0, 0}, 0, ErrRead, "bad gzip header at byte 0"},
		{"pcap-short-header", okPcap[:20], 0, ErrTruncated, "truncated file header at byte 0: file ends after 20 bytes"},
		{"pcap-version", setU32(okPcap, 4, 7), 0, ErrMalformed, "unsupported pcap version 7.0"},
		{"pcap-trunc-data", okPcap[:len(okPcap)-1], 1, ErrTruncated, "truncated record at byte 44 (frame 2): file ends mid-packet (19 of 20 bytes present)"},
		{"pcap-trunc-hdr", okPcap[:len(okPcap)-12], 1, ErrTruncated, "truncated record header at byte 44 (frame 2): file ends mid-packet (8 of 16 bytes present)"},
		{"pcap-huge-caplen", setU32(okPcap, 24+8, 0xffffffff), 0, ErrMalformed, "bad record at byte 24 (frame 1): captured length 4294967295 exceeds limit 262144"},
		{"pcap-gz-trunc", gz(t, okPcap)[:40], 2, ErrTruncated, "truncated record header at byte 64 (frame 3): compressed stream is cut short (0 of 16 bytes present)"},
		{"ng-trunc-epb", okNg[:len(okNg)-4], 1, ErrTruncated, "truncated record at byte 84 (frame 2): file ends mid-packet (32 of 36 bytes present)"},
		{"ng-trunc-hdr", okNg[:len(okNg)-30], 1, ErrTruncated, "truncated block header at byte 84 (after frame 1): file ends mid-block (6 of 12 bytes present)"},
		{"ng-trunc-idb", okNg[:40], 0, ErrTruncated, "truncated block at byte 28: file ends mid-block (12 of 20 bytes present)"},
		{"ng-len-not-mult4", setU32(okNg, 84+4, 37), 1, ErrMalformed, "bad block at byte 84 (after frame 1): block type 0x00000006: length 37 is not a multiple of 4"},
		{"ng-len-short", setU32(okNg, 84+4, 8), 1, ErrMalformed, "length 8 is not a multiple of 4 of at least 12"},
		{"ng-len-huge", setU32(okNg, 84+4, 0xfffffff0), 1, ErrMalformed, "length 4294967280 exceeds limit 327680"},
		{"ng-trailer", setU32(okNg, 84+32, 40), 1, ErrMalformed, "trailing length 40 differs from leading length 36"},
		{"ng-caplen-overrun", setU32(okNg, 84+20, 5), 1, ErrMalformed, "bad packet block at byte 84 (frame 2): captured length 5 overruns block length 36"},
		{"ng-caplen-huge", setU32(okNg, 84+20, 1<<20), 1, ErrMalformed, "captured length 1048576 exceeds limit 262144"},
		{"ng-bad-iface", setU32(okNg, 84+8, 3), 1, ErrMalformed, "interface 3 not defined (section has 1 interfaces)"},
		{"ng-bom", setU32(okNg, 8, 0x12345678), 0, ErrMalformed, "bad section header block at byte 0: byte-order magic 0x78563412"},
		{"ng-version", setU32(okNg, 12, 2), 0, ErrMalformed, "unsupported pcapng version 2.0"},
		{"ng-short-epb", ng(func(b *ngBuilder) { b.block(ngEPB, make([]byte, 8)) }), 0, ErrMalformed, "bad packet block at byte 48 (frame 1): length 20 shorter than 32"},
		{"ng-short-spb", ng(func(b *ngBuilder) { b.block(ngSPB, nil) }), 0, ErrMalformed, "length 12 shorter than 16"},
		{"ng-short-idb", ng(func(b *ngBuilder) { b.block(ngIDB, []byte{1, 0, 0, 0}) }), 0, ErrMalformed, "bad interface description block at byte 48: length 16 shorter than 20"},
		{"ng-short-shb", ng(func(b *ngBuilder) { b.block(ngSHB, []byte{0x4D, 0x3C, 0x2B, 0x1A}) }), 0, ErrMalformed, "length 16 shorter than 28"},
		{"ng-tsresol", ng(func(b *ngBuilder) { b.idb(1, 0, ngOpt{optIfTSResol, []byte{40}}) }), 0, ErrMalformed, "timestamp resolution 10^-40 is not supported"},
		{"ng-tsresol2", ng(func(b *ngBuilder) { b.idb(1, 0, ngOpt{optIfTSResol, []byte{0x80 | 64}}) }), 0, ErrMalformed, "timestamp resolution 2^-64 is not supported"},
		{"ng-spb-no-iface", func() []byte { b := &ngBuilder{bo: le}; b.shb().spb(4, d); return b.Bytes() }(), 0, ErrMalformed, "no interface defined in section"},
		{"ng-no-shb", func() []byte {
			p := append([]byte(nil), okNg...)
			le.PutUint32(p[0:], ngIDB) // first block is not an SHB
			return p
		}(), 0, ErrNotCapture, "magic 0x01000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.name+".cap", tt.data)
			got, _, err := readAll(t, []string{p}, Options{})
			if err == nil {
				t.Fatalf("no error, read %d frames", len(got))
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			prefix := "capture: " + p + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q lacks prefix %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.msg)
			}
			if len(got) != tt.frames {
				t.Errorf("read %d frames before the error, want %d", len(got), tt.frames)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := OpenFiles(nil, Options{}); err == nil {
		t.Error("no files accepted")
	}
	if _, err := OpenFiles([]string{filepath.Join(t.TempDir(), "missing.pcap")}, Options{}); err == nil || !strings.Contains(err.Error(), "missing.pcap") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := OpenFiles([]string{t.TempDir()}, Options{}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	// A later bad file: its error comes after the first file's frames.
	d := []byte{1}
	good := writeFile(t, "g.pcap", pcapBytes(binary.LittleEndian, 0xa1b2c3d4, 1, pcapRec{orig: 1, data: d}))
	bad := writeFile(t, "notes.txt", []byte("some text here"))
	got, _, err := readAll(t, []string{good, bad}, Options{})
	if len(got) != 1 || err == nil || !strings.Contains(err.Error(), "notes.txt: not a pcap or pcapng file (magic 0x736f6d65)") {
		t.Errorf("got %d frames, err %v", len(got), err)
	}
}

func TestNextZeroAlloc(t *testing.T) {
	cis, datas := synthPackets(2000, 128, 1)
	for name, raw := range map[string][]byte{
		"pcap":    genPcap(t, false, cis, datas, 128),
		"pcapng":  genNg(t, cis, datas),
		"pcap.gz": gz(t, genPcap(t, true, cis, datas, 128)),
	} {
		p := writeFile(t, name, raw)
		s, err := OpenFiles([]string{p}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var f Frame
		// Warm up past the first refill so gzip's internal state exists.
		for range 100 {
			if err := s.Next(&f); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1500, func() {
			if err := s.Next(&f); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Next allocates %.2f times per frame", name, allocs)
		}
		s.Close()
	}
}

// TestFlatMemory reads a file much larger than the buffer and checks the
// heap does not grow with it.
func TestFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cis, datas := synthPackets(20000, 1500, 2) // ~30 MB
	p := writeFile(t, "big.pcap", genPcap(t, false, cis, datas, 1500))
	s, err := OpenFiles([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var f Frame
	var n int
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for {
		err := s.Next(&f)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	runtime.ReadMemStats(&after)
	// The read-ahead goroutine's first channel hand-offs may make the
	// runtime allocate a few wait records (sudogs) once; what must not
	// happen is allocation that grows with the file: 20,000 frames, 30 MB.
	allocs := after.Mallocs - before.Mallocs
	grown := after.TotalAlloc - before.TotalAlloc
	if n != 20000 || allocs > 32 || grown > 64<<10 {
		t.Errorf("read %d frames with %d allocations (%d bytes)", n, allocs, grown)
	}
}

// TestManySmallFilesReuseChunks: reading many small files (rotated
// captures) reuses the read-ahead chunks instead of allocating three
// 2 MiB chunks per file.
func TestManySmallFilesReuseChunks(t *testing.T) {
	cis, datas := synthPackets(10, 200, 1)
	p := writeFile(t, "small.pcap", genPcap(t, false, cis, datas, 200))
	paths := make([]string, 40)
	for i := range paths {
		paths[i] = p
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, s, err := readAll(t, paths, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(got) != 400 {
		t.Fatalf("read %d frames, want 400", len(got))
	}
	// One set of chunks (~7 MiB) plus small per-file state; 40 sets
	// would be 280 MiB.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 24<<20 {
		t.Errorf("40 small files allocated %d MiB", grown>>20)
	}
}
