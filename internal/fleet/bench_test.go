package fleet

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// benchFlow is a real flow: the policed flow of testdata/policer as the
// engine reports it, with its TCP analysis and diagnosis.
func benchFlow(b *testing.B) *result.Flow {
	r, err := engine.AnalyzeFiles(engine.DefaultConfig(), "../../testdata/policer/policer.mon.pcap")
	if err != nil {
		b.Fatal(err)
	}
	f := r.Flows[0]
	if f.Diagnosis == nil {
		b.Fatal("no diagnosis")
	}
	return &f
}

func cpuNS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkPublishFlow: publishing one flow record (a policed TCP flow
// with its full analysis, ~3 KB of JSON) to an in-process Kafka-protocol
// cluster over loopback. ns/op is the time on the listener's sink
// goroutine (encode + hand to the client); cpu-ns/record is the whole
// process's CPU per acknowledged record, franz-go's goroutines and the
// in-process broker included (an upper bound for the target's cost).
// drops must be 0: the buffer (100 000 records) absorbs the bursts.
func BenchmarkPublishFlow(b *testing.B) {
	c := newCluster(b, 4)
	defer c.Close()
	pc := DefaultPublisherConfig()
	pc.Brokers, pc.TopicPrefix, pc.Target = c.ListenAddrs(), testPrefix, "bench"
	p, err := NewPublisher(pc)
	if err != nil {
		b.Fatal(err)
	}
	f := benchFlow(b)
	b.ReportAllocs()
	cpu0, t0 := cpuNS(), time.Now()
	n := 0
	for b.Loop() {
		p.Flow(f, false)
		n++
	}
	b.StopTimer()
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	cpu, wall := cpuNS()-cpu0, time.Since(t0)
	s := p.Stats()
	if s.Produced != uint64(n) {
		b.Fatalf("produced %+v of %d", s, n)
	}
	b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/record")
	b.ReportMetric(float64(n)/wall.Seconds(), "records/s")
	b.ReportMetric(float64(s.DroppedFull+s.DroppedError+s.DroppedAtClose), "drops")
}

// BenchmarkEncodeFlow: the JSON encoding alone of the record of
// BenchmarkPublishFlow (the part of its cost the listener's JSON lines
// pay too).
func BenchmarkEncodeFlow(b *testing.B) {
	f := benchFlow(b)
	p := &Publisher{cfg: PublisherConfig{Target: "bench"}}
	p.enc = json.NewEncoder(&p.buf)
	b.ReportAllocs()
	for b.Loop() {
		p.buf.Reset()
		src := p.sessionSource(f.Session)
		if err := p.enc.Encode(&FlowRecord{Header: p.header(TypeFlow, src), Flow: f}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.buf.Len()), "bytes/record")
}

// BenchmarkListenPublish: the whole process's CPU per million packets
// for a real listener receiving the policer lab capture (one flow ends
// every ~1000 packets) replayed b.N times over loopback, without and
// with publishing to an in-process Kafka-protocol cluster. The
// difference between the two is what publishing costs (the sender and,
// for kafka, the broker are in the process too). drops counts records
// the publisher dropped; kernel-drops datagrams the listener's socket
// dropped (the sender is faster than the listener).
func BenchmarkListenPublish(b *testing.B) {
	for _, kafka := range []bool{false, true} {
		name := "off"
		if kafka {
			name = "kafka"
		}
		b.Run(name, func(b *testing.B) {
			cfg := listen.DefaultConfig()
			cfg.VXLAN, cfg.HTTP, cfg.Sockets, cfg.RcvBuf = "127.0.0.1:0", "", 1, 32<<20
			cfg.Engine = engine.DefaultConfig()
			cfg.ReportInterval = 0
			var pub *Publisher
			if kafka {
				c := newCluster(b, 4)
				defer c.Close()
				pc := DefaultPublisherConfig()
				pc.Brokers, pc.TopicPrefix, pc.Target = c.ListenAddrs(), testPrefix, "bench"
				p, err := NewPublisher(pc)
				if err != nil {
					b.Fatal(err)
				}
				pub = p
				cfg.Taps = []listen.Tap{p}
			}
			l, err := listen.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan *listen.Summary, 1)
			go func() { s, _ := l.Run(ctx); done <- s }()
			cpu0 := cpuNS()
			st, err := listen.Replay(context.Background(), listen.ReplayConfig{Files: []string{"../../testdata/policer/policer.srv.pcap"},
				To: l.VXLANAddr().String(), VNI: 1, Encap: "vxlan", Sources: 4, Loop: b.N, Decode: decode.DefaultConfig(), NoRaw: true})
			if err != nil {
				b.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			cancel()
			sum := <-done
			cpu := cpuNS() - cpu0
			b.ReportMetric(float64(cpu)/1e6/(float64(st.Sent)/1e6), "cpu-ms/Mpkt")
			b.ReportMetric(float64(sum.Listener.KernelDrops), "kernel-drops")
			if pub != nil {
				s := pub.Stats()
				b.ReportMetric(float64(s.Produced), "records")
				b.ReportMetric(float64(s.DroppedFull+s.DroppedError+s.DroppedAtClose), "drops")
			}
		})
	}
}
