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
func testFrames(t testing.TB) []testFrame {
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

// plainVariants returns frame (an Ethernet frame) and, when it is IPv4
// without a tag, the shapes around tcp4Fast's edges made from it: one
// 802.1Q tag, two tags, IP options of 4 and 40 bytes, DF, MF and an
// offset, total length 0, one byte short of the header and past the
// frame, TCP data offsets 4 and 15, a version 6 nibble, and the frame in
// VXLAN (the inner path), also with bytes after the UDP datagram.
func plainVariants(t testing.TB, frame []byte) [][]byte {
	out := [][]byte{frame}
	if len(frame) < 14+20 || frame[12] != 0x08 || frame[13] != 0 {
		return out
	}
	tag := func(tags ...byte) []byte {
		return cat(frame[:12], tags, frame[12:])
	}
	out = append(out, tag(0x81, 0, 0x20, 0x07), tag(0x81, 0, 0, 5, 0x81, 0, 0, 6), tag(0x88, 0xa8, 0, 5))
	ihl := int(frame[14]&0x0f) * 4
	if frame[14]>>4 == 4 && ihl >= 20 && len(frame) >= 14+ihl {
		for _, n := range []int{4, 40} {
			if ihl+n > 60 {
				continue
			}
			opts := make([]byte, n)
			for i := range opts {
				opts[i] = 1 // NOP
			}
			b := cat(frame[:14+ihl], opts, frame[14+ihl:])
			b[14] = 0x40 | byte((ihl+n)/4)
			tot := int(b[16])<<8 | int(b[17])
			b[16], b[17] = byte((tot+n)>>8), byte(tot+n)
			out = append(out, b)
		}
	}
	edit := func(f func(b []byte)) {
		b := append([]byte(nil), frame...)
		f(b)
		out = append(out, b)
	}
	edit(func(b []byte) { b[20] |= 0x40 })          // DF
	edit(func(b []byte) { b[20] |= 0x20 })          // MF
	edit(func(b []byte) { b[21] |= 0x01 })          // offset 8
	edit(func(b []byte) { b[16], b[17] = 0, 0 })    // TSO: total length 0
	edit(func(b []byte) { b[16], b[17] = 0, 19 })   // shorter than the header
	edit(func(b []byte) { b[16], b[17] = 0xff, 0 }) // past the frame
	edit(func(b []byte) { b[14] = 0x65 })           // version 6
	edit(func(b []byte) { b[14] = 0x44 })           // IHL 16 bytes
	if ihl >= 20 && len(frame) >= 14+ihl+13 {
		edit(func(b []byte) { b[14+ihl+12] = 0x40 }) // data offset 16 bytes
		edit(func(b []byte) { b[14+ihl+12] = 0xf0 }) // 60 bytes
	}
	vx := vxlanWrap(t, frame, 0x10203, 40001, 0x08)
	// Bytes after the UDP datagram inside the outer IP packet: the VXLAN
	// payload ends at the UDP length.
	pad := cat(vx, make([]byte, 10))
	tot := int(pad[16])<<8 | int(pad[17]) + 10
	pad[16], pad[17] = byte(tot>>8), byte(tot)
	return append(out, vx, pad)
}

// TestPlainFastPathEqualsGeneral: every Ethernet frame of the agreement
// inputs (the first 300 frames of every testdata capture, the fuzz seeds)
// and the variants plainVariants makes of it, whole and cut short, with
// their wire length and shorter and longer ones, decode to the same Packet
// and error with the fast paths as by the general path; and whenever
// tcp4Fast or vxlanTCP4Fast takes a frame by itself, it gives the general
// path's Packet with no error. It fails if tcp4Fast took none of them, or
// none tagged, with options or inside VXLAN, or vxlanTCP4Fast none.
func TestPlainFastPathEqualsGeneral(t *testing.T) {
	d := New(DefaultConfig())
	slow := New(DefaultConfig())
	slow.slowOnly = true
	var hits, tagged, options, inner, vxHits int
	for i, x := range testFrames(t) {
		if x.link != LinkEthernet {
			continue
		}
		for j, v := range plainVariants(t, x.data) {
			for _, cut := range []int{len(v), 128, 66, 54, 53, 40} {
				if cut > len(v) {
					continue
				}
				for _, orig := range []uint32{uint32(len(v)), uint32(cut), uint32(len(v)) + 100, uint32(cut) - 1} {
					data := v[:cut]
					var fast, gen Packet
					ferr := d.Decode(data, LinkEthernet, orig, &fast)
					gerr := slow.Decode(data, LinkEthernet, orig, &gen)
					if ferr != gerr || fast != gen {
						t.Fatalf("frame %d variant %d cut %d orig %d: fast %v %+v\ngeneral %v %+v", i, j, cut, orig, ferr, fast, gerr, gen)
					}
					var q Packet
					if tcp4Fast(data, int(max(orig, uint32(len(data)))), true, &q) {
						if gerr != nil || q != gen {
							t.Fatalf("frame %d variant %d cut %d orig %d: tcp4Fast took it as %+v\ngeneral %v %+v", i, j, cut, orig, q, gerr, gen)
						}
						hits++
						if q.NVLAN == 1 {
							tagged++
						}
						if q.IPOptions {
							options++
						}
					}
					if fast.Encap == EncapVXLAN && fast.HasTCP() && gerr == nil {
						var q Packet
						if tcp4Fast(data[14+28+8:], 0, false, &q) {
							inner++
						}
					}
					if vxlanTCP4Shape(data) {
						var q Packet
						if d.mirrorTCP4Fast(data, max(orig, uint32(len(data))), &q) {
							if gerr != nil || q != gen {
								t.Fatalf("frame %d variant %d cut %d orig %d: vxlanTCP4Fast took it as %+v\ngeneral %v %+v", i, j, cut, orig, q, gerr, gen)
							}
							vxHits++
						}
					}
				}
			}
		}
	}
	t.Logf("tcp4Fast took %d frames (%d tagged, %d with IP options); %d VXLAN inner frames, %d mirror packets by mirrorTCP4Fast", hits, tagged, options, inner, vxHits)
	if hits == 0 || tagged == 0 || options == 0 || inner == 0 || vxHits == 0 {
		t.Fatalf("fast paths not exercised: tcp4Fast %d frames, %d tagged, %d with options, %d inner; mirrorTCP4Fast %d", hits, tagged, options, inner, vxHits)
	}
}

// vxlanTCP4Shape is what Decode checks before it calls vxlanTCP4Fast.
func vxlanTCP4Shape(data []byte) bool {
	return len(data) >= 34 && data[12] == 0x08 && data[13] == 0 && data[14+9] == protoUDP
}

// FuzzPlainFastPath: for any frame and wire length, the fast paths give
// the general path's Packet and error, for the frame itself and for the
// frame as the inner frame of a VXLAN mirror packet; and a frame tcp4Fast
// or vxlanTCP4Fast takes by itself decodes without error to what they
// gave. Seeds: the first 50 frames of every
// testdata capture that are Ethernet, and the decoder's fuzz seeds.
func FuzzPlainFastPath(f *testing.F) {
	for _, path := range append(captures(f, "*.pcap"), captures(f, "*.pcapng")...) {
		link, frames := readCapture(f, path)
		if link != LinkEthernet {
			continue
		}
		for _, fr := range frames[:min(len(frames), 50)] {
			f.Add(fr.data, fr.origLen)
		}
	}
	for _, s := range fuzzSeeds(f) {
		if s.link == LinkEthernet {
			f.Add(s.data, uint32(len(s.data)))
		}
	}
	d := New(DefaultConfig())
	slow := New(DefaultConfig())
	slow.slowOnly = true
	// The outer headers of a VXLAN mirror packet (IPv4 and UDP lengths
	// are set per input below).
	outer := vxlanWrap(f, nil, 0x10203, 40001, 0x08)
	f.Fuzz(func(t *testing.T, data []byte, origLen uint32) {
		var fast, gen Packet
		ferr := d.Decode(data, LinkEthernet, origLen, &fast)
		gerr := slow.Decode(data, LinkEthernet, origLen, &gen)
		if ferr != gerr || fast != gen {
			t.Fatalf("fast %v %+v\ngeneral %v %+v", ferr, fast, gerr, gen)
		}
		var q Packet
		if tcp4Fast(data, int(max(origLen, uint32(len(data)))), true, &q) && (gerr != nil || q != gen) {
			t.Fatalf("tcp4Fast took it as %+v\ngeneral %v %+v", q, gerr, gen)
		}
		if vxlanTCP4Shape(data) && d.mirrorTCP4Fast(data, max(origLen, uint32(len(data))), &q) && (gerr != nil || q != gen) {
			t.Fatalf("vxlanTCP4Fast took it as %+v\ngeneral %v %+v", q, gerr, gen)
		}
		if len(data) > 0xffff-50 {
			return
		}
		m := cat(outer, data)
		ipLen, udpLen := len(m)-14, len(m)-14-20
		m[16], m[17] = byte(ipLen>>8), byte(ipLen)
		m[14+24], m[14+25] = byte(udpLen>>8), byte(udpLen)
		ferr = d.Decode(m, LinkEthernet, uint32(len(m)), &fast)
		gerr = slow.Decode(m, LinkEthernet, uint32(len(m)), &gen)
		if ferr != gerr || fast != gen {
			t.Fatalf("in VXLAN: fast %v %+v\ngeneral %v %+v", ferr, fast, gerr, gen)
		}
		if d.mirrorTCP4Fast(m, uint32(len(m)), &q) && (gerr != nil || q != gen) {
			t.Fatalf("in VXLAN: vxlanTCP4Fast took it as %+v\ngeneral %v %+v", q, gerr, gen)
		}
	})
}

// awsOpts are the option bytes a Gateway Load Balancer sends: endpoint id,
// attachment id and flow cookie (class 0x0108, types 1-3), 32 bytes.
var awsOpts = []byte{
	0x01, 0x08, 1, 2, 0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
	0x01, 0x08, 2, 2, 0, 0, 0, 0, 0, 0, 0x11, 0x22,
	0x01, 0x08, 3, 1, 0xca, 0xfe, 0xba, 0xbe,
}

// geneveOuter is the Ethernet, IPv4 and UDP (to 6081) header of a GENEVE
// packet from a GWLB; geneveMirror sets its lengths.
var geneveOuter = []byte{
	2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
	0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 0, 9, 9, 10, 0, 3, 3,
	0xd9, 0x03, 0x17, 0xc1, 0, 0, 0, 0,
}

// geneveMirror is g (a GENEVE header and what follows it) as the UDP
// payload of geneveOuter, with the IPv4 and UDP lengths counting extra
// bytes more than g: a capture that cut them.
func geneveMirror(g []byte, extra int) []byte {
	m := cat(geneveOuter, g)
	ipLen, udpLen := len(m)-14+extra, len(m)-34+extra
	m[16], m[17] = byte(ipLen>>8), byte(ipLen)
	m[38], m[39] = byte(udpLen>>8), byte(udpLen)
	return m
}

// genevePayload is frame inside a VXLAN mirror packet (VNI 0x4242, from
// eni4 to tgt4) inside GENEVE with opts, protocol 0x0800: the UDP payload
// a GWLB target receives on 6081.
func genevePayload(t testing.TB, frame, opts []byte) []byte {
	g := []byte{byte(len(opts) / 4), 0, 0x08, 0x00, 0, 0, 0, 0}
	return cat(g, opts, vxlanIP(t, frame, 0x4242, 50000, 0x08))
}

// geneveVariants returns frame inside a GWLB's GENEVE+VXLAN mirror packet
// and the shapes around geneveVXLAN's edges made from it: other option
// lists (none, one, reordered, an unknown option, a critical bit, an AWS
// type with another length, an option or option length running past the
// packet), GENEVE version 1, protocols 0x6558 and 0x86dd, the inner IPv4
// with options, fragmented, not UDP, to another port, with total and UDP
// lengths too small, too large and with bytes after them, VXLAN without
// the I flag or with every flag, the whole packet with the outer lengths
// counting bytes the capture cut, and its UDP payload sent to other ports.
func geneveVariants(t testing.TB, frame []byte) [][]byte {
	base := genevePayload(t, frame, awsOpts)
	out := [][]byte{geneveMirror(base, 0), geneveMirror(base, 100)}
	opts := func(o []byte) { out = append(out, geneveMirror(genevePayload(t, frame, o), 0)) }
	opts(nil)
	opts(awsOpts[:12])
	opts(cat(awsOpts[12:24], awsOpts[:12], awsOpts[24:]))
	opts(cat(awsOpts, []byte{0x01, 0x08, 4, 0}))
	opts(cat(awsOpts[:24], []byte{0x01, 0x08, 3, 2, 1, 2, 3, 4, 5, 6, 7, 8}))
	opts(cat(awsOpts[:24], []byte{0x01, 0x08, 0x83, 1, 1, 2, 3, 4}))
	opts(cat(awsOpts[:28], []byte{0x01, 0x08, 3, 0}))
	opts(cat(awsOpts[:24], []byte{0x01, 0x08, 3, 0x1f, 1, 2, 3, 4}))
	edit := func(f func(g []byte)) {
		g := append([]byte(nil), base...)
		f(g)
		out = append(out, geneveMirror(g, 0))
	}
	const ip = 40                                            // the inner IPv4 header in base
	edit(func(g []byte) { g[0] |= 0x40 })                    // version 1
	edit(func(g []byte) { g[0] = 0x3f })                     // options past the packet
	edit(func(g []byte) { g[0] = 0x07 })                     // 28 bytes of options
	edit(func(g []byte) { g[0] = 0x09 })                     // 36 bytes of options
	edit(func(g []byte) { g[1] = 0xc0 })                     // O and C flags
	edit(func(g []byte) { g[2], g[3] = 0x65, 0x58 })         // Ethernet
	edit(func(g []byte) { g[2], g[3] = 0x86, 0xdd })         // IPv6
	edit(func(g []byte) { g[11] = 0x1f })                    // endpoint id option past the list
	edit(func(g []byte) { g[ip] = 0x46 })                    // IHL 24
	edit(func(g []byte) { g[ip] = 0x55 })                    // version 5
	edit(func(g []byte) { g[ip+6] |= 0x20 })                 // MF
	edit(func(g []byte) { g[ip+7] = 1 })                     // offset 8
	edit(func(g []byte) { g[ip+6] |= 0x40 })                 // DF
	edit(func(g []byte) { g[ip+9] = protoTCP })              // not UDP
	edit(func(g []byte) { g[ip+22], g[ip+23] = 0x12, 0xb6 }) // UDP to 4790
	edit(func(g []byte) { g[ip+2], g[ip+3] = 0, 27 })        // total length below IPv4+UDP
	edit(func(g []byte) { g[ip+2], g[ip+3] = 0, 0 })         // total length 0
	edit(func(g []byte) { g[ip+2], g[ip+3] = 0xff, 0xff })
	edit(func(g []byte) { g[ip+24], g[ip+25] = 0, 7 })  // UDP length below its header
	edit(func(g []byte) { g[ip+24], g[ip+25] = 0, 8 })  // empty UDP payload
	edit(func(g []byte) { g[ip+24], g[ip+25] = 0, 15 }) // VXLAN header cut
	edit(func(g []byte) { g[ip+24], g[ip+25] = 0xff, 0xff })
	edit(func(g []byte) { g[ip+28] = 0 })    // VXLAN without the I flag
	edit(func(g []byte) { g[ip+28] = 0xff }) // every flag
	// Bytes after the inner UDP datagram, counted by the inner total
	// length or only by the GENEVE packet.
	pad := cat(base, make([]byte, 10))
	out = append(out, geneveMirror(pad, 0))
	tot := int(pad[ip+2])<<8 | int(pad[ip+3]) + 10
	pad = append([]byte(nil), pad...)
	pad[ip+2], pad[ip+3] = byte(tot>>8), byte(tot)
	out = append(out, geneveMirror(pad, 0))
	// Bytes after the GENEVE datagram in the outer IP packet.
	m := geneveMirror(base, 0)
	m = cat(m, make([]byte, 10))
	tot = len(m) - 14
	m[16], m[17] = byte(tot>>8), byte(tot)
	out = append(out, m)
	// The same UDP payload to ports other than GENEVE's: 6082 (not a
	// tunnel) and VXLAN's.
	for _, port := range []uint16{6082, 4789} {
		m := geneveMirror(base, 0)
		m[36], m[37] = byte(port>>8), byte(port)
		out = append(out, m)
	}
	return out
}

// TestGeneveFastPathEqualsGeneral: every IPv4 Ethernet frame of the
// agreement inputs, in the GENEVE+VXLAN mirror packet of a GWLB and in
// the variants geneveVariants makes of it, whole and cut short (within
// each header), with its wire length and shorter and longer ones,
// decodes to the same Packet and error with the fast paths as by the
// general path; and whenever mirrorTCP4Fast takes one by itself, it
// gives the general path's Packet with no error. The same for the
// listener's DecodeGENEVEPayload on the UDP payload (geneveTCP4Fast). It
// fails if mirrorTCP4Fast took no GENEVE packet, if geneveTCP4Fast took
// no listener payload, or if no variant the general path decodes to a
// GENEVE+VXLAN TCP segment was left to it (fallback never exercised).
func TestGeneveFastPathEqualsGeneral(t *testing.T) {
	d := New(DefaultConfig())
	slow := New(DefaultConfig())
	slow.slowOnly = true
	var frames, taken, refused, listener int
	for i, x := range testFrames(t) {
		if x.link != LinkEthernet || len(x.data) < 34 || x.data[12] != 0x08 || x.data[13] != 0 {
			continue
		}
		frames++
		for j, v := range geneveVariants(t, x.data) {
			// The outer headers end at 42, GENEVE's options at 82, the
			// inner IPv4 and UDP at 110, VXLAN at 118; the frame's IPv4
			// header at 132 and its TCP header at 152.
			for _, cut := range []int{len(v), len(v) - 1, 118 + 54, 118 + 53, 130, 118, 117, 110, 100, 82, 81, 76, 50, 42} {
				if cut > len(v) {
					continue
				}
				for _, orig := range []uint32{uint32(len(v)), uint32(cut), uint32(len(v)) + 100, uint32(cut) - 1} {
					data := v[:cut]
					var fast, gen Packet
					ferr := d.Decode(data, LinkEthernet, orig, &fast)
					gerr := slow.Decode(data, LinkEthernet, orig, &gen)
					if ferr != gerr || fast != gen {
						t.Fatalf("frame %d variant %d cut %d orig %d: fast %v %+v\ngeneral %v %+v", i, j, cut, orig, ferr, fast, gerr, gen)
					}
					var q Packet
					took := vxlanTCP4Shape(data) && d.mirrorTCP4Fast(data, max(orig, uint32(len(data))), &q)
					if took {
						if gerr != nil || q != gen {
							t.Fatalf("frame %d variant %d cut %d orig %d: mirrorTCP4Fast took it as %+v\ngeneral %v %+v", i, j, cut, orig, q, gerr, gen)
						}
						if q.Encap == EncapGENEVEVXLAN {
							taken++
						}
					} else if gerr == nil && gen.Encap == EncapGENEVEVXLAN && gen.HasTCP() {
						refused++
					}
				}
				// The listener's entry: the UDP payload as received.
				if cut > 42 {
					var fast, gen Packet
					ferr := d.DecodeGENEVEPayload(v[42:cut], gwlb, app4, 6081, &fast)
					gerr := slow.DecodeGENEVEPayload(v[42:cut], gwlb, app4, 6081, &gen)
					if ferr != gerr || fast != gen {
						t.Fatalf("frame %d variant %d cut %d, listener: fast %v %+v\ngeneral %v %+v", i, j, cut, ferr, fast, gerr, gen)
					}
					var q Packet
					if d.geneveTCP4Fast(v[42:cut], &q) {
						if gerr != nil || q != gen {
							t.Fatalf("frame %d variant %d cut %d, listener: geneveTCP4Fast took it as %+v\ngeneral %v %+v", i, j, cut, q, gerr, gen)
						}
						listener++
					}
				}
			}
		}
	}
	t.Logf("%d frames; mirrorTCP4Fast took %d GENEVE+VXLAN packets and left %d GENEVE+VXLAN TCP segments to the general path; geneveTCP4Fast took %d listener payloads", frames, taken, refused, listener)
	if taken == 0 || refused == 0 || listener == 0 {
		t.Fatalf("GENEVE fast path not exercised: %d taken, %d left to the general path, %d listener payloads", taken, refused, listener)
	}
}

// FuzzGeneveFastPath: for any UDP payload on the GENEVE port, in an
// Ethernet/IPv4/UDP packet whose lengths count extra bytes the capture
// cut, the fast paths give the general path's Packet and error, and a
// packet mirrorTCP4Fast takes by itself decodes without error to what it
// gave; the listener's DecodeGENEVEPayload agrees with its general path
// too. Seeds: the first 20 IPv4 Ethernet frames of every testdata capture
// and the decoder's Ethernet fuzz seeds in a GWLB's GENEVE+VXLAN packet
// (whole, and with 100 bytes cut), the variants geneveVariants makes of
// the first 20 TCP segments among them, and the GENEVE payloads of
// testdata's GENEVE captures.
func FuzzGeneveFastPath(f *testing.F) {
	// Every variant of a few frames only: with them for every frame
	// (48,000 seeds) the 60 s run was spent gathering their coverage.
	variants := 20
	addFrame := func(fr []byte) {
		if len(fr) < 34 || fr[12] != 0x08 || fr[13] != 0 {
			return
		}
		if variants > 0 && len(fr) >= 14+20+20 && fr[14+9] == protoTCP {
			variants--
			for _, v := range geneveVariants(f, fr) {
				if len(v) > 42 && v[36] == 0x17 && v[37] == 0xc1 {
					f.Add(v[42:], uint16(0))
				}
			}
		}
		f.Add(genevePayload(f, fr, awsOpts), uint16(0))
		f.Add(genevePayload(f, fr, awsOpts), uint16(100))
		if len(fr) >= 42 && fr[14+9] == protoUDP && fr[36] == 0x17 && fr[37] == 0xc1 && fr[14] == 0x45 {
			f.Add(fr[42:], uint16(0)) // already GENEVE (testdata/geneve)
		}
	}
	for _, path := range append(captures(f, "*.pcap"), captures(f, "*.pcapng")...) {
		link, frames := readCapture(f, path)
		if link != LinkEthernet {
			continue
		}
		for _, fr := range frames[:min(len(frames), 20)] {
			addFrame(fr.data)
		}
	}
	for _, s := range fuzzSeeds(f) {
		if s.link == LinkEthernet {
			addFrame(s.data)
		}
	}
	d := New(DefaultConfig())
	slow := New(DefaultConfig())
	slow.slowOnly = true
	f.Fuzz(func(t *testing.T, g []byte, extra uint16) {
		if len(g)+28+int(extra) > 0xffff {
			return
		}
		m := geneveMirror(g, int(extra))
		orig := uint32(len(m)) + uint32(extra)
		var fast, gen, q Packet
		ferr := d.Decode(m, LinkEthernet, orig, &fast)
		gerr := slow.Decode(m, LinkEthernet, orig, &gen)
		if ferr != gerr || fast != gen {
			t.Fatalf("fast %v %+v\ngeneral %v %+v", ferr, fast, gerr, gen)
		}
		if d.mirrorTCP4Fast(m, orig, &q) && (gerr != nil || q != gen) {
			t.Fatalf("mirrorTCP4Fast took it as %+v\ngeneral %v %+v", q, gerr, gen)
		}
		ferr = d.DecodeGENEVEPayload(g, gwlb, app4, 6081, &fast)
		gerr = slow.DecodeGENEVEPayload(g, gwlb, app4, 6081, &gen)
		if ferr != gerr || fast != gen {
			t.Fatalf("listener: fast %v %+v\ngeneral %v %+v", ferr, fast, gerr, gen)
		}
	})
}
