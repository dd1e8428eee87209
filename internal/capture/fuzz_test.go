package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the file source: it must never panic
// or hang, every frame must be self-consistent and within the record
// limit, and reading must end in io.EOF or an *Error.
func FuzzReader(f *testing.F) {
	le := binary.LittleEndian
	d := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	okPcap := pcapBytes(le, 0xa1b2c3d4, 1, pcapRec{sec: 1, orig: 8, data: d}, pcapRec{sec: 2, orig: 9, data: d})
	f.Add(okPcap)
	f.Add(pcapBytes(binary.BigEndian, 0xa1b23c4d, 101, pcapRec{sec: 1, orig: 8, data: d}))
	f.Add(pcapBytes(le, 0xa1b2cd34, 113, pcapRec{sec: 1, orig: 8, data: d}))
	f.Add(okPcap[:len(okPcap)-3])
	huge := append([]byte(nil), okPcap...)
	le.PutUint32(huge[32:], 0x7fffffff)
	f.Add(huge)
	b := &ngBuilder{bo: le}
	b.shb().idb(1, 0, ngOpt{optIfTSResol, []byte{0x80 | 10}}).epb(0, 5, 8, d).spb(8, d).pb(0, 6, 8, d).block(5, make([]byte, 8))
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:len(b.Bytes())-5])
	nb := &ngBuilder{bo: binary.BigEndian}
	nb.shb().idb(276, 64).idb(1, 0, ngOpt{optIfTSOffset, make([]byte, 8)}).epb(1, 5, 8, d)
	f.Add(nb.Bytes())
	hb := append([]byte(nil), b.Bytes()...)
	le.PutUint32(hb[28+4:], 0xfffffffc)
	f.Add(hb)
	f.Add(gz(f, okPcap))
	f.Add(gz(f, b.Bytes()))
	f.Add([]byte("not a capture at all"))

	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		const maxRec = 4096
		s, err := OpenFiles([]string{p}, Options{MaxRecord: maxRec})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("open error %v is not *Error", err)
			}
			return
		}
		defer s.Close()
		var fr Frame
		// A frame costs at least 12 input bytes (SPB) but gzip can expand
		// its input ~1000 times; bound the loop to catch hangs.
		limit := uint64(len(data))*1100 + 10
		for {
			err := s.Next(&fr)
			if err == io.EOF {
				return
			}
			if err != nil {
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not *Error", err)
				}
				return
			}
			if int(fr.CapLen) != len(fr.Data) || fr.CapLen > maxRec {
				t.Fatalf("frame %d: CapLen %d, len(Data) %d", fr.Index, fr.CapLen, len(fr.Data))
			}
			if int(fr.Iface) >= len(s.ifaces) {
				t.Fatalf("frame %d: Iface %d of %d", fr.Index, fr.Iface, len(s.ifaces))
			}
			if fr.Index > limit {
				t.Fatalf("more frames (%d) than the input can hold", fr.Index)
			}
			_ = bytes.Count(fr.Data, []byte{0})
		}
	})
}
