package decode

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// fragsOf splits tcp4Frame(n)'s datagram at cuts (bytes, multiples of 8)
// into IPv4 fragment frames with IP ID id.
func fragsOf(t testing.TB, n int, id uint16, cuts ...int) [][]byte {
	full := tcp4Frame(t, n)
	data := full[34:]
	var out [][]byte
	for i, c := range cuts {
		end := len(data)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		f := append(append([]byte{}, full[:34]...), data[c:end]...)
		fo := uint16(c / 8)
		if i+1 < len(cuts) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[14+6:], fo)
		binary.BigEndian.PutUint16(f[14+4:], id)
		binary.BigEndian.PutUint16(f[14+2:], uint16(20+end-c))
		out = append(out, f)
	}
	return out
}

func TestReassembler(t *testing.T) {
	d := New(DefaultConfig())
	var p Packet
	add := func(r *Reassembler, f []byte, ts int64) bool {
		t.Helper()
		if err := d.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
			t.Fatal(err)
		}
		if !p.Fragment {
			t.Fatal("not a fragment")
		}
		return r.Add(&p, ts)
	}

	// Out of order, with a first fragment splitting the TCP header.
	r := NewReassembler(FragConfig{})
	fs := fragsOf(t, 1000, 7, 0, 8, 400, 800)
	for i, j := range []int{3, 1, 0} {
		if add(r, fs[j], int64(i)) {
			t.Fatalf("complete after %d fragments", i+1)
		}
	}
	if !add(r, fs[2], 3) {
		t.Fatal("not complete after all fragments")
	}
	want := wantTCP4(1000)
	if !p.Reassembled || p.Fragment || !p.HasTCP() || p.TCP.Seq != want.TCP.Seq || p.TCP.Flags != want.TCP.Flags || p.TCP.MSS != want.TCP.MSS || p.TCP.TSEcr != want.TCP.TSEcr || p.PayloadLen != 1000 ||
		p.IPLen != want.IPLen || p.SrcPort != want.SrcPort || p.FrameLen != want.FrameLen {
		t.Errorf("reassembled: %+v", p)
	}
	if s := r.Stats(); s.Fragments != 4 || s.Reassembled != 1 || s.GivenUp() != 0 || r.Pending() != 0 {
		t.Errorf("stats %+v pending %d", s, r.Pending())
	}

	// Timeout, eviction and malformed datagrams are given up and counted.
	r = NewReassembler(FragConfig{MaxDatagrams: 2, Timeout: 1000})
	add(r, fragsOf(t, 100, 1, 0, 64)[0], 0)
	add(r, fragsOf(t, 100, 2, 0, 64)[0], 500)
	r.Expire(1200) // id 1 is 1200 old
	add(r, fragsOf(t, 100, 3, 0, 64)[0], 1300)
	add(r, fragsOf(t, 100, 4, 0, 64)[0], 1400) // table full: evicts id 2
	bad := fragsOf(t, 100, 5, 0, 64)
	add(r, bad[1], 1500) // last fragment: the datagram is 140 bytes
	other := append([]byte{}, bad[1]...)
	binary.BigEndian.PutUint16(other[14+6:], 16/8) // another last fragment, ending elsewhere
	binary.BigEndian.PutUint16(other[14+4:], 5)
	add(r, other, 1500)
	if s := r.Stats(); s.TimedOut != 1 || s.Evicted != 2 || s.Invalid != 1 || s.Reassembled != 0 {
		t.Errorf("stats %+v", s)
	}
	if r.Pending() > 2 {
		t.Errorf("pending %d > MaxDatagrams", r.Pending())
	}
}

// Fragments reuse the table's slots: no allocation once it exists.
func TestReassemblerAllocs(t *testing.T) {
	d := New(DefaultConfig())
	r := NewReassembler(FragConfig{})
	fs := fragsOf(t, 1000, 9, 0, 400)
	var p Packet
	n := testing.AllocsPerRun(200, func() {
		for _, f := range fs {
			if err := d.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
				t.Fatal(err)
			}
			r.Add(&p, 0)
		}
	})
	if n != 0 {
		t.Errorf("%.1f allocations per datagram", n)
	}
}

var _ = layers.LinkTypeEthernet
