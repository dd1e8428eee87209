package listen

import (
	"net"
	"net/netip"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// boundAddr is a listener socket's local address (UDP, or IP for the raw
// GRE socket, port 0), unmapped.
func boundAddr(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.IPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		ap = netip.AddrPortFrom(ip, 0)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// greInner finds the inner frame of a received GRE payload (ERSPAN
// I/II/III, GRE around Ethernet or IP) for --write-pcap. The listener
// receives datagrams whole and the inner frame runs to the end of the
// payload, so it is its last p.CapLen bytes, whatever the GRE and ERSPAN
// headers (checksum, key, sequence, ERSPAN III subheader) took. Its link
// is Ethernet, or raw IP for GRE around IP and ERSPAN III frame type 2
// (no link header decoded).
func greInner(b []byte, p *decode.Packet) (int, decode.LinkType, bool) {
	if int(p.CapLen) > len(b) || p.CapLen == 0 {
		return 0, 0, false
	}
	link := decode.LinkEthernet
	if p.L2Len == 0 && p.IPVersion != 0 {
		link = decode.LinkRaw
	}
	return len(b) - int(p.CapLen), link, true
}
