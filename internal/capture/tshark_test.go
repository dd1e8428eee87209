package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// tsharkFrames runs tshark on path and returns, per frame, a line
// "number epoch_ns len caplen interface_id".
func tsharkFrames(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields",
		"-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.interface_id").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 4 { // tshark drops trailing empty fields (no interface_id in pcap)
			f = append(f, "0")
		}
		if len(f) != 5 {
			t.Fatalf("tshark line %q", l)
		}
		// frame.time_epoch is "sec.nnnnnnnnn".
		sec, frac, _ := strings.Cut(f[1], ".")
		frac = (frac + "000000000")[:9]
		ns := strings.TrimLeft(sec+frac, "0")
		if ns == "" {
			ns = "0"
		}
		iface := f[4]
		if iface == "" {
			iface = "0"
		}
		lines = append(lines, strings.Join([]string{f[0], ns, f[2], f[3], iface}, " "))
	}
	return lines
}

func ourFrames(t *testing.T, path string) []string {
	t.Helper()
	got, s, err := readAll(t, []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ifs := s.Interfaces()
	var lines []string
	for _, f := range got {
		// Wireshark 4.0's frame.interface_id is the section-local ID.
		lines = append(lines, fmt.Sprintf("%d %d %d %d %d", f.Index, f.TS, f.OrigLen, f.CapLen, ifs[f.Iface].ID))
	}
	return lines
}

// TestAgainstTshark checks frame numbers, timestamps, lengths and
// interface IDs against Wireshark on the real captures and on hand-made
// pcapng covering both byte orders, power-of-2 resolutions, offsets, the
// obsolete Packet Block and the modified pcap format.
func TestAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	// tshark takes seconds per file: check every capture that is not a
	// plain pcap (pcapng, gzip, ...) and the first few plain ones.
	all, _ := testdataCaptures(t)
	var good []string
	plain := 0
	for _, p := range all {
		if strings.HasSuffix(p, ".pcap") {
			if plain++; plain > 2 {
				continue
			}
		}
		good = append(good, p)
	}
	d := bytes.Repeat([]byte{0x45}, 60)
	var handmade []string
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		b := &ngBuilder{bo: bo}
		b.shb()
		b.idb(1, 65535, ngOpt{optIfName, []byte("eth0")})
		b.idb(1, 65535, ngOpt{optIfTSResol, []byte{0x80 | 20}}, ngOpt{optIfTSOffset, bo.AppendUint64(nil, 100)})
		b.idb(1, 0, ngOpt{optIfTSResol, []byte{3}})
		b.epb(0, 1700000000_123456, 60, d)
		b.block(0x00000005, make([]byte, 16))
		b.epb(1, (1700000000<<20)|(1<<19)|12345, 100, d)
		b.epb(2, 1700000000_999, 64, d)
		b.pb(1, 3<<19, 64, d)
		b.shb()
		b.idb(1, 1500, ngOpt{optIfTSResol, []byte{9}})
		b.epb(0, 1700000001_000000007, 60, d)
		handmade = append(handmade, writeFile(t, fmt.Sprintf("h%v.pcapng", bo), b.Bytes()))
	}
	handmade = append(handmade, writeFile(t, "mod.pcap", pcapBytes(binary.LittleEndian, 0xa1b2cd34, 1,
		pcapRec{sec: 1700000000, frac: 42, orig: 60, data: d}, pcapRec{sec: 1700000000, frac: 43, orig: 70, data: d})))
	handmade = append(handmade, writeFile(t, "be-ns.pcap", pcapBytes(binary.BigEndian, 0xa1b23c4d, 1,
		pcapRec{sec: 1700000000, frac: 42, orig: 60, data: d}, pcapRec{sec: 1699999999, frac: 999999999, orig: 70, data: d})))
	for _, p := range append(good, handmade...) {
		t.Run(strings.TrimPrefix(p, "../../testdata/"), func(t *testing.T) {
			got, want := ourFrames(t, p), tsharkFrames(t, p)
			if len(got) != len(want) {
				t.Fatalf("%d frames, tshark %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("frame %d: got %q, tshark %q (number epoch_ns len caplen iface)", i+1, got[i], want[i])
				}
			}
		})
	}
}
