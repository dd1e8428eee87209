package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Brokers     []string
	Group       string
	TopicPrefix string
	TLS         *tls.Config
	// Since is the window read on every partition this process is given:
	// records of the last Since (0: from the start of the topics'
	// retention).
	Since  time.Duration
	Logger *slog.Logger
	// Opts are further franz-go options (tests: shorter timeouts).
	Opts []kgo.Opt
}

// Consumer feeds a View from the three topics as a member of a
// consumer group.
type Consumer struct {
	cfg  ConsumerConfig
	view *View
	cl   *kgo.Client
	// closing: the partitions given up when leaving the group at exit
	// stay in the view, for the report written at exit.
	closing atomic.Bool
}

// NewConsumer joins the group when Run starts polling.
func NewConsumer(cfg ConsumerConfig, view *View) (*Consumer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	if cfg.Group == "" {
		cfg.Group = "mirrorscope-fleet"
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "mirrorscope"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{cfg: cfg, view: view}
	start := kgo.NewOffset().AtStart()
	if cfg.Since > 0 {
		start = kgo.NewOffset().AfterMilli(time.Now().Add(-cfg.Since).UnixMilli())
	}
	f, fi, s := Topics(cfg.TopicPrefix)
	drop := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		if c.closing.Load() {
			return
		}
		for t, ps := range m {
			view.Drop(t, ps)
			cfg.Logger.Info("partitions moved away", "topic", t, "partitions", ps)
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("mirrorscope-fleet"),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(f, fi, s),
		// Offsets are never committed: a process given a partition
		// rebuilds its view of it from the window's start, and counts
		// each record once by its offset.
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(start),
		// The range balancer gives a member the same partition numbers of
		// every topic (they have as many partitions): a source's flows
		// and series, keyed alike, land in the same process.
		kgo.Balancers(kgo.RangeBalancer()),
		// Revocations run between our batches, never during one.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(drop),
		kgo.OnPartitionsLost(drop),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS))
	}
	opts = append(opts, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Run consumes until ctx ends, then leaves the group and closes.
func (c *Consumer) Run(ctx context.Context) error {
	defer func() {
		c.closing.Store(true)
		c.cl.Close()
	}()
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.cl.AllowRebalance()
			return nil
		}
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.cfg.Logger.Warn("kafka fetch", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			c.view.Apply(r.Topic, r.Partition, r.Offset, r.Value)
		})
		c.cl.AllowRebalance()
	}
}

// Health is nil while a broker answers.
func (c *Consumer) Health() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: no broker answers: %w", err)
	}
	return nil
}
