package listen

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The end-to-end test builds a real kernel VXLAN mirror in network
// namespaces, as the lab does (tc clsact + u32 + mirred into a vxlan
// device), and runs the listener as the mirror target in its own
// namespace. The test binary re-executes itself inside the namespaces
// (ip netns exec) to run the listener, the TCP server and the client;
// these helper modes are selected by MIRRORSCOPE_E2E_ROLE.

const e2eRoleEnv = "MIRRORSCOPE_E2E_ROLE"

// TestE2EHelper is not a test: it is the body of the re-executed helper
// processes and returns at once in a normal run.
func TestE2EHelper(t *testing.T) {
	role := os.Getenv(e2eRoleEnv)
	if role == "" {
		return
	}
	var err error
	switch role {
	case "listen":
		err = helperListen(os.Getenv("E2E_OUT"), os.Getenv("E2E_READY"))
	case "server":
		err = helperServer(os.Getenv("E2E_ADDR"))
	case "client":
		n, _ := strconv.Atoi(os.Getenv("E2E_BYTES"))
		err = helperClient(os.Getenv("E2E_ADDR"), n)
	case "replay":
		err = helperReplay(os.Getenv("E2E_ADDR"), os.Getenv("E2E_FILE"))
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helperListen(out, ready string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	f, err := NewRotatingFile(out, 0, 1)
	if err != nil {
		return err
	}
	cfg := DefaultConfig()
	cfg.VXLAN, cfg.HTTP = "0.0.0.0:4789", ""
	cfg.Sockets, cfg.Shards = 2, 0 // inline analysis, as listen runs by default
	cfg.Out = f
	l, err := New(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(ready, []byte("ok"), 0o644); err != nil {
		return err
	}
	_, err = l.Run(ctx)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func helperServer(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.Copy(io.Discard, c)
	return err
}

// helperClient sends n bytes at about 200 Mbit/s (so a 2-CPU machine
// mirrors every packet without drops) and closes.
func helperClient(addr string, n int) error {
	var c net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	buf := make([]byte, 16<<10)
	start := time.Now()
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		if d := time.Duration(float64(sent+len(buf))*8/200e6*1e9) - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	return c.Close()
}

// waitStable waits until the files have not grown for 500 ms.
func waitStable(files ...string) {
	size := func() (n int64) {
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	last, since := size(), time.Now()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
		if n := size(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			return
		}
	}
}

type netnsLab struct {
	t     *testing.T
	name  string
	procs []*exec.Cmd
}

func (n *netnsLab) ns(role string) string { return n.name + "-" + role }

func (n *netnsLab) run(args ...string) {
	n.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (n *netnsLab) in(role string, args ...string) {
	n.t.Helper()
	n.run(append([]string{"ip", "netns", "exec", n.ns(role)}, args...)...)
}

// start runs a process in a namespace in the background; Cleanup kills it.
func (n *netnsLab) start(role string, env []string, stderr io.Writer, args ...string) *exec.Cmd {
	n.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns(role)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %v: %v", args, err)
	}
	n.procs = append(n.procs, cmd)
	return cmd
}

func skipUnlessNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "tc", "tcpdump", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	name := fmt.Sprintf("mse2eprobe%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns does not work here: %v %s", err, out)
	}
	exec.Command("ip", "netns", "del", name).Run()
}

// TestE2EKernelVXLANMirror: a TCP transfer from cli to srv; srv's eth0 is
// mirrored (both directions) by tc mirred into a vxlan device whose
// remote is the mon namespace, where the listener runs. tcpdump captures
// the mirrored interface and the mirror stream at mon; the listener must
// report the flows and TCP analysis the engine finds in those captures.
func TestE2EKernelVXLANMirror(t *testing.T) {
	skipUnlessNetns(t)
	lab := &netnsLab{t: t, name: fmt.Sprintf("mse2e%d", os.Getpid())}
	t.Cleanup(func() {
		for _, p := range lab.procs {
			if p.Process != nil && p.ProcessState == nil {
				syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
				p.Wait()
			}
		}
		for _, r := range []string{"cli", "srv", "mon"} {
			exec.Command("ip", "netns", "del", lab.ns(r)).Run()
		}
	})
	for _, r := range []string{"cli", "srv", "mon"} {
		lab.run("ip", "netns", "add", lab.ns(r))
		lab.in(r, "ip", "link", "set", "lo", "up")
	}
	// Data path cli eth0 198.18.0.1 <-> srv eth0 198.18.0.2.
	lab.run("ip", "link", "add", "e2ec"+strconv.Itoa(os.Getpid()%10000), "netns", lab.ns("cli"), "type", "veth", "peer", "name", "e2es"+strconv.Itoa(os.Getpid()%10000), "netns", lab.ns("srv"))
	lab.in("cli", "ip", "link", "set", "e2ec"+strconv.Itoa(os.Getpid()%10000), "name", "eth0")
	lab.in("srv", "ip", "link", "set", "e2es"+strconv.Itoa(os.Getpid()%10000), "name", "eth0")
	// Mirror link srv mir0 198.19.0.2 <-> mon fromsrv 198.19.0.4, MTU 9001.
	lab.run("ip", "link", "add", "e2em"+strconv.Itoa(os.Getpid()%10000), "netns", lab.ns("srv"), "type", "veth", "peer", "name", "e2et"+strconv.Itoa(os.Getpid()%10000), "netns", lab.ns("mon"))
	lab.in("srv", "ip", "link", "set", "e2em"+strconv.Itoa(os.Getpid()%10000), "name", "mir0")
	lab.in("mon", "ip", "link", "set", "e2et"+strconv.Itoa(os.Getpid()%10000), "name", "fromsrv")
	for _, c := range [][]string{
		{"cli", "ip", "addr", "add", "198.18.0.1/24", "dev", "eth0"},
		{"srv", "ip", "addr", "add", "198.18.0.2/24", "dev", "eth0"},
		{"srv", "ip", "addr", "add", "198.19.0.2/29", "dev", "mir0"},
		{"mon", "ip", "addr", "add", "198.19.0.4/29", "dev", "fromsrv"},
		{"srv", "ip", "link", "set", "mir0", "mtu", "9001", "up"},
		{"mon", "ip", "link", "set", "fromsrv", "mtu", "9001", "up"},
		{"cli", "ip", "link", "set", "eth0", "up"},
		{"srv", "ip", "link", "set", "eth0", "up"},
		// One MSS-sized segment per frame, as on the wire.
		{"cli", "ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off", "tx", "off"},
		{"srv", "ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off", "tx", "off"},
		{"srv", "ethtool", "-K", "mir0", "tso", "off", "gso", "off", "gro", "off", "tx", "off"},
		{"mon", "ethtool", "-K", "fromsrv", "tso", "off", "gso", "off", "gro", "off", "tx", "off"},
		{"srv", "ip", "link", "add", "vx4242", "type", "vxlan", "id", "4242", "dstport", "4789", "remote", "198.19.0.4", "local", "198.19.0.2", "dev", "mir0", "nolearning"},
		{"srv", "ip", "link", "set", "vx4242", "mtu", "8950", "up"},
		{"srv", "tc", "qdisc", "add", "dev", "eth0", "clsact"},
		{"srv", "tc", "filter", "add", "dev", "eth0", "ingress", "protocol", "all", "prio", "1", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "vx4242"},
		{"srv", "tc", "filter", "add", "dev", "eth0", "egress", "protocol", "all", "prio", "1", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "vx4242"},
	} {
		lab.in(c[0], c[1:]...)
	}
	// Keep the copies in order at mon (see the lab README: a veth queues
	// to the sender's CPU backlog); pin its receive processing to CPU 0.
	lab.in("mon", "sh", "-c", "echo 1 > /sys/class/net/fromsrv/queues/rx-0/rps_cpus")
	// Resolve neighbours before anything is captured.
	lab.in("cli", "ping", "-c", "1", "-W", "2", "198.18.0.2")
	lab.in("srv", "ping", "-c", "1", "-W", "2", "198.19.0.4")

	dir := t.TempDir()
	logs := &lines{} // several processes write to it
	ready := filepath.Join(dir, "ready")
	out := filepath.Join(dir, "listen.jsonl")
	exe, _ := os.Executable()
	helper := []string{exe, "-test.run", "^TestE2EHelper$", "-test.count=1"}
	lst := lab.start("mon", []string{e2eRoleEnv + "=listen", "E2E_OUT=" + out, "E2E_READY=" + ready}, logs, helper...)
	srvPcap, monPcap := filepath.Join(dir, "srv.pcap"), filepath.Join(dir, "mon.pcap")
	tdSrv := lab.start("srv", nil, logs, "tcpdump", "-i", "eth0", "-w", srvPcap, "-n", "-U", "-B", "32768", "--time-stamp-precision=nano", "tcp")
	tdMon := lab.start("mon", nil, logs, "tcpdump", "-i", "fromsrv", "-w", monPcap, "-n", "-U", "-B", "32768", "--time-stamp-precision=nano", "udp", "port", "4789")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(ready)
		if err == nil && strings.Count(logs.String(), "listening on") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener/tcpdump not ready:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv := lab.start("srv", []string{e2eRoleEnv + "=server", "E2E_ADDR=198.18.0.2:5201"}, logs, helper...)
	time.Sleep(100 * time.Millisecond)
	cli := lab.start("cli", []string{e2eRoleEnv + "=client", "E2E_ADDR=198.18.0.2:5201", "E2E_BYTES=" + strconv.Itoa(8<<20)}, logs, helper...)
	for _, p := range []*exec.Cmd{cli, srv} {
		if err := p.Wait(); err != nil {
			t.Fatalf("transfer: %v\n%s", err, logs.String())
		}
	}
	// Let the last copies arrive and tcpdump write everything it has:
	// a tcpdump stopped early loses what it had not written yet.
	waitStable(srvPcap, monPcap)
	for _, p := range []*exec.Cmd{tdSrv, tdMon, lst} {
		syscall.Kill(p.Process.Pid, syscall.SIGTERM)
		// ip netns exec execs the command, so the pid is the process.
	}
	for _, p := range []*exec.Cmd{tdSrv, tdMon, lst} {
		if err := p.Wait(); err != nil {
			t.Fatalf("%v: %v\n%s", p.Args, err, logs.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	flows, _, sum := parseLines(t, string(b))
	if sum == nil {
		t.Fatalf("no summary line; output:\n%s\nlogs:\n%s", b, logs.String())
	}
	if sum.Listener.KernelDrops != 0 {
		t.Fatalf("listener socket drops: %d", sum.Listener.KernelDrops)
	}
	if len(sum.Listener.Sessions) != 1 || sum.Listener.Sessions[0].OuterSrc != "198.19.0.2" || sum.Listener.Sessions[0].VNI != 4242 {
		t.Errorf("sessions: %+v", sum.Listener.Sessions)
	}
	var got []testFlow
	for i := range flows {
		if flows[i].Proto == "tcp" {
			got = append(got, flows[i].shape(true))
		}
	}
	sortShapes(got)
	tcpOnly := func(in []testFlow) []testFlow {
		var o []testFlow
		for _, f := range in {
			if f.Proto == "tcp" {
				o = append(o, f)
			}
		}
		return o
	}
	fromMon := tcpOnly(offline(t, monPcap))
	// The client retries while the server is not listening yet (a loaded
	// machine starts it late): refused attempts are small flows of their
	// own, seen by both sides alike. One flow carries the transfer.
	var bulk int
	for _, f := range fromMon {
		if f.Packets >= 1000 {
			bulk++
		}
	}
	if bulk != 1 {
		t.Fatalf("mirror capture has flows %+v, want one bulk transfer", fromMon)
	}
	if diff := cmp.Diff(timeFree(got), timeFree(fromMon)); diff != "" {
		t.Errorf("flows (-listen +engine on the mirror stream capture):\n%s", diff)
	}
	// The mirrored interface's own capture: the same packets and bytes.
	fromSrv := tcpOnly(offline(t, srvPcap))
	counts := func(in []testFlow) []testFlow {
		o := make([]testFlow, len(in))
		for i, f := range in {
			o[i] = testFlow{Proto: f.Proto, Client: f.Client, Server: f.Server, Packets: f.Packets, Bytes: f.Bytes,
				C2SPackets: f.C2SPackets, S2CPkts: f.S2CPkts, C2SBytes: f.C2SBytes, S2CBytes: f.S2CBytes}
		}
		return o
	}
	if diff := cmp.Diff(counts(got), counts(fromSrv)); diff != "" {
		t.Errorf("flows (-listen +engine on srv eth0 capture):\n%s", diff)
	}
	t.Logf("e2e: %d mirrored datagrams, flow %+v\n%s", sum.Listener.Datagrams, got, logs.String())
}
