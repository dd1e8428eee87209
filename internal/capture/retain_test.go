package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(raw); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	got, s, err := readRetained(t, []string{"-"}, Options{}, MinRetainBuffer)
	if err != nil {
		t.Fatal(err)
	}
	diffFrames(t, "stdin retained", got, want)
	if s.BytesRead() != int64(len(raw)) || s.BufferGen() < 2 {
		t.Errorf("read %d of %d bytes, %d buffers", s.BytesRead(), len(raw), s.BufferGen())
	}
}
