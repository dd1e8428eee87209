package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	awsx "github.com/mirrorscope/mirrorscope/internal/aws"
	"github.com/mirrorscope/mirrorscope/internal/counters"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/mirror"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/report/htmlreport"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// awsHooks let tests see and drive the phases of 'aws capture'.
type awsHooks struct {
	getenv func(string) string
	// listening is called with the VXLAN address once the listener is up.
	listening func(netip.AddrPort)
	// step is called before each phase ("target", "filter", "rule",
	// "session", "listen", "cloudwatch").
	step func(string)
}

func newAWSCmd() *cobra.Command { return newAWSCmdHooks(awsHooks{getenv: os.Getenv}) }

const awsEnvHelp = `Credentials and region come from the usual AWS chain (environment,
~/.aws files, SSO, the instance role); on EC2 the region defaults to the
instance's. Endpoints can be overridden as for the AWS CLI:
AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_CLOUDWATCH,
AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2, AWS_ENDPOINT_URL, and
AWS_EC2_METADATA_SERVICE_ENDPOINT for IMDS (docs/aws.md).`

func newAWSCmdHooks(h awsHooks) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "aws",
		Short: "Create mirror sessions that clean up after themselves, capture and analyse; remove leftovers",
		Long: `Commands that call AWS: 'aws capture' mirrors source ENIs to this
instance, analyses what arrives and deletes everything it created;
'aws cleanup' deletes what a crashed run left behind; 'aws doctor' checks
a mirroring setup.

` + awsEnvHelp + `

The least-privilege IAM policy for every mirrorscope AWS command:

` + awsx.Policy(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAWSCaptureCmd(h), newAWSCleanupCmd(h), newAWSDoctorCmd(h))
	return cmd
}

type awsCaptureOpts struct {
	sources      []string
	duration     time.Duration
	rules        []string
	filterID     string
	target       string
	packetLength int
	vxlan        string
	format       string
	output       string
	expiry       time.Duration
	noCloudWatch bool
	maxSources   int
}

func newAWSCaptureCmd(h awsHooks) *cobra.Command {
	var o awsCaptureOpts
	cmd := &cobra.Command{
		Use:   "capture --source eni-...|i-... [--source ...] [flags]",
		Short: "Mirror source ENIs to this instance for a while, analyse, fetch CloudWatch, delete the mirror",
		Long: `Run on the mirror target instance. It finds itself with IMDSv2, creates
(or reuses) a mirror target for its primary ENI, a filter (default: all TCP
in both directions, never this instance's own address) and one session per
source with a free session number, all tagged mirrorscope:owner and
mirrorscope:expires. It listens for --duration (or until Ctrl-C), then
deletes what it created (sessions, filter, target), fetches the sources'
CloudWatch metrics in one GetMetricData call and prints analyze's report
with the CloudWatch correlation. Anything that could not be deleted is
printed with the AWS CLI command that deletes it (exit 1); 'mirrorscope
aws cleanup' deletes expired leftovers.

Quotas checked before anything is created: 3 sessions per source ENI, 10
rules per filter direction, 10 sources per ENI target (--max-sources 100
on the largest instance sizes).

` + awsEnvHelp,
		Example: `  mirrorscope aws capture --source i-0123456789abcdef0 --duration 2m
  mirrorscope aws capture --source eni-0a1b2c3d --rule 'ingress 10 accept tcp dst-port 443' --rule 'egress 10 accept tcp src-port 443'
  mirrorscope aws capture --source i-0123 --format json -o report.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAWSCapture(cmd, &o, h) },
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.sources, "source", nil, "source to mirror: an ENI id (eni-...) or an instance id (i-..., its primary ENI); repeatable")
	fs.DurationVar(&o.duration, "duration", 2*time.Minute, "how long to capture")
	fs.StringArrayVar(&o.rules, "rule", nil, "filter rule in short form, e.g. 'ingress 10 accept tcp dst-port 443' (repeatable; numbers from 2: rule 1 keeps this instance's own traffic out); default all TCP both ways")
	fs.StringVar(&o.filterID, "filter", "", "use this existing traffic mirror filter (tmf-...) instead of creating one")
	fs.StringVar(&o.target, "target", "", "use this mirror target: an existing tmt-..., an NLB ARN or a GWLB endpoint (vpce-...); default this instance's ENI")
	fs.IntVar(&o.packetLength, "packet-length", 0, "bytes mirrored of each packet (0 = whole packets; 128 keeps the headers)")
	fs.StringVar(&o.vxlan, "vxlan", "0.0.0.0:4789", "ADDR:PORT to receive the mirror stream on")
	fs.StringVarP(&o.format, "format", "f", "text", "report format: text, json, or html (one self-contained page with charts; use -o; receives on one socket)")
	fs.StringVarP(&o.output, "output", "o", "-", "write the report to this file")
	fs.DurationVar(&o.expiry, "expiry", time.Hour, "the expiry tag: 'aws cleanup' deletes the resources after capture duration + this")
	fs.BoolVar(&o.noCloudWatch, "no-cloudwatch", false, "do not fetch CloudWatch metrics")
	fs.IntVar(&o.maxSources, "max-sources", awsx.SourcesPerENITarget, "sources the target ENI accepts (100 on the largest instance sizes)")
	return cmd
}

// awsClient builds the client: credentials, region (else the
// instance's, from IMDS).
func awsClient(ctx context.Context, h awsHooks, log *slog.Logger, needSelf bool) (*awsx.Client, *awsx.Self, error) {
	cfg := awsx.ConfigFromEnv(h.getenv)
	cfg.Logger = log
	var self *awsx.Self
	if needSelf || cfg.Region == "" {
		s, err := awsx.NewIMDS(cfg.IMDSEndpoint).Self(ctx)
		if err != nil {
			if needSelf {
				return nil, nil, fmt.Errorf("finding this instance: %w (aws capture runs on the mirror target instance)", err)
			}
		} else {
			self = s
			if cfg.Region == "" {
				cfg.Region = s.Region
			}
		}
	}
	if err := awsx.LoadCredentials(ctx, &cfg); err != nil {
		return nil, nil, err
	}
	c, err := awsx.New(cfg)
	return c, self, err
}

func ruleToAWS(r mirror.Rule) awsx.FilterRule {
	fr := awsx.FilterRule{Direction: r.Direction.String(), Number: r.Number, Action: r.Action.String(),
		SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0", Description: r.Description}
	if r.HasProto {
		fr.Protocol = int(r.Proto)
	}
	if r.Src.IsValid() {
		fr.SrcCIDR = r.Src.String()
	}
	if r.Dst.IsValid() {
		fr.DstCIDR = r.Dst.String()
	}
	if r.SrcPorts.Set {
		fr.SrcPorts = &awsx.PortRange{From: int(r.SrcPorts.From), To: int(r.SrcPorts.To)}
	}
	if r.DstPorts.Set {
		fr.DstPorts = &awsx.PortRange{From: int(r.DstPorts.From), To: int(r.DstPorts.To)}
	}
	return fr
}

func runAWSCapture(cmd *cobra.Command, o *awsCaptureOpts, h awsHooks) error {
	if len(o.sources) == 0 {
		return usageErr("give at least one --source eni-... or i-...")
	}
	if o.format != "text" && o.format != "json" && o.format != "html" {
		return usageErr("unknown --format %q: use text, json or html", o.format)
	}
	if o.duration <= 0 || o.packetLength < 0 || o.maxSources < 1 {
		return usageErr("--duration must be positive, --packet-length not negative, --max-sources at least 1")
	}
	if o.filterID != "" && len(o.rules) > 0 {
		return usageErr("--filter and --rule exclude each other")
	}
	var rules []awsx.FilterRule
	for _, s := range o.rules {
		r, err := mirror.ParseRule(s)
		if err != nil {
			return usageErr("--rule %q: %v", s, err)
		}
		rules = append(rules, ruleToAWS(r))
	}
	if _, err := netip.ParseAddrPort(o.vxlan); err != nil {
		return usageErr("--vxlan %q: want ADDR:PORT", o.vxlan)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	step := func(s string) {
		if h.step != nil {
			h.step(s)
		}
	}
	// The listener logs from its goroutine while this one prints.
	stderr := &lockedWriter{w: cmd.ErrOrStderr()}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, self, err := awsClient(ctx, h, log, true)
	if err != nil {
		return err
	}
	// Sources: ENI ids and their instances (for CloudWatch).
	var enis, instances []string
	for _, s := range o.sources {
		switch {
		case strings.HasPrefix(s, "i-"):
			ins, err := c.DescribeInstances(ctx, s)
			if err != nil {
				return fmt.Errorf("--source %s: %w", s, err)
			}
			if len(ins) != 1 || len(ins[0].Interfaces) == 0 {
				return fmt.Errorf("--source %s: no such instance, or it has no network interface", s)
			}
			eni := ins[0].Interfaces[0].ID
			for _, ni := range ins[0].Interfaces {
				if ni.Device == 0 {
					eni = ni.ID
				}
			}
			enis, instances = append(enis, eni), append(instances, s)
		case strings.HasPrefix(s, "eni-"):
			nis, err := c.DescribeNetworkInterfaces(ctx, s)
			if err != nil {
				return fmt.Errorf("--source %s: %w", s, err)
			}
			enis = append(enis, s)
			if len(nis) == 1 && nis[0].InstanceID != "" {
				instances = append(instances, nis[0].InstanceID)
			}
		default:
			return usageErr("--source %q: want eni-... or i-...", s)
		}
	}
	plan := awsx.Plan{Sources: enis, FilterID: o.filterID, Rules: rules, PacketLength: o.packetLength,
		SourcesPerTarget: o.maxSources, Owner: "mirrorscope@" + self.InstanceID,
		Expires: time.Now().Add(o.duration + o.expiry)}
	switch t := o.target; {
	case t == "":
		plan.TargetENI, plan.ExcludeCIDR = self.ENI, self.PrivateIP+"/32"
	case strings.HasPrefix(t, "tmt-"):
		plan.TargetID = t
	case strings.HasPrefix(t, "arn:"):
		plan.TargetNLB = t
	case strings.HasPrefix(t, "vpce-"):
		plan.TargetGWLBE = t
	default:
		return usageErr("--target %q: want tmt-..., an NLB ARN or vpce-...", t)
	}

	// The listener binds before the sessions exist, so nothing mirrored
	// is lost to a closed port.
	lcfg := listen.DefaultConfig()
	lcfg.VXLAN, lcfg.HTTP = o.vxlan, ""
	lcfg.Logger = log
	var col *htmlreport.Collector
	if o.format == "html" {
		// One engine, so that the listener's flow ids are the
		// collector's and the charts need no merging across shards.
		lcfg.Sockets, lcfg.Shards = 1, 0
		col = htmlreport.NewCollector(htmlreport.CollectorConfig{})
		lcfg.PacketHook = func(int) func(*result.PacketEvent) { return col.OnPacket }
	}
	l, err := listen.New(lcfg)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	m := awsx.NewMirror(c, log)
	m.Step = step
	teardown := func() error {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		left := m.Teardown(tctx)
		if len(left) == 0 {
			return nil
		}
		fmt.Fprintf(stderr, "mirrorscope: %d resource(s) could not be deleted; delete them with:\n", len(left))
		for _, lo := range left {
			fmt.Fprintf(stderr, "  %s    # %v\n", lo.DeleteCommand(c.Region()), lo.Err)
		}
		return fmt.Errorf("%d mirroring resource(s) left behind (commands above)", len(left))
	}
	// Run the listener for the whole setup+capture, stopping it at the end.
	lctx, stopListen := context.WithCancel(ctx)
	type listenOutcome struct {
		sum *listen.Summary
		err error
	}
	done := make(chan listenOutcome, 1)
	go func() {
		s, err := l.Run(lctx)
		done <- listenOutcome{s, err}
	}()
	stop := func() listenOutcome { stopListen(); return <-done }

	setup, err := m.Setup(ctx, plan)
	if err != nil {
		stop()
		if terr := teardown(); terr != nil {
			return fmt.Errorf("%w; %v", err, terr)
		}
		return err
	}
	fmt.Fprintf(stderr, "mirroring %s to %s with filter %s for %v (Ctrl-C stops)\n", strings.Join(enis, ", "), setup.TargetID, setup.FilterID, o.duration)
	if h.listening != nil {
		h.listening(l.VXLANAddr())
	}
	step("listen")
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	res := stop()
	end := time.Now()
	terr := teardown()
	if res.err != nil {
		return fmt.Errorf("listening: %w", res.err)
	}
	rep := &result.Report{SchemaVersion: result.SchemaVersion, Tool: "mirrorscope " + toolVersion(), Capture: res.sum.Capture,
		Flows: res.sum.Flows, Findings: res.sum.Findings,
		Inputs: []result.Input{{File: "vxlan:" + l.VXLANAddr().String(), Packets: res.sum.Listener.Accepted, Bytes: int64(res.sum.Listener.Bytes)}}}
	if !o.noCloudWatch && len(instances) > 0 {
		step("cloudwatch")
		rep.Findings = append(rep.Findings, cloudWatchFindings(context.WithoutCancel(ctx), c, rep, instances, start, end)...)
	}
	if err := writeAWSReport(cmd, o.format, o.output, rep, col); err != nil {
		return err
	}
	return terr
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cloudWatchFindings fetches the instances' metrics over the window
// and correlates them; a failed fetch is a finding, not a failed run.
func cloudWatchFindings(ctx context.Context, c *awsx.Client, rep *result.Report, instances []string, from, to time.Time) []result.Finding {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	set, err := awsx.FetchMetrics(ctx, c, instances, from, to)
	if err != nil {
		return []result.Finding{{Severity: "warning", Kind: counters.KindNote, Summary: "CloudWatch not fetched: " + err.Error()}}
	}
	n := 0
	var with []string
	for _, se := range set.Series {
		if len(se.Points) > 0 {
			n++
			with = append(with, se.Label)
		}
	}
	slices.Sort(with)
	head := result.Finding{Severity: "info", Kind: counters.KindNote,
		Summary:  fmt.Sprintf("CloudWatch: fetched %s for %s, %d metric(s) with datapoints", set.File, strings.Join(instances, ", "), n),
		Evidence: with}
	if rep.Capture.First == "" {
		return []result.Finding{head}
	}
	return append([]result.Finding{head}, counters.Findings(rep, []*counters.Set{set})...)
}

func writeAWSReport(cmd *cobra.Command, format, output string, rep *result.Report, col *htmlreport.Collector) error {
	var out io.Writer = cmd.OutOrStdout()
	if output != "-" && output != "" {
		f, err := os.Create(output)
		if err != nil {
			return usageErr("%v", err)
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriter(out)
	var err error
	switch {
	case format == "json":
		err = report.WriteJSON(bw, rep)
	case format == "html" && col != nil:
		err = htmlreport.Write(bw, rep, col.Data(), htmlreport.Options{})
	default:
		err = report.WriteText(bw, rep, report.TextOptions{Color: isTerminal(out)}, report.DefaultSections()...)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func newAWSCleanupCmd(h awsHooks) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete the mirror sessions, filters and targets whose mirrorscope:expires tag has passed",
		Long: `Delete what a crashed or killed 'aws capture' left behind: every traffic
mirror session, filter and target tagged mirrorscope:expires with a time in
the past, sessions first. Resources without the tag are never touched.

` + awsEnvHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			c, _, err := awsClient(ctx, h, log, false)
			if err != nil {
				return err
			}
			deleted, left, err := awsx.Cleanup(ctx, c, time.Now(), log)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, r := range deleted {
				fmt.Fprintf(w, "deleted %s %s\n", r.Kind, r.ID)
			}
			if len(deleted) == 0 {
				fmt.Fprintln(w, "nothing expired")
			}
			for _, l := range left {
				fmt.Fprintf(w, "NOT deleted %s %s: %v\n  %s\n", l.Kind, l.ID, l.Err, l.DeleteCommand(c.Region()))
			}
			if len(left) > 0 {
				return fmt.Errorf("%d resource(s) not deleted", len(left))
			}
			return nil
		},
	}
	return cmd
}

// analyzeCloudWatch is analyze --cloudwatch: the instances' metrics over
// the capture's window, correlated with its flows.
func analyzeCloudWatch(cmd *cobra.Command, rep *result.Report, instances []string) ([]result.Finding, error) {
	for _, in := range instances {
		if !strings.HasPrefix(in, "i-") {
			return nil, usageErr("--cloudwatch %q: want an instance id (i-...)", in)
		}
	}
	w, err := counters.ParseWindow(rep.Capture.First, rep.Capture.Last)
	if err != nil {
		return nil, usageErr("--cloudwatch: the capture has no time window: %v", err)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, _, err := awsClient(ctx, awsHooks{getenv: os.Getenv}, log, false)
	if err != nil {
		return nil, err
	}
	return cloudWatchFindings(ctx, c, rep, instances, w.Start, w.End), nil
}

func newAWSDoctorCmd(h awsHooks) *cobra.Command {
	var sources []string
	var target, format string
	var sourceMTU, targetMTU int
	var geneve bool
	cmd := &cobra.Command{
		Use:   "doctor [--source eni-...|i-...] [--target tmt-...]",
		Short: "Check a mirroring setup for the mistakes that silently lose mirrored packets",
		Long: `Check, for each source and the target (default: this instance's ENI, from
IMDSv2), that: the source instance type supports mirroring; the target's
security groups and subnet network ACL let VXLAN (UDP 4789) in from every
source (and, with --geneve, GENEVE on UDP 6081 from the Gateway Load
Balancer's interfaces); the sessions per source ENI and sources per target quotas have
room; the target's MTU holds the source MTU + 54 bytes of encapsulation
(or the sessions' PacketLength); no session is shadowed by a
lower-numbered one that accepts everything; every filter in use accepts
both directions; an NLB target's target groups have source_ip stickiness
and health checks that reach /healthz on healthy targets; and
NetworkSkipMirror* stayed 0 in the last hour. Every check names the
resource, the evidence and the fix (docs/aws.md lists them).

Exit status 1 when a check fails.

` + awsEnvHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return usageErr("unknown --format %q: use text or json", format)
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			c, self, err := awsClient(ctx, h, log, target == "")
			if err != nil {
				return err
			}
			in := awsx.DoctorInput{Sources: sources, TargetID: target, Now: time.Now(), SourceMTU: sourceMTU, TargetMTU: targetMTU, GENEVE: geneve}
			if target == "" {
				in.TargetENI = self.ENI
				if in.TargetMTU == 0 {
					in.TargetMTU = localMTU(self.PrivateIP)
				}
			}
			checks, err := awsx.Doctor(ctx, c, in)
			if err != nil {
				return err
			}
			failed := 0
			for _, ck := range checks {
				if ck.Status == awsx.StatusFail {
					failed++
				}
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					Checks []awsx.Check `json:"checks"`
					Failed int          `json:"failed"`
				}{checks, failed}); err != nil {
					return err
				}
			} else {
				for _, ck := range checks {
					fmt.Fprintf(w, "%-4s  %-22s %s\n      %s\n", strings.ToUpper(ck.Status), ck.Name, ck.Resource, ck.Evidence)
					if ck.Fix != "" {
						fmt.Fprintf(w, "      fix: %s\n", ck.Fix)
					}
				}
				fmt.Fprintf(w, "%d check(s), %d failed\n", len(checks), failed)
			}
			if failed > 0 {
				return &exitError{code: exitAnalysis, err: fmt.Errorf("%d doctor check(s) failed", failed)}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sources, "source", nil, "mirror source to check: eni-... or i-... (repeatable)")
	cmd.Flags().StringVar(&target, "target", "", "mirror target to check (tmt-...); default the target of this instance's ENI")
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	cmd.Flags().BoolVar(&geneve, "geneve", false, "this target is a Gateway Load Balancer appliance: also check UDP 6081 (GENEVE) from the GWLB's network interfaces")
	cmd.Flags().IntVar(&sourceMTU, "source-mtu", 9001, "the sources' MTU (9001 in a VPC by default, 1500 across some peerings and VPNs)")
	cmd.Flags().IntVar(&targetMTU, "target-mtu", 0, "the target interface's MTU (default: read from this instance's interface holding its private address)")
	return cmd
}

// localMTU is the MTU of the local interface holding ip (0 = not found).
func localMTU(ip string) int {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if pn, ok := a.(*net.IPNet); ok && pn.IP.String() == ip {
				return ifc.MTU
			}
		}
	}
	return 0
}
