package capture

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// portHolder looks in /proc/net/udp and udp6 for a socket already bound
// to addr's port on an overlapping address (equal, or either one the
// wildcard). SO_REUSEPORT would let our sockets join it silently, and the
// kernel would then split the mirror traffic between the two owners. It
// returns the holder's local address and socket inode, or ok false when
// there is none (or /proc is not readable: nothing to tell then).
func portHolder(addr netip.AddrPort) (holder string, inode string, ok bool) {
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		if h, ino, found := scanUDPTable(f, addr); found {
			return h, ino, true
		}
	}
	return "", "", false
}

func scanUDPTable(path string, addr netip.AddrPort) (string, string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		a, p, err := parseProcAddr(fields[1])
		if err != nil || p != addr.Port() {
			continue
		}
		ours := addr.Addr().Unmap()
		if a.IsUnspecified() || ours.IsUnspecified() || !ours.IsValid() || a == ours {
			return netip.AddrPortFrom(a, p).String(), fields[9], true
		}
	}
	return "", "", false
}

// parseProcAddr parses "0100007F:12B5" (IPv4, bytes of each 32-bit word in
// host order, here little-endian) or its 32-hex-digit IPv6 form.
func parseProcAddr(s string) (netip.Addr, uint16, error) {
	h, ps, found := strings.Cut(s, ":")
	if !found {
		return netip.Addr{}, 0, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(ps, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, 0, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), uint16(port), nil
}
