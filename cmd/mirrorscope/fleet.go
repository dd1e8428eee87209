package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrorscope/mirrorscope/internal/fleet"
)

type fleetOpts struct {
	brokers, group, topic, http, format, out string
	since                                    time.Duration
	tls                                      bool
	tlsCA, tlsCert, tlsKey                   string
	quiet                                    bool
}

func newFleetCmd() *cobra.Command {
	var o fleetOpts
	cmd := &cobra.Command{
		Use:   "fleet --kafka BROKERS [flags]",
		Short: "One view of many mirror targets: read what every 'listen --kafka' published, merge and correlate it",
		Long: `Read the records that 'mirrorscope listen --kafka' targets publish (flows,
findings, per-second session series) as a member of a Kafka consumer group,
merge them per mirror source (instance, ENI or outer source address), and
correlate across targets: ceilings shared by the ENIs of one instance,
sources policed near the same rate, and half flows (one direction only:
the load balancer splits connections between targets).

Several fleet processes in one --group split the partitions; each rebuilds
its partitions from the window's start (--since), so nothing is lost or
counted twice when partitions move. Serves a page, /metrics, /healthz and
/api/report on --http; writes the fleet report (--format text or json) to
--out at exit (SIGINT/SIGTERM). See docs/fleet.md.`,
		Example: `  mirrorscope fleet --kafka b-1.msk.example:9092,b-2.msk.example:9092
  mirrorscope fleet --kafka localhost:9092 --group ops --since 1h --format json -o fleet.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFleet(cmd, &o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.brokers, "kafka", "", "Kafka brokers HOST:PORT,... (required)")
	fs.StringVar(&o.group, "group", "mirrorscope-fleet", "consumer group: fleet processes of one group split the partitions")
	fs.StringVar(&o.topic, "kafka-topic", "mirrorscope", "topic prefix, as given to listen --kafka-topic")
	fs.DurationVar(&o.since, "since", time.Hour, "read the records of this last span on every partition (0 = all the topics retain)")
	fs.StringVar(&o.http, "http", "127.0.0.1:9181", "ADDR:PORT of the page, /metrics, /healthz and /api ('' = off)")
	fs.StringVar(&o.format, "format", "text", "report format at exit: text or json")
	fs.StringVarP(&o.out, "out", "o", "-", "write the report at exit to this file ('-' = standard output)")
	fs.BoolVar(&o.tls, "kafka-tls", false, "connect with TLS")
	fs.StringVar(&o.tlsCA, "kafka-tls-ca", "", "PEM CA certificates of the brokers (implies --kafka-tls)")
	fs.StringVar(&o.tlsCert, "kafka-tls-cert", "", "PEM client certificate (implies --kafka-tls)")
	fs.StringVar(&o.tlsKey, "kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "log only warnings and errors")
	return cmd
}

func runFleet(cmd *cobra.Command, o *fleetOpts) error {
	var brokers []string
	for _, b := range strings.Split(o.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return usageErr("fleet needs --kafka BROKERS")
	}
	if o.format != "text" && o.format != "json" {
		return usageErr("--format %q: want text or json", o.format)
	}
	if o.since < 0 {
		return usageErr("--since must not be negative")
	}
	tc, err := kafkaTLS(o.tls, o.tlsCA, o.tlsCert, o.tlsKey)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	view := fleet.NewView(fleet.DefaultViewConfig())
	c, err := fleet.NewConsumer(fleet.ConsumerConfig{Brokers: brokers, Group: o.group, TopicPrefix: o.topic, TLS: tc, Since: o.since, Logger: log}, view)
	if err != nil {
		return usageErr("--kafka: %v", err)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var srv *http.Server
	if o.http != "" && o.http != "off" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return usageErr("--http: %v", err)
		}
		srv = &http.Server{Handler: view.Handler(c.Health), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		log.Info("fleet view", "http", ln.Addr().String(), "group", o.group)
	}
	runErr := c.Run(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	var w io.Writer = cmd.OutOrStdout()
	var file *os.File
	if o.out != "-" && o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return errors.Join(runErr, fmt.Errorf("--out: %w", err))
		}
		w, file = f, f
	}
	rep := view.Report()
	if o.format == "json" {
		err = rep.WriteJSON(w)
	} else {
		err = rep.WriteText(w)
	}
	if file != nil {
		err = errors.Join(err, file.Close())
	}
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("writing the report: %w", err))
	}
	return runErr
}
