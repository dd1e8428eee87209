package mirror

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helper processes of the end-to-end test: the test binary re-executed
// inside a network namespace with MIRROR_E2E_HELPER set.
func TestE2EHelper(t *testing.T) {
	role := os.Getenv("MIRROR_E2E_HELPER")
	if role == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runHelper(ctx, role); err != nil {
		fmt.Fprintln(os.Stderr, "helper", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(ctx context.Context, role string) error {
	arg := os.Getenv("MIRROR_E2E_ARG")
	switch role {
	case "recv": // arg: file; record every datagram to UDP 4789
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: VXLANPort})
		if err != nil {
			return err
		}
		// Both mirrors burst at veth speed: a big buffer keeps the
		// receiver from dropping (SO_RCVBUFFORCE: we are root).
		if rc, err := c.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 64<<20) })
		}
		f, err := os.Create(arg)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		fmt.Println("ready")
		buf := make([]byte, 65536)
		for ctx.Err() == nil {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				continue
			}
			binary.Write(w, binary.BigEndian, uint32(n))
			w.Write(buf[:n])
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	case "mirror": // arg: JSON rules, see mirrorArgs
		var a mirrorArgs
		if err := json.Unmarshal([]byte(arg), &a); err != nil {
			return err
		}
		f, err := ParseRules(a.Rules, false)
		if err != nil {
			return err
		}
		src, err := NewSource(SourceConfig{Iface: a.Iface, Target: netip.MustParseAddrPort(a.Target),
			Sessions: Sessions{{Number: 1, Filter: f, VNI: a.VNI, HasVNI: true, PacketLength: a.PacketLength}},
			Ready:    func() { fmt.Println("ready") }, OnStats: func(SourceCounters, bool) {}})
		if err != nil {
			return err
		}
		defer src.Close()
		c, err := src.Run(ctx)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(c)
	case "server": // arg: listen address; read all, answer 64 KiB
		l, err := net.Listen("tcp4", arg)
		if err != nil {
			return err
		}
		fmt.Println("ready")
		c, err := l.Accept()
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, 64<<10)); err != nil {
			return err
		}
		return c.Close()
	case "client": // arg: server address; send 1 MiB, read the answer
		c, err := net.Dial("tcp4", arg)
		if err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, 1<<20)); err != nil {
			return err
		}
		c.(*net.TCPConn).CloseWrite()
		n, err := io.Copy(io.Discard, c)
		if err != nil || n != 64<<10 {
			return fmt.Errorf("read %d: %v", n, err)
		}
		// Some traffic the rules do not match: UDP to the same port.
		u, err := net.Dial("udp4", arg)
		if err != nil {
			return err
		}
		u.Write([]byte("not mirrored"))
		return c.Close()
	}
	return fmt.Errorf("unknown helper %q", role)
}

type mirrorArgs struct {
	Iface        string
	Target       string
	Rules        []string
	VNI          uint32
	PacketLength int
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// startHelper starts a helper in a namespace and waits for its "ready".
func startHelper(t *testing.T, ns, role, arg string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^TestE2EHelper$")
	cmd.Env = append(os.Environ(), "MIRROR_E2E_HELPER="+role, "MIRROR_E2E_ARG="+arg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(out)
	line := make(chan string, 1)
	go func() { l, _ := r.ReadString('\n'); line <- l }()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "ready" {
			t.Fatalf("helper %s: %q", role, l)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("helper %s not ready", role)
	}
	return cmd, r
}

// TestMirrorAgainstKernelVXLAN runs the mirror source on a namespace's
// interface during a real TCP transfer and compares what the target
// receives with a kernel VXLAN mirror of the same interface (tc clsact +
// u32 + mirred to a vxlan device, matching the same rules): the same
// inner frames, the VNI, and truncation to PacketLength.
func TestMirrorAgainstKernelVXLAN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "tc", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	id := fmt.Sprintf("ms%d", os.Getpid()%100000)
	a, b, tg := id+"-a", id+"-b", id+"-t"
	for _, ns := range []string{a, b, tg} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("cannot create network namespaces: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	run(t, "ip", "link", "add", "eth0", "netns", a, "type", "veth", "peer", "name", "eth0", "netns", b)
	run(t, "ip", "link", "add", "mir0", "netns", a, "mtu", "9000", "type", "veth", "peer", "name", "mir0", "netns", tg, "mtu", "9000")
	for _, x := range []struct{ ns, dev, addr string }{{a, "eth0", "10.77.0.1/24"}, {b, "eth0", "10.77.0.2/24"}, {a, "mir0", "10.78.0.1/24"}, {tg, "mir0", "10.78.0.2/24"}} {
		run(t, "ip", "-n", x.ns, "addr", "add", x.addr, "dev", x.dev)
		run(t, "ip", "netns", "exec", x.ns, "ethtool", "-K", x.dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off")
		run(t, "ip", "-n", x.ns, "link", "set", x.dev, "up")
	}
	// Kernel reference: VNI 1111, the same rules as tc u32 matches.
	run(t, "ip", "-n", a, "link", "add", "vxk", "mtu", "8900", "type", "vxlan", "id", "1111", "dstport", "4789", "remote", "10.78.0.2", "local", "10.78.0.1", "dev", "mir0", "nolearning")
	run(t, "ip", "-n", a, "link", "set", "vxk", "up")
	run(t, "ip", "netns", "exec", a, "tc", "qdisc", "add", "dev", "eth0", "clsact")
	run(t, "ip", "netns", "exec", a, "tc", "filter", "add", "dev", "eth0", "ingress", "protocol", "ip", "prio", "1", "u32",
		"match", "ip", "protocol", "6", "0xff", "match", "ip", "dport", "5201", "0xffff", "action", "mirred", "egress", "mirror", "dev", "vxk")
	run(t, "ip", "netns", "exec", a, "tc", "filter", "add", "dev", "eth0", "egress", "protocol", "ip", "prio", "1", "u32",
		"match", "ip", "protocol", "6", "0xff", "match", "ip", "sport", "5201", "0xffff", "action", "mirred", "egress", "mirror", "dev", "vxk")

	recvFile := t.TempDir() + "/recv.bin"
	recv, _ := startHelper(t, tg, "recv", recvFile)
	const pl = 200
	margs, _ := json.Marshal(mirrorArgs{Iface: "eth0", Target: "10.78.0.2:4789", VNI: 2222, PacketLength: pl,
		Rules: []string{"ingress 100 accept tcp dst-port 5201", "egress 100 accept tcp src-port 5201"}})
	mir, mirOut := startHelper(t, a, "mirror", string(margs))
	srv, _ := startHelper(t, a, "server", "10.77.0.1:5201")
	cli := exec.Command("ip", "netns", "exec", b, os.Args[0], "-test.run=^TestE2EHelper$")
	cli.Env = append(os.Environ(), "MIRROR_E2E_HELPER=client", "MIRROR_E2E_ARG=10.77.0.1:5201")
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("client: %v: %s", err, out)
	}
	run(t, "ip", "netns", "exec", b, "ping", "-c", "2", "-i", "0.2", "10.77.0.1")
	if err := srv.Wait(); err != nil {
		t.Fatalf("server: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	mir.Process.Signal(syscall.SIGTERM)
	line, _ := mirOut.ReadString('\n')
	if err := mir.Wait(); err != nil {
		t.Fatalf("mirror: %v", err)
	}
	var counters SourceCounters
	if err := json.Unmarshal([]byte(line), &counters); err != nil {
		t.Fatalf("mirror counters %q: %v", line, err)
	}
	time.Sleep(200 * time.Millisecond)
	recv.Process.Signal(syscall.SIGTERM)
	if err := recv.Wait(); err != nil {
		t.Fatalf("receiver: %v", err)
	}
	data, err := os.ReadFile(recvFile)
	if err != nil {
		t.Fatal(err)
	}
	frames := map[uint32][][]byte{}
	for len(data) >= 4 {
		n := binary.BigEndian.Uint32(data)
		d := data[4 : 4+n]
		data = data[4+n:]
		if len(d) < 8 || d[0] != 0x08 {
			t.Fatalf("datagram without VXLAN I flag: % x", d[:min(len(d), 16)])
		}
		vni := uint32(d[4])<<16 | uint32(d[5])<<8 | uint32(d[6])
		frames[vni] = append(frames[vni], d[8:])
	}
	kernel, ours := frames[1111], frames[2222]
	t.Logf("kernel mirror %d frames, ours %d, counters %s", len(kernel), len(ours), counters)
	if len(frames) != 2 {
		t.Errorf("VNIs received: %d kinds, want 1111 and 2222", len(frames))
	}
	if len(kernel) < 100 {
		t.Fatalf("kernel mirror got only %d frames", len(kernel))
	}
	longer := 0
	want := make([]string, len(kernel))
	for i, f := range kernel {
		if len(f) > pl {
			f = f[:pl]
			longer++
		}
		want[i] = string(f)
	}
	got := make([]string, len(ours))
	for i, f := range ours {
		got[i] = string(f)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		missing, extra := 0, 0
		for _, w := range want {
			if _, ok := slices.BinarySearch(got, w); !ok {
				missing++
			}
		}
		for _, g := range got {
			if _, ok := slices.BinarySearch(want, g); !ok {
				extra++
			}
		}
		t.Errorf("inner frames differ from the kernel mirror: %d missing, %d extra (of %d)", missing, extra, len(want))
	}
	if longer == 0 || counters.Truncated != uint64(longer) {
		t.Errorf("truncated %d, kernel frames longer than %d: %d", counters.Truncated, pl, longer)
	}
	if counters.Mirrored != uint64(len(ours)) || counters.SendFailures != 0 || counters.NotMatched == 0 {
		t.Errorf("counters %s, received %d", counters, len(ours))
	}
}
