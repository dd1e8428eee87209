package decode

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// grePayloadOf returns the GRE header onwards of a greCases frame (the
// bytes a raw IPPROTO_GRE socket hands over after the outer IP header, or
// a GRE-in-UDP socket as its payload), its outer addresses and UDP source
// port.
func grePayloadOf(t testing.TB, frame []byte) ([]byte, netip.Addr, netip.Addr, uint16) {
	t.Helper()
	var p Packet
	if err := New(Config{NoDecap: true}).Decode(frame, LinkEthernet, uint32(len(frame)), &p); err != nil {
		t.Fatal(err)
	}
	off := int(p.L2Len) + int(p.IPHdrLen)
	var sport uint16
	if p.Proto == 17 {
		off += 8
		sport = p.SrcPort
	}
	return frame[off:], p.Src, p.Dst, sport
}

// TestDecodeGREPayload: the listener's entry point gives, for every GRE
// and ERSPAN case, the packet Decode gives on the whole captured frame,
// without allocating.
func TestDecodeGREPayload(t *testing.T) {
	d := New(DefaultConfig())
	for _, c := range greCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var want, got Packet
			if err := d.Decode(c.frame, LinkEthernet, uint32(len(c.frame)), &want); err != nil {
				t.Fatal(err)
			}
			pay, src, dst, sport := grePayloadOf(t, c.frame)
			if err := d.DecodeGREPayload(pay, src, dst, sport, &got); err != nil {
				t.Fatal(err)
			}
			// CapLen/FrameLen are the inner frame's in both.
			if diff := cmp.Diff(got, want, pktCmp); diff != "" {
				t.Errorf("(-DecodeGREPayload +Decode):\n%s", diff)
			}
			if got.Encap != c.enc {
				t.Errorf("encap %v, want %v", got.Encap, c.enc)
			}
			if a := testing.AllocsPerRun(100, func() { _ = d.DecodeGREPayload(pay, src, dst, sport, &got) }); a != 0 {
				t.Errorf("%v allocs per DecodeGREPayload, want 0", a)
			}
		})
	}
}

// TestDecodeGREPayloadNotFollowed: what a GRE listener receives besides
// mirror traffic is one error kind, with the outer source kept.
func TestDecodeGREPayloadNotFollowed(t *testing.T) {
	d := New(DefaultConfig())
	src, dst := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("192.0.2.1")
	for _, c := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"pptp enhanced gre (version 1)", append(greHdr(0x2001, 0x880b, 0x00040001, 0), 0xff, 0x03), ErrGREProto},
		{"mpls", append(greHdr(0, 0x8847, 0, 0), 0, 0, 0x11, 0x40), ErrGREProto},
		{"source routing", greHdr(0x4000, 0x6558, 0, 0), ErrGREProto},
		{"short", []byte{0x10, 0}, ErrShort},
		{"erspan II cut", append(greHdr(0x1000, 0x88be, 0, 1), 0x10, 0), ErrShort},
		{"erspan III wrong version", append(greHdr(0x1000, 0x22eb, 0, 1), 0x10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), ErrGRE},
	} {
		var p Packet
		err := d.DecodeGREPayload(c.b, src, dst, 0, &p)
		if err != c.err {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
		}
		if err == ErrGREProto && (p.Encap != EncapGRE || p.Session.OuterSrc != src || p.Session.HasVNI) {
			t.Errorf("%s: encap %v outer %v hasVNI %v", c.name, p.Encap, p.Session.OuterSrc, p.Session.HasVNI)
		}
	}
}

// FuzzDecodeGREPayload: any bytes after an outer IP header give a
// packet that keeps the invariants, or a decode Error; never a panic.
func FuzzDecodeGREPayload(f *testing.F) {
	for _, c := range greCases(f) {
		pay, _, _, _ := grePayloadOf(f, c.frame)
		f.Add(pay, uint16(0))
		f.Add(pay[:len(pay)/2], uint16(4754))
	}
	f.Add(greHdr(0x2001, 0x880b, 1, 0), uint16(0))
	d := New(DefaultConfig())
	src, dst := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1")
	f.Fuzz(func(t *testing.T, data []byte, sport uint16) {
		var p, q Packet
		err := d.DecodeGREPayload(data, src, dst, sport, &p)
		if err != nil {
			if _, ok := err.(Error); !ok {
				t.Fatalf("error %T %v is not an Error", err, err)
			}
		}
		checkInvariants(t, data, &p, err)
		if p.Encap != EncapGRE && !p.Encap.IsERSPAN() {
			t.Fatalf("encap %v from a GRE payload", p.Encap)
		}
		if p.Session.OuterSrc != src {
			t.Fatalf("outer source %v", p.Session.OuterSrc)
		}
		q.Proto, q.Session.VNI = 99, 7
		if err2 := d.DecodeGREPayload(data, src, dst, sport, &q); err2 != err || q != p {
			t.Fatalf("second decode differs: %v vs %v", err2, err)
		}
	})
}
