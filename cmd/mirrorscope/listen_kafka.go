package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mirrorscope/mirrorscope/internal/fleet"
	"github.com/mirrorscope/mirrorscope/internal/listen"
)

// kafkaOpts are listen's --kafka flags (publishing to the fleet).
type kafkaOpts struct {
	brokers, topic, target, sources string
	tls                             bool
	tlsCA, tlsCert, tlsKey          string
	buffer                          int
}

func (k *kafkaOpts) bind(fs *pflag.FlagSet) {
	fs.StringVar(&k.brokers, "kafka", "", "publish flows, findings and per-second session series to these Kafka brokers (HOST:PORT,...); see docs/fleet.md")
	fs.StringVar(&k.topic, "kafka-topic", "mirrorscope", "topic prefix: PREFIX.flows, PREFIX.findings, PREFIX.series")
	fs.StringVar(&k.target, "kafka-target", "", "this target's name in the records (default: the host name)")
	fs.StringVar(&k.sources, "kafka-sources", "", "file of 'ADDRESS ENI [INSTANCE]' lines: key records by instance or ENI instead of the outer source address")
	fs.IntVar(&k.buffer, "kafka-buffer", fleet.DefaultPublisherConfig().MaxBuffered, "records held while the brokers are slow or down; past it records are dropped and counted")
	fs.BoolVar(&k.tls, "kafka-tls", false, "connect to the brokers with TLS (system roots unless --kafka-tls-ca)")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM file of the CA certificates that sign the brokers' certificates (implies --kafka-tls)")
	fs.StringVar(&k.tlsCert, "kafka-tls-cert", "", "PEM client certificate for mutual TLS (implies --kafka-tls; with --kafka-tls-key)")
	fs.StringVar(&k.tlsKey, "kafka-tls-key", "", "PEM key of --kafka-tls-cert")
}

// apply adds the publisher to cfg's taps, /healthz and /metrics.
func (k *kafkaOpts) apply(cfg *listen.Config) error {
	if k.brokers == "" {
		return nil
	}
	pc := fleet.DefaultPublisherConfig()
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			pc.Brokers = append(pc.Brokers, b)
		}
	}
	pc.TopicPrefix, pc.MaxBuffered, pc.Logger = k.topic, k.buffer, cfg.Logger
	pc.Target = k.target
	if pc.Target == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--kafka-target: no host name: %w", err)
		}
		pc.Target = h
	}
	if k.sources != "" {
		s, err := fleet.LoadSources(k.sources)
		if err != nil {
			return usageErr("--kafka-sources: %v", err)
		}
		pc.Sources = s
	}
	tc, err := kafkaTLS(k.tls, k.tlsCA, k.tlsCert, k.tlsKey)
	if err != nil {
		return err
	}
	pc.TLS = tc
	p, err := fleet.NewPublisher(pc)
	if err != nil {
		return usageErr("--kafka: %v", err)
	}
	cfg.Taps = append(cfg.Taps, p)
	cfg.Health = append(cfg.Health, p.Health)
	cfg.Collectors = append(cfg.Collectors, p)
	return nil
}

// kafkaTLS builds the TLS config of the --kafka-tls flags (nil: plain).
func kafkaTLS(on bool, ca, cert, key string) (*tls.Config, error) {
	if !on && ca == "" && cert == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, usageErr("--kafka-tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("--kafka-tls-ca %s: no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if cert != "" || key != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, usageErr("--kafka-tls-cert/--kafka-tls-key: %v", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}
