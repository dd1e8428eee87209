package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrorscope/mirrorscope/internal/emf"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/report/htmlreport"
)

type listenOpts struct {
	analysisFlags
	vxlan, geneve, http, iface string
	erspan, greUDP             string
	sockets, shards, batch     int
	gro                        bool
	rcvbuf                     byteSize
	allowSrc                   []string
	allowVNI                   []uint
	reportInterval             time.Duration
	out                        string
	outRotate                  byteSize
	outKeep                    int
	pcapDir                    string
	pcapRotate                 byteSize
	pcapInterval               time.Duration
	snaplen                    int
	pcapPayload                bool
	httpAllowHosts             []string
	quiet                      bool
	emf                        string
	kafka                      kafkaOpts
}

func newListenCmd() *cobra.Command {
	var o listenOpts
	d := listen.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "listen [flags]",
		Short: "Be a VPC Traffic Mirroring target: receive mirrored traffic live and analyse it continuously",
		Long: `Receive AWS VPC Traffic Mirroring sessions live (VXLAN on UDP 4789, and
with --geneve the GENEVE stream of a Gateway Load Balancer on UDP 6081), or
capture a local interface with --iface, and run the analysis of 'analyze'
continuously.

--erspan also receives ERSPAN type I/II/III and GRE mirror streams (GRE,
IP protocol 47, as switches, other clouds and Linux erspan/gretap devices
send them; a raw socket: CAP_NET_RAW), --gre-udp GRE over UDP (port 4754).
Their sessions are told apart by outer source and ERSPAN session id (GRE
key), as VXLAN sessions by outer source and VNI.

Each flow is reported as one JSON line when it ends (--linger after its
FIN/RST, idle timeout, or at exit); flows still open are also reported every --report-interval.
Findings are JSON lines too; the last line is a summary. Prometheus metrics,
a health check for NLB/GWLB target groups and a JSON API are served on
--http. SIGINT/SIGTERM stop receiving, analyse everything received, report
every open flow and exit 0. SIGHUP reopens --out and starts a new pcapng
file (logrotate).

See docs/listen.md for deployment as a mirror target.`,
		Example: `  mirrorscope listen
  mirrorscope listen --geneve --allow-src 10.0.0.0/8 --out /var/log/mirrorscope/flows.jsonl
  mirrorscope listen --http 0.0.0.0:9180 --write-pcap /var/lib/mirrorscope/pcap
  mirrorscope listen --iface eth1 --vxlan ''
  mirrorscope listen --erspan 0.0.0.0 --vxlan ''   # a switch's ERSPAN session to this host`,
		Args: genevePositional(&o.geneve),
		RunE: func(cmd *cobra.Command, _ []string) error { return runListen(cmd, &o) },
	}
	fs := cmd.Flags()
	o.bind(fs)
	// listen lists fewer flows in its summary than analyze: say so in
	// --help, and use it.
	o.maxReportFlows = d.Engine.MaxReportFlows
	fs.Lookup("max-report-flows").DefValue = strconv.Itoa(d.Engine.MaxReportFlows)
	_ = fs.MarkHidden("vni")
	_ = fs.MarkHidden("outer-src")
	fs.StringVar(&o.vxlan, "vxlan", d.VXLAN, "ADDR:PORT to receive VXLAN mirror traffic on ('' = off)")
	fs.StringVar(&o.geneve, "geneve", "", "ADDR:PORT to receive GENEVE (Gateway Load Balancer) traffic on; --geneve alone means 0.0.0.0:6081")
	fs.Lookup("geneve").NoOptDefVal = "0.0.0.0:6081"
	fs.StringVar(&o.erspan, "erspan", "", "ADDR (no port: IP protocol 47; e.g. 0.0.0.0) to receive ERSPAN I/II/III and GRE mirror traffic on, with a raw socket (CAP_NET_RAW); an IPv6 address (::) receives GRE over IPv6")
	fs.StringVar(&o.greUDP, "gre-udp", "", "ADDR:PORT to receive GRE over UDP (RFC 8086, e.g. 0.0.0.0:4754; ERSPAN or GRE inside) on")
	fs.StringVar(&o.http, "http", d.HTTP, "ADDR:PORT of /metrics, /healthz and /api ('' = off); use 0.0.0.0:9180 for load balancer health checks")
	fs.StringSliceVar(&o.httpAllowHosts, "http-allow-host", nil, "further Host header names the HTTP server answers (it answers IP addresses and localhost; others get 421, against DNS rebinding)")
	fs.StringVar(&o.iface, "iface", "", "capture this local interface (AF_PACKET) instead of receiving mirror datagrams")
	fs.IntVar(&o.sockets, "sockets", runtime.NumCPU(), "SO_REUSEPORT sockets (receiving goroutines) per listener")
	fs.IntVar(&o.shards, "shards", 0, "analysis engines (flow state is sharded across them); 0: one per socket, each socket's goroutine analysing what it reads")
	fs.IntVar(&o.batch, "batch", d.Batch, "datagrams read per recvmmsg call")
	fs.BoolVar(&o.gro, "gro", false, "receive with UDP GRO: bursts of one outer 4-tuple in one receive (shared timestamp; see docs/listen.md)")
	o.rcvbuf = byteSize(d.RcvBuf)
	fs.Var(&o.rcvbuf, "rcvbuf", "receive buffer per socket (e.g. 32MiB; with --iface the ring per socket); raised past net.core.rmem_max when run as root")
	fs.StringSliceVar(&o.allowSrc, "allow-src", nil, "accept mirror traffic only from these outer sources (CIDR or address; repeat or comma-separate)")
	fs.UintSliceVar(&o.allowVNI, "allow-vni", nil, "accept only these VNIs (repeat or comma-separate)")
	fs.DurationVar(&o.reportInterval, "report-interval", d.ReportInterval, "report flows still open this often, once they are that old (0 = only when they end)")
	fs.StringVarP(&o.out, "out", "o", "-", "write the JSON lines to this file instead of standard output")
	o.outRotate = 100 << 20
	fs.Var(&o.outRotate, "out-rotate-size", "rotate --out past this size (FILE -> FILE.1 ...; 0 = never)")
	fs.IntVar(&o.outKeep, "out-keep", 5, "rotated --out files kept")
	fs.StringVar(&o.pcapDir, "write-pcap", "", "save the received traffic, decapsulated, as pcapng files in this directory (one interface per mirror session)")
	o.pcapRotate = byteSize(d.Pcap.RotateSize)
	fs.Var(&o.pcapRotate, "pcap-rotate-size", "start a new pcapng file past this size (0 = never)")
	fs.DurationVar(&o.pcapInterval, "pcap-rotate-interval", 0, "start a new pcapng file this often (0 = never)")
	fs.IntVar(&o.snaplen, "snaplen", d.Pcap.Snaplen, "most bytes kept of each frame in --write-pcap files (0 = no limit); frames are cut after their innermost transport header anyway")
	fs.BoolVar(&o.pcapPayload, "write-pcap-payload", false, "keep payload in --write-pcap files (by default each frame ends after its TCP/UDP/ICMP header: mirrored payload is sensitive)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "log only warnings and errors on standard error")
	fs.StringVar(&o.emf, "emf", "", "also write CloudWatch Embedded Metric Format lines (flows per verdict, PolicedFlows, per-session packets/bytes/drops) to this `FILE` (appended) or - for standard output (then give --out FILE); see docs/aws.md")
	o.kafka.bind(fs)
	return cmd
}

// genevePositional lets `--geneve ADDR:PORT` be written with a space, as
// people type it. --geneve has an optional value (alone it means
// 0.0.0.0:6081), so the flag parser takes the address that follows it for
// a positional argument; listen takes none, so one argument that is an
// ADDR:PORT after a bare --geneve is the flag's value.
func genevePositional(geneve *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		f := cmd.Flags().Lookup("geneve")
		if len(args) == 1 && f.Changed && *geneve == f.NoOptDefVal {
			if _, err := netip.ParseAddrPort(args[0]); err == nil {
				*geneve = args[0]
				return nil
			}
			return usageErr("unexpected argument %q: --geneve takes ADDR:PORT (e.g. --geneve 0.0.0.0:6081)", args[0])
		}
		return usageErr("unexpected argument %q: listen takes no arguments (see mirrorscope listen --help)", strings.Join(args, " "))
	}
}

func runListen(cmd *cobra.Command, o *listenOpts) error {
	if len(o.vnis) > 0 || len(o.outerSrcs) > 0 {
		return usageErr("listen selects sessions with --allow-vni and --allow-src")
	}
	ec, err := o.config()
	if err != nil {
		return err
	}
	cfg := listen.DefaultConfig()
	cfg.Engine = ec
	cfg.VXLAN, cfg.GENEVE, cfg.HTTP, cfg.Iface = o.vxlan, o.geneve, o.http, o.iface
	cfg.ERSPAN, cfg.GREUDP = o.erspan, o.greUDP
	cfg.HTTPAllowHosts = o.httpAllowHosts
	if o.iface != "" {
		cfg.VXLAN, cfg.GENEVE, cfg.ERSPAN, cfg.GREUDP = "", "", "", ""
	}
	for _, a := range []*string{&cfg.VXLAN, &cfg.GENEVE, &cfg.HTTP, &cfg.ERSPAN, &cfg.GREUDP} {
		if *a == "off" {
			*a = ""
		}
	}
	if cfg.VXLAN == "" && cfg.GENEVE == "" && cfg.ERSPAN == "" && cfg.GREUDP == "" && cfg.Iface == "" {
		return usageErr("nothing to receive: give --vxlan, --geneve, --erspan, --gre-udp or --iface")
	}
	if cfg.ERSPAN != "" {
		if _, err := netip.ParseAddr(cfg.ERSPAN); err != nil {
			return usageErr("--erspan %q: want an IP address without port (GRE has none; e.g. 0.0.0.0)", cfg.ERSPAN)
		}
	}
	for _, a := range []struct{ flag, v string }{{"--vxlan", cfg.VXLAN}, {"--geneve", cfg.GENEVE}, {"--gre-udp", cfg.GREUDP}} {
		if a.v != "" {
			if _, err := netip.ParseAddrPort(a.v); err != nil {
				return usageErr("%s %q: want ADDR:PORT (e.g. 0.0.0.0:4789)", a.flag, a.v)
			}
		}
	}
	if o.sockets < 1 || o.shards < 0 || o.batch < 1 || o.batch > 1024 {
		return usageErr("--sockets must be at least 1, --shards at least 0, --batch 1..1024")
	}
	if o.snaplen < 0 {
		return usageErr("--snaplen must not be negative")
	}
	if o.reportInterval < 0 || o.pcapInterval < 0 {
		return usageErr("intervals must not be negative")
	}
	cfg.Sockets, cfg.Shards, cfg.Batch, cfg.RcvBuf, cfg.GRO = o.sockets, o.shards, o.batch, int(o.rcvbuf), o.gro
	for _, s := range o.allowSrc {
		p, err := parsePrefix(s)
		if err != nil {
			return usageErr("--allow-src %q: %v", s, err)
		}
		cfg.AllowSrc = append(cfg.AllowSrc, p)
	}
	for _, v := range o.allowVNI {
		if v > 0xffffff {
			return usageErr("--allow-vni %d: a VNI has 24 bits (at most 16777215)", v)
		}
		cfg.AllowVNI = append(cfg.AllowVNI, uint32(v))
	}
	cfg.ReportInterval = o.reportInterval
	cfg.Pcap = listen.PcapConfig{Dir: o.pcapDir, Snaplen: o.snaplen, KeepPayload: o.pcapPayload, RotateSize: int64(o.pcapRotate), RotateInterval: o.pcapInterval}
	level := slog.LevelInfo
	if o.quiet {
		level = slog.LevelWarn
	}
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	// The live page at "/" with per-flow charts fed by every shard.
	lc := htmlreport.NewLiveCollector(htmlreport.DefaultCollectorConfig(), cfg.ShardCount())
	cfg.PacketHook = lc.OnPacket
	cfg.Live = htmlreport.LiveHandler()
	cfg.Routes = map[string]http.Handler{"GET /api/flows/{id}/series": htmlreport.SeriesHandler(lc)}

	// SIGHUP reopens --out and starts a new pcapng file (logrotate); it
	// is registered before --out exists, so a HUP never kills listen.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var closeOut func() error
	if o.out == "-" || o.out == "" {
		bw := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
		cfg.Out = bw
		closeOut = bw.Flush
	} else {
		rf, err := listen.NewRotatingFile(o.out, int64(o.outRotate), o.outKeep)
		if err != nil {
			return usageErr("--out: %v", err)
		}
		cfg.Out = rf
		closeOut = rf.Close
	}
	if o.emf != "" {
		var ew io.Writer = struct{ io.Writer }{cmd.OutOrStdout()} // never closed
		if o.emf == "-" {
			if o.out == "-" || o.out == "" {
				closeOut()
				return usageErr("--emf - and the JSON lines would share standard output: give --out FILE or --emf FILE")
			}
		} else {
			f, err := os.OpenFile(o.emf, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				closeOut()
				return usageErr("--emf: %v", err)
			}
			ew = f
		}
		cfg.Taps = append(cfg.Taps, emf.New(ew, emf.Config{}))
	}
	if err := o.kafka.apply(&cfg); err != nil {
		closeOut()
		return err
	}
	l, err := listen.New(cfg)
	if err != nil {
		closeOut()
		return &exitError{code: exitUsage, err: err}
	}
	ran := make(chan struct{})
	defer close(ran)
	go func() {
		for {
			select {
			case <-hup:
				l.Reopen()
			case <-ran:
				return
			}
		}
	}()
	_, runErr := l.Run(cmd.Context())
	if err := closeOut(); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing output: %w", err)
	}
	return runErr
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// byteSize is a flag value in bytes that accepts K/M/G and KiB/MiB/GiB
// suffixes.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "bytes" }
func (b *byteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (e.g. 32MiB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}
