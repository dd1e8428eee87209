package main

import (
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReplayReportsTiming: a timed replay's summary says how many frames
// left more than a millisecond after their due time (what the target saw
// of the capture's timing); a --topspeed replay keeps no timing and says
// nothing about it.
func TestReplayReportsTiming(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	capPath := filepath.Join(repoTestdata, "policer", "policer.srv.pcap")
	timing := regexp.MustCompile(`replay: timing: (\d+) frames left more than 1ms after their due time \(latest [0-9.]+(µs|ms|s)\)`)
	_, stderr, code := run(t, nil, "replay", capPath, "--to", conn.LocalAddr().String(), "--vni", "7", "--speed", "10")
	if code != 0 {
		t.Fatalf("replay --speed 10: exit %d: %s", code, stderr)
	}
	m := timing.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("replay --speed 10: no timing line in %q", stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n > 1990 {
		t.Errorf("%d frames late, of 1990", n)
	}
	_, stderr, code = run(t, nil, "replay", capPath, "--to", conn.LocalAddr().String(), "--vni", "7", "--topspeed")
	if code != 0 {
		t.Fatalf("replay --topspeed: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "timing:") {
		t.Errorf("replay --topspeed reports timing: %q", stderr)
	}
}
