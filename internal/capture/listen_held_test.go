//go:build linux

package capture

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenRefusesHeldPort: a second listener on a UDP port another
// socket holds with SO_REUSEPORT (another mirrorscope listen) is refused
// with the port named, instead of silently sharing the traffic.
func TestListenRefusesHeldPort(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return serr
	}}
	other, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := other.LocalAddr().(*net.UDPAddr).Port
	for _, addr := range []string{"127.0.0.1:" + strconv.Itoa(port), "0.0.0.0:" + strconv.Itoa(port), ":" + strconv.Itoa(port)} {
		l, err := Listen(context.Background(), ListenConfig{Addr: addr, Sockets: 2}, nil)
		if err == nil {
			l.Close()
			t.Errorf("Listen %s: started on a port another socket holds", addr)
			continue
		}
		if !strings.Contains(err.Error(), "UDP port "+strconv.Itoa(port)) {
			t.Errorf("Listen %s: error does not name the port: %v", addr, err)
		}
	}
	// Another address on the same port does not overlap.
	l, err := Listen(context.Background(), ListenConfig{Addr: "127.0.0.2:" + strconv.Itoa(port), Sockets: 1}, nil)
	if err != nil {
		t.Errorf("Listen on another address of the port: %v", err)
	} else {
		l.Close()
	}
}

func TestParseProcAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:12B5", "127.0.0.1:4789"},
		{"00000000:17C1", "0.0.0.0:6081"},
		{"00000000000000000000000000000000:12B5", "[::]:4789"},
		{"0000000000000000FFFF00000100007F:12B5", "127.0.0.1:4789"},
	} {
		a, p, err := parseProcAddr(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := net.JoinHostPort(a.String(), strconv.Itoa(int(p))); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
}
