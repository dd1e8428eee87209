package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"unsafe"
)

// readRetained reads paths with Retain and buffers of size bytes, never
// reused, keeping every frame's Data without copying it; at the end it
// snapshots them, so a frame the source overwrote after returning it
// shows. It checks that a frame lies in the buffer current when it was
// returned and that the buffers move on only by BufferGen.
func readRetained(t *testing.T, paths []string, opt Options, size int) ([]gotFrame, *FileSource, error) {
	t.Helper()
	opt.NoReadahead = true
	if opt.BufferSize == 0 {
		opt.BufferSize = size
	}
	s, err := OpenFiles(paths, opt)
	if err != nil {
		return nil, nil, err
	}
	var bufs [][]byte
	if !s.Retain(size, func() []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = 0xa5 // not what a fresh buffer happens to hold
		}
		bufs = append(bufs, b)
		return b
	}) {
		t.Fatalf("Retain(%d) refused", size)
	}
	if len(bufs) != 1 || s.BufferGen() != 1 {
		t.Fatalf("Retain took %d buffers, generation %d", len(bufs), s.BufferGen())
	}
	var frames []Frame
	var f Frame
	for {
		err := s.Next(&f)
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			out := make([]gotFrame, len(frames))
			for i := range frames {
				out[i] = snapshot(&frames[i])
			}
			return out, s, err
		}
		if int(s.BufferGen()) != len(bufs) {
			t.Fatalf("generation %d after %d buffers", s.BufferGen(), len(bufs))
		}
		if len(f.Data) > 0 {
			cur := bufs[len(bufs)-1]
			off := int(uintptr(unsafe.Pointer(&f.Data[0])) - uintptr(unsafe.Pointer(&cur[0])))
			if off < 0 || off+len(f.Data) > len(cur) {
				t.Fatalf("frame %d is not in the current buffer", f.Index)
			}
		}
		frames = append(frames, f)
	}
}

// TestRetainKeepsFrames: with Retain, every frame stays as read until the
// end, whatever the buffer size (records straddle every buffer change),
// for pcap, pcapng, gzip of both and several files in a row, and equals
// what the copying reader gives.
func TestRetainKeepsFrames(t *testing.T) {
	cis, datas := synthPackets(700, 700, 13)
	pc, ng := genPcap(t, false, cis, datas, 700), genNg(t, cis, datas)
	files := []string{writeFile(t, "a.pcap", pc), writeFile(t, "b.pcapng", ng), writeFile(t, "c.pcap.gz", gz(t, pc)), writeFile(t, "d.pcapng.gz", gz(t, ng))}
	sets := [][]string{files[:1], files[1:2], files[2:3], files[3:4], files}
	good, _ := testdataCaptures(t)
	for _, p := range good[:min(len(good), 6)] {
		sets = append(sets, []string{p})
	}
	for _, paths := range sets {
		for _, opt := range []Options{{}, {MaxRecord: 1000, BufferSize: 1}} {
			want, _, err := readAll(t, paths, opt)
			if err != nil {
				t.Fatal(err)
			}
			sizes := []int{MinRetainBuffer, 1 << 20}
			if opt.MaxRecord == 1000 {
				sizes = []int{1000 + blockSlack + 64, 1000 + blockSlack + 200}
			}
			for _, size := range sizes {
				got, s, err := readRetained(t, paths, opt, size)
				if err != nil {
					t.Fatal(err)
				}
				diffFrames(t, "retained", got, want)
				if opt.MaxRecord == 1000 && len(paths) == 1 && s.BufferGen() < 3 {
					t.Errorf("%v: %d buffers: the records did not straddle buffer changes", paths, s.BufferGen())
				}
			}
		}
	}
}

// TestRetainRefused: Retain says no, changing nothing, when the source
// reads ahead (its chunks are its own), the buffers cannot hold the
// largest record or what was read at open; reading then goes on as
// before.
func TestRetainRefused(t *testing.T) {
	cis, datas := synthPackets(5000, 300, 3)
	p := writeFile(t, "x.pcap", genPcap(t, false, cis, datas, 300))
	want, _, err := readAll(t, []string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt  Options
		size int
	}{{Options{}, 1 << 20}, {Options{NoReadahead: true}, MinRetainBuffer - 1}, {Options{NoReadahead: true, BufferSize: 1 << 20}, MinRetainBuffer}} {
		s, err := OpenFiles([]string{p}, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		called := false
		if s.Retain(c.size, func() []byte { called = true; return make([]byte, c.size) }) || called || s.BufferGen() != 0 {
			t.Errorf("%+v, size %d: Retain accepted (get called %v)", c.opt, c.size, called)
		}
		var got []gotFrame
		var f Frame
		for s.Next(&f) == nil {
			got = append(got, snapshot(&f))
		}
		diffFrames(t, "after a refused Retain", got, want)
		s.Close()
	}
}

// TestRetainErrors: a file cut mid-record, one shorter than its header,
// an empty one and one that is no capture give with Retain the same
// frames and the same *Error as without.
func TestRetainErrors(t *testing.T) {
	cis, datas := synthPackets(40, 300, 7)
	pc := genPcap(t, false, cis, datas, 300)
	ng := genNg(t, cis, datas)
	cases := map[string][]byte{
		"cut.pcap":       pc[:len(pc)-37],
		"cuthdr.pcap":    pc[:24+7],
		"shorthdr.pcap":  pc[:20],
		"empty.pcap":     nil,
		"cut.pcapng":     ng[:len(ng)-9],
		"cut.pcap.gz":    gz(t, pc[:len(pc)-37]),
		"gzcut.pcap.gz":  gz(t, pc)[:300],
		"notcap.pcap":    bytes.Repeat([]byte("not a capture "), 10),
		"bigrec.pcap":    append(pc[:24:24], 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f),
		"whole.pcap":     pc,
		"wholeng.pcapng": ng,
	}
	for name, raw := range cases {
		p := writeFile(t, name, raw)
		want, _, werr := readAll(t, []string{p}, Options{NoReadahead: true})
		s, oerr := OpenFiles([]string{p}, Options{NoReadahead: true})
		if oerr != nil {
			// Refused at open (header): nothing for Retain to change.
			if werr == nil || werr.Error() != oerr.Error() {
				t.Errorf("%s: open error %v, copying reader %v", name, oerr, werr)
			}
			continue
		}
		s.Close()
		got, _, gerr := readRetained(t, []string{p}, Options{}, MinRetainBuffer)
		diffFrames(t, name, got, want)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Errorf("%s: error %v with Retain, %v without", name, gerr, werr)
		}
		var ce *Error
		if gerr != nil && !errors.As(gerr, &ce) {
			t.Errorf("%s: %T is not an *Error", name, gerr)
		}
	}
}

// TestRetainStdin: standard input (a pipe) is read with Retain too.
func TestRetainStdin(t *testing.T) {
	cis, datas := synthPackets(3000, 300, 5)
	raw := genPcap(t, false, cis, datas, 300)
	want, _, err := readAll(t, []string{writeFile(t, "x.pcap", raw)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stdinFrom(t, raw)
	got, s, err := readRetained(t, []string{"-"}, Options{}, MinRetainBuffer)
	if err != nil {
		t.Fatal(err)
	}
	diffFrames(t, "stdin retained", got, want)
	if s.BytesRead() != int64(len(raw)) || s.BufferGen() < 2 {
		t.Errorf("read %d of %d bytes, %d buffers", s.BytesRead(), len(raw), s.BufferGen())
	}
}

// TestPcapShortcutEqualsGeneral: Next's shortcut for little-endian pcap
// records gives the frames and the final error nextPcap gives, on files
// of every pcap flavour (little- and big-endian, micro- and nanosecond,
// the modified format), with records over MaxRecord whole in the buffer,
// cut files, small buffers (records straddling refills), several files in
// a row and the testdata captures, read ahead and not.
func TestPcapShortcutEqualsGeneral(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	var recs []pcapRec
	for i := range 300 {
		d := bytes.Repeat([]byte{byte(i)}, 20+i*7%400)
		recs = append(recs, pcapRec{sec: uint32(1700000000 + i), frac: uint32(i * 999), orig: uint32(len(d) + i%3), data: d})
	}
	recs = append(recs, pcapRec{sec: 0xffffffff, frac: 0xffffffff, orig: 0xffffffff, data: []byte{1}}, pcapRec{data: nil})
	var paths []string
	for _, bo := range []byteOrder{le, be} {
		for _, magic := range []uint32{0xa1b2c3d4, 0xa1b23c4d, 0xa1b2cd34} {
			raw := pcapBytes(bo, magic, 1, recs...)
			paths = append(paths, writeFile(t, "f.pcap", raw), writeFile(t, "cut.pcap", raw[:len(raw)-50]), writeFile(t, "f.pcap.gz", gz(t, raw)))
		}
	}
	good, _ := testdataCaptures(t)
	paths = append(paths, good...)
	sets := [][]string{paths[:3], paths[3:6]}
	for _, p := range paths {
		sets = append(sets, []string{p})
	}
	// A closed source returns no more frames.
	s, err := OpenFiles(paths[:1], Options{NoReadahead: true})
	if err != nil {
		t.Fatal(err)
	}
	var f Frame
	for range 5 {
		if err := s.Next(&f); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if err := s.Next(&f); err == nil {
		t.Errorf("Next after Close returned frame %d", f.Index)
	}
	for _, set := range sets {
		for _, opt := range []Options{{}, {NoReadahead: true}, {MaxRecord: 300, BufferSize: 1, NoReadahead: true}, {MaxRecord: 300}} {
			general := opt
			general.noPcapShortcut = true
			want, _, werr := readAll(t, set, general)
			got, _, gerr := readAll(t, set, opt)
			diffFrames(t, "shortcut", got, want)
			if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
				t.Errorf("%v %+v: error %v with the shortcut, %v without", set, opt, gerr, werr)
			}
		}
	}
}
