package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Brokers are the seed brokers (HOST:PORT).
	Brokers []string
	// TopicPrefix names the topics: PREFIX.flows, PREFIX.findings,
	// PREFIX.series (series and summaries).
	TopicPrefix string
	// Target names this mirror target in every record (default: the
	// host name).
	Target string
	// TLS, when set, connects with TLS.
	TLS *tls.Config
	// MaxBuffered is the most records held for the brokers; past it
	// records are dropped and counted (never waited for).
	MaxBuffered int
	// Sources maps outer source addresses to ENIs and instances (nil:
	// records are keyed by outer source address).
	Sources *Sources
	// FlushTimeout bounds how long Close waits for buffered records.
	FlushTimeout time.Duration
	// DegradedAfter: /healthz says degraded when records have waited
	// this long without the brokers acknowledging any.
	DegradedAfter time.Duration
	Logger        *slog.Logger
}

// DefaultPublisherConfig returns the defaults of listen --kafka.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{TopicPrefix: "mirrorscope", MaxBuffered: 100000,
		FlushTimeout: 10 * time.Second, DegradedAfter: 5 * time.Second}
}

// Topics returns the topic names of a prefix: flows, findings, series.
func Topics(prefix string) (flows, findings, series string) {
	return prefix + ".flows", prefix + ".findings", prefix + ".series"
}

// Publisher is a listen.Tap that produces the listener's records to
// Kafka. Its Tap methods run on the listener's sink goroutine and never
// wait for the brokers.
type Publisher struct {
	cfg                      PublisherConfig
	cl                       *kgo.Client
	topicFlows, topicFinds   string
	topicSeries              string
	boot                     string
	seq                      uint64
	buf                      bytes.Buffer
	enc                      *json.Encoder
	prev                     map[string]sessCount
	prevT                    time.Time
	cancelPing               context.CancelFunc
	pingDone                 chan struct{}
	closeOnce                sync.Once
	produced, dropFull       atomic.Uint64
	dropErr, dropClose       atomic.Uint64
	lastOK, lastErr, pingErr atomic.Int64 // unix ns
	log                      *slog.Logger
}

type sessCount struct {
	packets, bytes, drops, truncated uint64
	dir                              listen.DirCounts
}

// NewPublisher connects lazily: it returns without waiting for a broker,
// and franz-go reconnects by itself for as long as the publisher runs.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	d := DefaultPublisherConfig()
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = d.TopicPrefix
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = d.MaxBuffered
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = d.FlushTimeout
	}
	if cfg.DegradedAfter <= 0 {
		cfg.DegradedAfter = d.DegradedAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := &Publisher{cfg: cfg, boot: hex.EncodeToString(b[:]), prev: map[string]sessCount{}, prevT: time.Now(), log: cfg.Logger}
	p.topicFlows, p.topicFinds, p.topicSeries = Topics(cfg.TopicPrefix)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("mirrorscope-listen"),
		// Idempotent writes are franz-go's default (acks=all, producer
		// id and sequence numbers): retries after a broker comes back
		// never duplicate a record in the log.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(cfg.MaxBuffered),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.RetryBackoffFn(func(n int) time.Duration { return min(time.Duration(n)*100*time.Millisecond, time.Second) }),
	}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	p.cl = cl
	p.enc = json.NewEncoder(&p.buf)
	p.enc.SetEscapeHTML(false)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelPing, p.pingDone = cancel, make(chan struct{})
	go p.pinger(ctx)
	return p, nil
}

// pinger asks a broker every second so /healthz knows the brokers are
// down even when nothing is being produced.
func (p *Publisher) pinger(ctx context.Context) {
	defer close(p.pingDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.cl.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.pingErr.Store(time.Now().UnixNano())
		} else {
			p.pingErr.Store(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Publisher) header(typ string, src *Source) Header {
	p.seq++
	return Header{SchemaVersion: SchemaVersion, Type: typ, Target: p.cfg.Target, Seq: p.seq, Boot: p.boot, Source: src}
}

// produce encodes v and hands it to the client without waiting.
func (p *Publisher) produce(topic, key string, v any) {
	p.buf.Reset()
	if err := p.enc.Encode(v); err != nil {
		p.dropErr.Add(1)
		return
	}
	val := bytes.TrimSuffix(p.buf.Bytes(), []byte("\n"))
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: append([]byte(nil), val...)}
	p.cl.TryProduce(context.Background(), r, p.promise)
}

func (p *Publisher) promise(_ *kgo.Record, err error) {
	switch {
	case err == nil:
		p.produced.Add(1)
		p.lastOK.Store(time.Now().UnixNano())
	case errors.Is(err, kgo.ErrMaxBuffered):
		p.dropFull.Add(1)
	case errors.Is(err, kgo.ErrClientClosed), errors.Is(err, context.Canceled):
		p.dropClose.Add(1)
	default:
		p.dropErr.Add(1)
		p.lastErr.Store(time.Now().UnixNano())
	}
}

func (p *Publisher) sessionSource(ref *result.SessionRef) *Source {
	if ref == nil {
		s := Source{Key: p.cfg.Target, KeyKind: "target"}
		return &s
	}
	s := p.cfg.Sources.Source(ref.OuterSrc, ref.VNI)
	return &s
}

// Flow implements listen.Tap.
func (p *Publisher) Flow(f *result.Flow, interim bool) {
	src := p.sessionSource(f.Session)
	p.produce(p.topicFlows, src.Key, &FlowRecord{Header: p.header(TypeFlow, src), Interim: interim, Flow: f})
}

// Finding implements listen.Tap. Findings are keyed by target: a
// finding can span several sessions.
func (p *Publisher) Finding(f *result.Finding) {
	p.produce(p.topicFinds, p.cfg.Target, &FindingRecord{Header: p.header(TypeFinding, nil), Finding: f})
}

// Sessions implements listen.Tap: each session with traffic since the
// last snapshot becomes one series record.
func (p *Publisher) Sessions(now time.Time, ss []listen.SessionInfo) {
	iv := now.Sub(p.prevT).Seconds()
	p.prevT = now
	for i := range ss {
		s := &ss[i]
		if s.Overflow {
			continue
		}
		k := s.OuterSrc + "|" + strconv.FormatUint(uint64(s.VNI), 10) + "|" + s.GWLBEndpointID
		c := sessCount{s.Packets, s.Bytes, s.Drops, s.Truncated, s.DirCounts}
		// A session not seen before starts from zero: the listener's
		// counters start with it, so the series add up to its totals.
		old := p.prev[k]
		p.prev[k] = c
		if c.packets == old.packets && c.drops == old.drops {
			continue
		}
		src := p.cfg.Sources.Source(s.OuterSrc, s.VNI)
		r := &SeriesRecord{Header: p.header(TypeSeries, &src), Time: now.UTC().Format(time.RFC3339Nano), UnixMS: now.UnixMilli(),
			IntervalS: iv, OuterDst: s.OuterDst, Encap: s.Encap, GWLBEndpointID: s.GWLBEndpointID,
			Packets: c.packets - old.packets, Bytes: c.bytes - old.bytes, Drops: c.drops - old.drops, Truncated: c.truncated - old.truncated,
			DirCounts: listen.DirCounts{InPackets: c.dir.InPackets - old.dir.InPackets, InBytes: c.dir.InBytes - old.dir.InBytes,
				OutPackets: c.dir.OutPackets - old.dir.OutPackets, OutBytes: c.dir.OutBytes - old.dir.OutBytes}}
		if iv > 0 {
			r.BPS = float64(r.Bytes) * 8 / iv
		}
		p.produce(p.topicSeries, src.Key, r)
	}
}

// Summary implements listen.Tap.
func (p *Publisher) Summary(s *listen.Summary) {
	p.produce(p.topicSeries, p.cfg.Target, &SummaryRecord{Header: p.header(TypeSummary, nil), Listener: s.Listener, Capture: s.Capture})
}

// Close flushes what the brokers can take within FlushTimeout; what is
// left is counted as dropped (reason "closed").
func (p *Publisher) Close() error {
	var err error
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.FlushTimeout)
		ferr := p.cl.Flush(ctx)
		cancel()
		p.cancelPing()
		<-p.pingDone
		p.cl.Close()
		if ferr != nil {
			err = fmt.Errorf("kafka: flushing at exit: %w (%d records dropped)", ferr, p.dropClose.Load())
		}
	})
	return err
}

// Stats are the publisher's counters.
type Stats struct {
	Produced, Buffered                        uint64
	DroppedFull, DroppedError, DroppedAtClose uint64
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	return Stats{Produced: p.produced.Load(), Buffered: uint64(max(p.cl.BufferedProduceRecords(), 0)),
		DroppedFull: p.dropFull.Load(), DroppedError: p.dropErr.Load(), DroppedAtClose: p.dropClose.Load()}
}

// Health is nil while the brokers take records, and says why not
// otherwise: no broker answers, or records have waited DegradedAfter
// without an acknowledgement.
func (p *Publisher) Health() error {
	if t := p.pingErr.Load(); t != 0 {
		return fmt.Errorf("kafka: no broker answers (since %s)", time.Unix(0, t).UTC().Format(time.RFC3339))
	}
	if p.cl.BufferedProduceRecords() > 0 {
		ok := p.lastOK.Load()
		if ok == 0 || time.Since(time.Unix(0, ok)) > p.cfg.DegradedAfter {
			return fmt.Errorf("kafka: %d records waiting, none acknowledged for %s", p.cl.BufferedProduceRecords(), p.cfg.DegradedAfter)
		}
	}
	if e := p.lastErr.Load(); e != 0 && e > p.lastOK.Load() {
		return errors.New("kafka: the last produce failed")
	}
	return nil
}

var (
	descProduced = prometheus.NewDesc("mirrorscope_kafka_records_produced_total", "Records the brokers acknowledged.", nil, nil)
	descDropped  = prometheus.NewDesc("mirrorscope_kafka_records_dropped_total", "Records not published, by reason: buffer_full (the bounded buffer was full: the brokers were slow or down), error (a produce failed), closed (still buffered at exit).", []string{"reason"}, nil)
	descBuffered = prometheus.NewDesc("mirrorscope_kafka_records_buffered", "Records waiting for the brokers.", nil, nil)
	descUp       = prometheus.NewDesc("mirrorscope_kafka_up", "1 while the brokers take records, 0 when degraded (as /healthz).", nil, nil)
)

// Describe implements prometheus.Collector.
func (p *Publisher) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(p, ch) }

// Collect implements prometheus.Collector.
func (p *Publisher) Collect(ch chan<- prometheus.Metric) {
	s := p.Stats()
	ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, float64(s.Produced))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.DroppedFull), "buffer_full")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.DroppedError), "error")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.DroppedAtClose), "closed")
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(s.Buffered))
	up := 1.0
	if p.Health() != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}

var _ listen.Tap = (*Publisher)(nil)
