package decode

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// An IP length larger than the frame on the wire is a bad length: the
// payload is what the frame has (as Wireshark takes it). A frame cut by
// the capture's snaplen (wire length kept) is truncated, not bad.
func TestIPLengthBeyondFrame(t *testing.T) {
	d := New(DefaultConfig())
	for _, v6 := range []bool{false, true} {
		f := tcp4Frame(t, 100)
		lenOff, claim := 14+2, 20+40+100+60
		if v6 {
			f = tcp6Frame(t, 100)
			lenOff, claim = 14+4, 40+100+60
		}
		binary.BigEndian.PutUint16(f[lenOff:], uint16(claim))
		var p Packet
		if err := d.Decode(f, LinkEthernet, uint32(len(f)), &p); err != nil {
			t.Fatal(err)
		}
		if p.PayloadLen != 100 || !p.BadIPLen || p.Truncated || p.FrameLen != uint32(len(f)) {
			t.Errorf("v6=%v bad length: payload %d bad %v truncated %v framelen %d (frame %d)", v6, p.PayloadLen, p.BadIPLen, p.Truncated, p.FrameLen, len(f))
		}
		// The same bytes cut by snaplen from a frame that was 60 bytes longer.
		if err := d.Decode(f, LinkEthernet, uint32(len(f)+60), &p); err != nil {
			t.Fatal(err)
		}
		if p.PayloadLen != 160 || p.BadIPLen || !p.Truncated {
			t.Errorf("v6=%v snaplen: payload %d bad %v truncated %v", v6, p.PayloadLen, p.BadIPLen, p.Truncated)
		}
	}
}

func tcp6Frame(t testing.TB, n int) []byte {
	ip := ip6L(layers.IPProtocolTCP, cli6, srv6)
	return ser(t, ethL(layers.EthernetTypeIPv6), ip, tcpL(ip), payload(n))
}
