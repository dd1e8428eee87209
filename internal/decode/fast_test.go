package decode

import "testing"

// decodeBoth decodes data with the mirror fast path and without it.
func decodeBoth(d *Decoder, data []byte, link LinkType, origLen uint32) (fast, slow Packet, ferr, serr error) {
	slowD := *d
	slowD.slowOnly = true
	ferr = d.Decode(data, link, origLen, &fast)
	serr = slowD.Decode(data, link, origLen, &slow)
	return
}

// TestMirrorFastPathEqualsGeneral: the first 300 frames of every testdata capture
// (plain, VXLAN and GENEVE mirrors, GRE, ...), whole and cut short or
// with a shorter or longer wire length, and every fuzz seed, decodes to
// the same Packet and error by the mirror fast path as by the general
// path.
func TestMirrorFastPathEqualsGeneral(t *testing.T) {
	ins := testFrames(t)
	if len(ins) < 2000 {
		t.Fatalf("only %d frames found in testdata", len(ins))
	}
	var fastHits int
	for _, cfg := range []Config{DefaultConfig(), {VXLANPort: 4789, GENEVEPort: 6081, DecapInner: true}, {VXLANPort: 8472}} {
		d := New(cfg)
		for i, x := range ins {
			// The frame, cut at a few lengths, with its wire length and
			// with wire lengths shorter and longer than its IP length.
			for _, cut := range []int{len(x.data), 60, 45, 42} {
				if cut > len(x.data) {
					continue
				}
				for _, orig := range []uint32{x.origLen, uint32(cut), x.origLen + 100, x.origLen - 10} {
					fast, slow, ferr, serr := decodeBoth(d, x.data[:cut], x.link, orig)
					if ferr != serr {
						t.Fatalf("frame %d cut %d orig %d: fast path error %v, general %v", i, cut, orig, ferr, serr)
					}
					if fast != slow {
						t.Fatalf("frame %d cut %d orig %d: fast path differs:\nfast    %+v\ngeneral %+v", i, cut, orig, fast, slow)
					}
					if x.link == LinkEthernet && fast.Encap != EncapNone {
						fastHits++
					}
				}
			}
		}
	}
	if fastHits == 0 {
		t.Fatal("no mirror frame in the inputs")
	}
}

// FuzzMirrorFastPath: the fast path and the general path agree on any
// Ethernet frame.
func FuzzMirrorFastPath(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if s.link == LinkEthernet {
			f.Add(s.data, uint32(len(s.data)))
		}
	}
	d := New(DefaultConfig())
	f.Fuzz(func(t *testing.T, data []byte, origLen uint32) {
		fast, slow, ferr, serr := decodeBoth(d, data, LinkEthernet, origLen)
		if ferr != serr {
			t.Fatalf("fast path error %v, general %v", ferr, serr)
		}
		if fast != slow {
			t.Fatalf("fast path differs:\nfast    %+v\ngeneral %+v", fast, slow)
		}
	})
}

// TestGeneveOptionsFastPath: the shortcut for a Gateway Load Balancer's
// three options gives what the general option walk gives, also for
// lists that only look alike (other order, flags, critical bit, lengths).
func TestGeneveOptionsFastPath(t *testing.T) {
	aws := []byte{
		0x01, 0x08, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8,
		0x01, 0x08, 2, 2, 9, 10, 11, 12, 13, 14, 15, 16,
		0x01, 0x08, 3, 1, 17, 18, 19, 20,
	}
	variants := [][]byte{aws}
	for _, edit := range []struct{ i int }{{2}, {3}, {14}, {15}, {26}, {27}, {0}, {13}} {
		for _, v := range []byte{0x80, 0x81, 0x22, 0x03, 0x00} {
			b := append([]byte(nil), aws...)
			b[edit.i] = v
			variants = append(variants, b)
		}
	}
	swapped := append(append(append([]byte(nil), aws[12:24]...), aws[:12]...), aws[24:]...)
	variants = append(variants, swapped, aws[:28], append(append([]byte(nil), aws...), 0, 0, 0, 0))
	for i, b := range variants {
		var fast, walk Session
		ferr := genevOptions(b, &fast)
		werr := genevOptionList(b, &walk)
		if ferr != werr || fast != walk {
			t.Errorf("variant %d % x: shortcut %+v (%v), walk %+v (%v)", i, b, fast, ferr, walk, werr)
		}
	}
}

// testFrame is one input of the decoders' agreement tests.
type testFrame struct {
	data    []byte
	origLen uint32
	link    LinkType
}

// testFrames are the first 300 frames of every testdata capture and every
// fuzz seed: handshakes, sessions and every encapsulation appear early in
// a capture; the rest repeats them.
func testFrames(t *testing.T) []testFrame {
	var ins []testFrame
	for _, path := range append(captures(t, "*.pcap"), captures(t, "*.pcapng")...) {
		link, frames := readCapture(t, path)
		for _, f := range frames[:min(len(frames), 300)] {
			ins = append(ins, testFrame{f.data, f.origLen, link})
		}
	}
	for _, s := range fuzzSeeds(t) {
		ins = append(ins, testFrame{s.data, uint32(len(s.data)), s.link})
	}
	return ins
}
