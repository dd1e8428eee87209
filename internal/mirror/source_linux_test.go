package mirror

import (
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// The whole per-packet path (decode, select, cut, encapsulate, write)
// allocates nothing. The write goes to /dev/null.
func TestSourceHandleZeroAllocs(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	f := mustFilter(t, false, "ingress 100 accept tcp dst-port 5201", "egress 100 reject all")
	ss := Sessions{{Number: 1, Filter: f, VNI: 9, HasVNI: true, PacketLength: 100}}
	enc, _ := NewEncapsulator(netip.MustParseAddr("10.78.0.1"), netip.MustParseAddrPort("10.78.0.2:4789"), 49152, 65535, true)
	s := &Source{cfg: SourceConfig{Sessions: ss}, enc: enc, tx: int(null.Fd()), rx: -1, outer: netip.MustParseAddr("10.78.0.1"),
		target: netip.MustParseAddrPort("10.78.0.2:4789"), dec: decode.New(decode.Config{NoDecap: true}), out: make([]byte, rxBufLen+EncapLen)}
	in := innerFrame(40000, 5201, 1000)
	out := innerFrame(5201, 40000, 0)
	var p decode.Packet
	n := testing.AllocsPerRun(200, func() {
		s.handle(in, len(in), unix.PACKET_HOST, &p)
		s.handle(out, len(out), unix.PACKET_OUTGOING, &p)
	})
	if n != 0 {
		t.Fatalf("handle allocates %v per run", n)
	}
	c := s.Counters()
	if c.Mirrored == 0 || c.Mirrored != c.Rejected || c.Truncated != c.Mirrored || c.SendFailures != 0 {
		t.Fatalf("counters %s", c)
	}
}
