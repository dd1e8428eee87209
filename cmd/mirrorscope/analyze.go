package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/counters"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/mirror"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/report/annotate"
	"github.com/mirrorscope/mirrorscope/internal/report/htmlreport"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// analysisFlags are the options shared by every command that runs the
// analysis engine.
type analysisFlags struct {
	vxlanPort      uint16
	genevePort     uint16
	noDecap        bool
	maxFlows       int
	idleTimeout    time.Duration
	maxReportFlows int
	vnis           []uint
	outerSrcs      []string
	noDiagnose     bool
	flowsOnly      bool
	decapInner     bool
	maxDiagnosed   int
	filter         mirrorSpec
	eniIPs         []string
	memoryLimit    byteSize
	linger         time.Duration
}

func (a *analysisFlags) bind(fs *pflag.FlagSet) {
	d := engine.DefaultConfig()
	fs.Uint16Var(&a.vxlanPort, "vxlan-port", d.Decode.VXLANPort, "UDP destination port decoded as VXLAN")
	fs.Uint16Var(&a.genevePort, "geneve-port", d.Decode.GENEVEPort, "UDP destination port decoded as GENEVE (Gateway Load Balancer)")
	fs.BoolVar(&a.noDecap, "no-decap", false, "do not decapsulate VXLAN/GENEVE: analyse the outer packets")
	fs.IntVar(&a.maxFlows, "max-flows", d.Flow.MaxFlows, "most live flows tracked at once; beyond it the least recently active flow is ended and counted as evicted")
	fs.DurationVar(&a.idleTimeout, "idle-timeout", d.Flow.IdleTimeout, "end a flow after this much capture time without packets (0 = never)")
	fs.DurationVar(&a.linger, "linger", d.Flow.Linger, "end a TCP flow this long after it closed (RST, or FIN both ways), leaving time for late packets (0 = only when its ports are reused, at the idle timeout or the end)")
	fs.BoolVar(&a.noDiagnose, "no-diagnose", false, "skip the limiter diagnosis (TCP analysis only; faster)")
	fs.IntVar(&a.maxDiagnosed, "max-diagnosed-flows", d.MaxDiagnosedFlows, "most TCP flows diagnosed while open at once (each keeps ~50 KB); later ones get the TCP analysis only")
	fs.BoolVar(&a.flowsOnly, "flows-only", false, "decode and count flows only: no TCP analysis, no diagnosis (fastest first look at a large capture)")
	a.filter.bind(fs)
	fs.StringArrayVar(&a.eniIPs, "eni-ip", nil, "with --filter/--rule: the source interface's `IP` address(es), which give each packet's direction; default: for mirror captures the outer source (the source ENI), for other capture files the address in the most packets (the capture host; standard input needs --eni-ip)")
	fs.UintSliceVar(&a.vnis, "vni", nil, "analyse only these mirror sessions' VNIs (repeat or comma-separate)")
	fs.StringSliceVar(&a.outerSrcs, "outer-src", nil, "analyse only mirror traffic from these outer source addresses (source ENIs)")
	fs.BoolVar(&a.decapInner, "decap-inner", false, "also open a VXLAN (4789/8472) or GENEVE (6081) overlay inside the mirror session: analyse a Kubernetes node's pod flows, with the overlay VNI in each flow")
	fs.IntVar(&a.maxReportFlows, "max-report-flows", d.MaxReportFlows, "most flows listed in the report (the largest by bytes); the rest are counted")
	a.memoryLimit = 1 << 30
	fs.Var(&a.memoryLimit, "memory-limit", "memory budget (e.g. 512MiB, 4GiB): live flows beyond it are ended, least recently active first, and counted as evicted; also the Go runtime's soft limit (unless GOMEMLIMIT is set); 0 = none")
}

func (a *analysisFlags) config() (engine.Config, error) {
	c := engine.DefaultConfig()
	c.Tool = "mirrorscope " + toolVersion()
	c.Decode.VXLANPort = a.vxlanPort
	c.Decode.GENEVEPort = a.genevePort
	c.Decode.NoDecap = a.noDecap
	c.Decode.DecapInner = a.decapInner
	if a.maxFlows < 1 {
		return c, usageErr("--max-flows must be at least 1")
	}
	if a.idleTimeout < 0 {
		return c, usageErr("--idle-timeout must not be negative")
	}
	if a.maxReportFlows < 1 {
		return c, usageErr("--max-report-flows must be at least 1")
	}
	c.Flow.MaxFlows = a.maxFlows
	c.Flow.IdleTimeout = a.idleTimeout
	if a.linger < 0 {
		return c, usageErr("--linger must not be negative")
	}
	c.Flow.Linger = a.linger
	c.MaxReportFlows = a.maxReportFlows
	c.NoDiagnose = a.noDiagnose
	// One record pool for every engine of this run (--workers, listen's
	// receivers): finished flows' record memory serves the next ones.
	c.Diagnose.Records = diagnose.NewRecordPool()
	c.FlowsOnly = a.flowsOnly
	if a.maxDiagnosed < 1 {
		return c, usageErr("--max-diagnosed-flows must be at least 1")
	}
	c.MaxDiagnosedFlows = a.maxDiagnosed
	c.MemoryLimit = int64(a.memoryLimit)
	if c.MemoryLimit > 0 && c.MemoryLimit < 32<<20 {
		return c, usageErr("--memory-limit must be at least 32MiB (or 0 for none)")
	}
	if c.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The garbage collector works harder near the budget instead of
		// letting the heap double past it.
		debug.SetMemoryLimit(c.MemoryLimit / 100 * 85)
	}
	sel, err := sessionSelector(a.vnis, a.outerSrcs)
	if err != nil {
		return c, err
	}
	c.Select = sel
	if a.filter.given() {
		sessions, err := a.filter.load()
		if err != nil {
			return c, err
		}
		addrs, err := parseAddrs("--eni-ip", a.eniIPs)
		if err != nil {
			return c, err
		}
		pred := mirror.NewPredicate(sessions, addrs)
		c.Accept = func(p *decode.Packet) bool { _, ok := pred.Keep(p); return ok }
	}
	return c, nil
}

type analyzeOpts struct {
	analysisFlags
	format        string
	output        string
	quiet         bool
	annotate      string
	annotateDecap bool
	counters      []string
	cloudwatch    []string
	workers       int
}

func newAnalyzeCmd() *cobra.Command {
	var o analyzeOpts
	cmd := &cobra.Command{
		Use:   "analyze [flags] CAPTURE...",
		Short: "Analyse pcap/pcapng captures (plain or mirrored) and report flows and findings",
		Long: `Analyse one or more capture files, in order, as one capture.

CAPTURE is a pcap (micro- or nanosecond) or pcapng file, optionally
gzip-compressed, or - for standard input. Mirror-stream captures (VXLAN on
UDP 4789; GENEVE on UDP 6081 around VXLAN) are decapsulated and each mirror
session (outer source, VNI) is kept apart.

The text report gives a capture summary, the findings (each flow's limiter
verdict first) and the flows ordered by bytes. --format json writes the
schema documented in docs/json.md; --format html one self-contained page
with charts (docs/report.md). --annotate writes a pcapng copy whose packet
comments show mirrorscope's findings in Wireshark.

Exit status: 0 on success, 2 for bad input (not a capture, truncated or
corrupt file: the report of what could be read is still written), 1 for
other errors.`,
		Example: `  mirrorscope analyze capture.pcapng
  mirrorscope analyze --format json a.pcap b.pcap > result.json
  tcpdump -i eth0 -w - | mirrorscope analyze -
  mirrorscope analyze --format html -o report.html --annotate flagged.pcapng mirror.pcap`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("analyze needs at least one capture file (or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAnalyze(cmd, &o, args)
		},
	}
	o.bind(cmd.Flags())
	cmd.Flags().StringVarP(&o.format, "format", "f", "text", "report format: text, json, or html (one self-contained page with charts; use -o)")
	cmd.Flags().StringVar(&o.annotate, "annotate", "", "also write the capture to this pcapng `FILE` with a comment on every packet mirrorscope flagged and on each diagnosed flow's first packet, for Wireshark")
	cmd.Flags().StringArrayVar(&o.counters, "counters", nil, "interface or CloudWatch counters `FILE` taken during the capture (`ethtool -S` snapshots, aws cloudwatch get-metric-data/-statistics JSON; repeatable): correlate ENA allowance and NetworkSkipMirror* counters with the flows (docs/counters.md)")
	cmd.Flags().StringArrayVar(&o.cloudwatch, "cloudwatch", nil, "fetch this instance's (`i-...`) CloudWatch network, mirror and ENA allowance metrics for the capture's time window and correlate them like --counters (repeatable; AWS credentials as for 'mirrorscope aws', docs/aws.md)")
	cmd.Flags().BoolVar(&o.annotateDecap, "annotate-decap", false, "with --annotate: write mirrored packets as their inner frames (without the VXLAN/GENEVE headers)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "-", "write the report to this file instead of standard output")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress on standard error")
	cmd.Flags().IntVar(&o.workers, "workers", 1, "analyse the flows on this many engines, one goroutine each, split by flow; on 2 free cores --workers 2 measured 1.3-1.6x the speed of one core (GOMAXPROCS=1) and 1.1-1.4x that of --workers 1 with 8 bulk connections, but 0.9-1.1x that of --workers 1 with one connection, whose packets all go to one worker (docs/benchmarks.md); the report is byte-identical to --workers 1, unless the --max-flows, --memory-limit or --max-diagnosed-flows bounds are reached (they are split over the workers) or more flows end than --max-report-flows. One goroutine reads the frames into large blocks for every worker and reads the flow of each common frame (TCP or UDP over IPv4 or IPv6, plain or in VXLAN or GENEVE) from its headers; a worker decodes and analyses only the frames of the flows dealt to it (frames of other shapes, and all with --vni or --filter: every worker decodes them), so one connection never spreads over workers. --format html and --annotate need every packet in one ordered stream and run on one engine")
	return cmd
}

// inferENI gives --filter/--rule the source interface's address when
// --eni-ip is not given and the files are not a mirror stream (whose
// outer source gives each packet's direction): the capture host, the
// address in the most packets, as filter test does. It returns the note
// for the report, or nil when nothing was inferred.
func (a *analysisFlags) inferENI(paths []string) (*result.Finding, error) {
	if !a.filter.given() || len(a.eniIPs) > 0 {
		return nil, nil
	}
	if slices.Contains(paths, "-") {
		return nil, usageErr("--filter/--rule need --eni-ip (the source interface's address) when the capture is read from standard input")
	}
	in, err := mirror.InferInterface(paths, 1_000_000)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	switch {
	case in.IsMirror():
		return nil, nil
	case !in.Addr.IsValid():
		return nil, usageErr("--filter/--rule: the capture has no IP packets to infer the source interface from; give --eni-ip")
	case in.Tie:
		return nil, usageErr("--filter/--rule: cannot tell the capture host: the two busiest addresses each appear in %d packets (one conversation); give --eni-ip (the source interface's address)", in.AddrPackets)
	}
	a.eniIPs = []string{in.Addr.String()}
	return &result.Finding{
		Severity: "info",
		Kind:     "eni_inferred",
		Summary: fmt.Sprintf("the mirror filter's directions are relative to %s, taken as the capture host (the address in %d of %d IP packets); give --eni-ip to set it",
			in.Addr, in.AddrPackets, in.IPPackets),
	}, nil
}

func runAnalyze(cmd *cobra.Command, o *analyzeOpts, paths []string) error {
	switch o.format {
	case "text", "json", "html":
	default:
		return usageErr("unknown --format %q: use text, json or html", o.format)
	}
	eniNote, err := o.inferENI(paths)
	if err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	// Counter files are read first: a bad one stops before the analysis.
	var sets []*counters.Set
	for _, path := range o.counters {
		set, err := counters.Load(path)
		if err != nil {
			return usageErr("%v", err)
		}
		sets = append(sets, set)
	}
	if o.annotate != "" && o.annotate == o.output {
		return usageErr("--annotate and --output name the same file")
	}
	var col *htmlreport.Collector
	if o.format == "html" {
		col = htmlreport.NewCollector(htmlreport.CollectorConfig{})
	}

	// --annotate takes every frame from the analysis itself (one pass over
	// the input, standard input included) and writes the pcapng with the
	// verdicts once the report is known.
	var src *capture.FileSource
	var ann *annotate.Writer
	if o.annotate != "" {
		ann, err = annotate.Create(o.annotate, annotate.Options{Decap: o.annotateDecap, Tool: "mirrorscope " + toolVersion(),
			Interfaces: func() []capture.Interface { return src.Interfaces() }})
		if err != nil {
			return err
		}
		defer ann.Close()
	}
	var consumers []func(*result.PacketEvent)
	if col != nil {
		consumers = append(consumers, col.OnPacket)
	}
	if ann != nil {
		consumers = append(consumers, ann.OnPacket)
	}
	switch len(consumers) {
	case 1:
		cfg.OnPacket = consumers[0]
	case 2:
		cfg.OnPacket = func(ev *result.PacketEvent) { consumers[0](ev); consumers[1](ev) }
	}
	if o.workers < 1 {
		return usageErr("--workers must be at least 1")
	}
	rep, readErr := analyzeFiles(cmd, cfg, paths, o.quiet, o.workers, func(s *capture.FileSource) { src = s })
	if rep == nil {
		return readErr
	}
	if ann != nil {
		// After a read error too: the frames read, with their comments.
		if _, err := ann.Finish(rep); err != nil {
			return err
		}
	}

	if eniNote != nil {
		rep.Findings = append(rep.Findings, *eniNote)
	}
	if len(sets) > 0 {
		rep.Findings = append(rep.Findings, counters.Findings(rep, sets)...)
	}
	if len(o.cloudwatch) > 0 {
		f, err := analyzeCloudWatch(cmd, rep, o.cloudwatch)
		if err != nil {
			return err
		}
		rep.Findings = append(rep.Findings, f...)
	}

	out := cmd.OutOrStdout()
	var outFile *os.File
	if o.output != "-" && o.output != "" {
		outFile, err = os.Create(o.output)
		if err != nil {
			return usageErr("%v", err)
		}
		defer outFile.Close()
		out = outFile
	}
	switch o.format {
	case "json":
		err = report.WriteJSON(out, rep)
	case "html":
		bw := bufio.NewWriterSize(out, 1<<16)
		if err = htmlreport.Write(bw, rep, col.Data(), htmlreport.Options{}); err == nil {
			err = bw.Flush()
		}
	default:
		err = report.WriteText(out, rep, report.TextOptions{Color: isTerminal(out)}, report.DefaultSections()...)
	}
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	if readErr != nil {
		var ce *capture.Error
		if errors.As(readErr, &ce) {
			return &exitError{code: exitUsage, err: readErr}
		}
		return readErr
	}
	return nil
}

// analyzeFiles runs the engine over paths and returns the report; opened,
// when set, is told the source before the first frame. A read
// error that stopped the input early is returned with the report of what
// was read; a nil report means nothing could be opened.
//
// With workers > 1 and no per-packet hook, the flows are analysed on that
// many engines (engine.Parallel), with the same report.
func analyzeFiles(cmd *cobra.Command, cfg engine.Config, paths []string, quiet bool, workers int, opened func(*capture.FileSource)) (*result.Report, error) {
	// With workers the reader is a goroutine of its own already: reading
	// ahead on yet another one measured slower (docs/benchmarks.md). Its
	// read buffer is a block's, so that the source reads into the blocks
	// (no copy of the frames).
	parallel := workers > 1 && cfg.OnPacket == nil && cfg.OnFlowEnd == nil
	opt := capture.Options{}
	if parallel {
		opt = capture.Options{NoReadahead: true, BufferSize: engine.ParallelBufferSize}
	}
	src, err := capture.OpenFiles(paths, opt)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	defer src.Close()
	if opened != nil {
		opened(src)
	}
	var eng interface {
		Run(context.Context, engine.FrameSource, int) ([]uint64, error)
		AddInput(result.Input)
		Finish() *result.Report
	}
	if parallel {
		eng = engine.NewParallel(cfg, workers)
	} else {
		eng = engine.New(cfg)
	}
	stopProgress := startProgress(cmd.ErrOrStderr(), src, quiet)
	perFile := make([]uint64, len(paths))
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	counts, readErr := eng.Run(ctx, src, len(perFile))
	copy(perFile, counts)
	stopProgress()
	for i, p := range paths {
		in := result.Input{File: p, Packets: perFile[i], Bytes: src.FileBytesRead(i)}
		var ce *capture.Error
		if errors.As(readErr, &ce) && ce.File == displayName(p) {
			in.Error = ce.Error()
		}
		eng.AddInput(in)
	}
	return eng.Finish(), readErr
}

// sessionSelector returns a predicate that accepts only packets of the
// selected mirror sessions, or nil when nothing is selected.
func sessionSelector(vnis []uint, srcs []string) (func(*decode.Packet) bool, error) {
	if len(vnis) == 0 && len(srcs) == 0 {
		return nil, nil
	}
	var vset [](uint32)
	for _, v := range vnis {
		if v > 0xffffff {
			return nil, usageErr("--vni %d: a VNI has 24 bits (at most 16777215)", v)
		}
		vset = append(vset, uint32(v))
	}
	var aset []netip.Addr
	for _, s := range srcs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usageErr("--outer-src %q: not an IP address", s)
		}
		aset = append(aset, a)
	}
	return func(p *decode.Packet) bool {
		if len(vset) > 0 {
			if !p.Session.HasVNI || !slices.Contains(vset, p.Session.VNI) {
				return false
			}
		}
		if len(aset) > 0 && !slices.Contains(aset, p.Session.OuterSrc) {
			return false
		}
		return true
	}, nil
}

func displayName(p string) string {
	if p == "-" {
		return "stdin"
	}
	return p
}

// readAll feeds every frame of src to eng (reading and decoding on a second
// goroutine). It stops at the end of the input, at a final read error
// (returned), or when the command's context is cancelled (Ctrl-C: the
// report of what was read is still written).
func readAll(cmd *cobra.Command, src *capture.FileSource, eng *engine.Engine, perFile []uint64) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	counts, err := eng.Run(ctx, src, len(perFile))
	copy(perFile, counts)
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress prints bytes read of total to w every quarter second while
// w is a terminal. The returned function stops it and clears the line.
func startProgress(w io.Writer, src *capture.FileSource, quiet bool) func() {
	if quiet || !isTerminal(w) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				read, total := src.BytesRead(), src.TotalBytes()
				el := time.Since(start).Seconds()
				if total > 0 {
					fmt.Fprintf(w, "\r\033[Kreading: %5.1f%% (%s of %s, %.1f MB/s)",
						100*float64(read)/float64(total), megabytes(read), megabytes(total), float64(read)/el/1e6)
				} else {
					fmt.Fprintf(w, "\r\033[Kreading: %s (%.1f MB/s)", megabytes(read), float64(read)/el/1e6)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// megabytes is SI, as every report is (docs/report.md).
func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
