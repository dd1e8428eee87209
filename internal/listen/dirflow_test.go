package listen

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSessionDirections: inner packets to the session's outer source
// address count as in, from it as out, others as neither (but in the
// totals).
func TestSessionDirections(t *testing.T) {
	r := startListener(t, nil)
	with := func(src, dst [4]byte) []byte {
		b := vxlanTCP(40000, 443)
		copy(b[8+14+12:], src[:])
		copy(b[8+14+16:], dst[:])
		return b
	}
	lo, other := [4]byte{127, 0, 0, 1}, [4]byte{198, 18, 0, 9}
	var dgs [][]byte
	for i := 0; i < 3; i++ {
		dgs = append(dgs, with(other, lo)) // in
	}
	for i := 0; i < 2; i++ {
		dgs = append(dgs, with(lo, other)) // out
	}
	dgs = append(dgs, with(other, other)) // neither
	sendUDP(t, r.l.VXLANAddr().String(), dgs...)
	r.waitFor(t, uint64(len(dgs)))
	var got []SessionInfo
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.l.counts()
		if got = r.l.reg.infos(); len(got) == 1 && got[0].Packets == uint64(len(dgs)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 1 {
		t.Fatalf("sessions %+v", got)
	}
	frame := uint64(len(dgs[0]) - 8)
	want := DirCounts{InPackets: 3, InBytes: 3 * frame, OutPackets: 2, OutBytes: 2 * frame}
	if d := cmp.Diff(got[0].DirCounts, want); d != "" {
		t.Errorf("directions (-got +want):\n%s", d)
	}
	if got[0].Packets != 6 {
		t.Errorf("packets %d", got[0].Packets)
	}
}
