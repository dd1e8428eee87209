package diagnose

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// replayPkt is one packet of the largest flow with its TCP analysis, as
// the engine hands them to Observe.
type replayPkt struct {
	ts  int64
	dir int
	p   decode.Packet
	r   tcpseq.Result
}

// replayRec is the part of a replayPkt that Observe reads, a third of its
// size: the benchmark copies it into one packet and result, which stay in
// L1 as the engine's do, instead of streaming whole packets from memory.
type replayRec struct {
	ts                   int64
	frameLen, payloadLen uint32
	rflags               tcpseq.Flag
	rwin                 uint32
	dir                  uint8
	tos                  uint8
	tcp                  decode.TCP
}

// BenchmarkObserveReplay times Observe alone over packets of a real
// capture's largest flow, in the steady state of a long flow: the first
// warm packets are observed before the clock starts (so the record
// buffer is full, as it is for most of a large capture) and every
// iteration starts from a copy of that state. With
// MIRRORSCOPE_BENCH_PCAP (docs/benchmarks.md) it replays the bulk
// transfer the engine benchmark reads; the default is a lab capture.
func BenchmarkObserveReplay(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	warm, n := 300_000, 300_000
	if path == "" {
		path = "testdata/eval/eval2_shaper_delay/eval2_shaper_delay.srv.pcap.gz"
		warm, n = 2_000, 14_000
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("capture %s not present", path)
	}
	pkts := readReplay(b, path, warm+n)
	if len(pkts) < warm+1 {
		b.Skipf("%s: only %d packets in its largest flow", path, len(pkts))
	}
	cfg := DefaultConfig()
	if path != os.Getenv("MIRRORSCOPE_BENCH_PCAP") {
		cfg.MaxRecords = 1000 // the small capture: reach the steady state too
	}
	base := NewFlow(cfg)
	for i := range pkts[:warm] {
		q := &pkts[i]
		base.Observe(q.ts, q.dir, &q.p, &q.r)
	}
	run := make([]replayRec, 0, len(pkts)-warm)
	for i := range pkts[warm:] {
		q := &pkts[warm+i]
		run = append(run, replayRec{ts: q.ts, frameLen: q.p.FrameLen, payloadLen: q.p.PayloadLen,
			rflags: q.r.Flags, rwin: q.r.Window, dir: uint8(q.dir), tos: q.p.TOS, tcp: q.p.TCP})
	}
	pkts = nil
	f := new(Flow)
	b.ReportAllocs()
	for b.Loop() {
		*f = *base
		replay(f, run)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(run)), "ns/pkt")
}

// replay feeds run to f. It is a function of its own so that
// instruction-counting profilers can be limited to it, e.g.
//
//	GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1 valgrind --tool=callgrind \
//	    --toggle-collect='*diagnose.replay' diagnose.test -test.bench ObserveReplay ...
//
//go:noinline
func replay(f *Flow, run []replayRec) {
	p := decode.Packet{IPVersion: 4, Proto: 6, L4: true}
	var r tcpseq.Result
	for i := range run {
		q := &run[i]
		p.FrameLen, p.PayloadLen, p.TOS, p.TCP = q.frameLen, q.payloadLen, q.tos, q.tcp
		r.Flags, r.Window = q.rflags, q.rwin
		f.Observe(q.ts, int(q.dir), &p, &r)
	}
}

// readReplay returns up to max packets of the flow with the most packets
// among the first 4*max TCP packets of path, analysed by tcpseq.
func readReplay(tb testing.TB, path string, max int) []replayPkt {
	rc, err := openMaybeGzip(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	r, err := pcapgo.NewReader(rc)
	if err != nil {
		tb.Fatal(err)
	}
	dec := decode.New(decode.DefaultConfig())
	link := decode.LinkType(r.LinkType())
	type ent struct {
		client netip.AddrPort
		pkts   []replayPkt
	}
	flows := map[flowKey]*ent{}
	var best *ent
	for read := 0; read < 4*max; read++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		var p decode.Packet
		if dec.Decode(data, link, uint32(ci.Length), &p) != nil || !p.HasTCP() {
			continue
		}
		src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
		k := flowKey{a: src, b: dst, outer: p.Session.OuterSrc, vni: p.Session.VNI}
		if dst.Addr().Less(src.Addr()) || dst.Addr() == src.Addr() && dst.Port() < src.Port() {
			k.a, k.b = dst, src
		}
		fl := flows[k]
		if fl == nil {
			fl = &ent{client: src}
			if p.TCP.Flags&decode.TCPSyn != 0 && p.TCP.Flags&decode.TCPAck != 0 {
				fl.client = dst
			}
			flows[k] = fl
		}
		if len(fl.pkts) < max {
			dir := 1
			if src == fl.client {
				dir = 0
			}
			fl.pkts = append(fl.pkts, replayPkt{ts: ci.Timestamp.UnixNano(), dir: dir, p: p})
		}
		if best == nil || len(fl.pkts) > len(best.pkts) {
			best = fl
		}
	}
	if best == nil {
		return nil
	}
	conn := tcpseq.NewConn(tcpseq.Config{})
	for i := range best.pkts {
		q := &best.pkts[i]
		conn.Analyze(&q.p, q.ts, &q.r)
	}
	return best.pkts
}

// BenchmarkFinishReplay times Finish alone on the largest flow of a
// capture (MIRRORSCOPE_BENCH_PCAP, else a lab capture), observed whole
// beforehand: with a bulk transfer its record buffer holds MaxRecords
// records, and Finish's passes over them are most of its cost. Every
// iteration finishes a fresh copy of the observed flow (the copy is not
// timed: Finish marks the records and gives them back).
func BenchmarkFinishReplay(b *testing.B) {
	path := os.Getenv("MIRRORSCOPE_BENCH_PCAP")
	n := 400_000
	if path == "" {
		path = "testdata/eval/eval2_shaper_delay/eval2_shaper_delay.srv.pcap.gz"
		n = 16_000
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("capture %s not present", path)
	}
	pkts := readReplay(b, path, n)
	base := NewFlow(DefaultConfig())
	for i := range pkts {
		q := &pkts[i]
		base.Observe(q.ts, q.dir, &q.p, &q.r)
	}
	pkts = nil
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f := cloneFlow(base)
		b.StartTimer()
		f.Finish()
	}
	recs := base.d[0].rb.n + base.d[1].rb.n
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(1, recs)), "ns/rec")
}

// cloneFlow copies f with record buffers of its own, so that Finish on
// the copy leaves f as it was.
func cloneFlow(f *Flow) *Flow {
	c := new(Flow)
	*c = *f
	for i := range c.d {
		d := &c.d[i]
		d.rb.chunks = nil
		for _, ch := range f.d[i].rb.chunks {
			d.rb.chunks = append(d.rb.chunks, append(make([]rec, 0, cap(ch)), ch...))
		}
		if len(d.rb.chunks) > 0 {
			d.rb.cur = &d.rb.chunks[len(d.rb.chunks)-1]
		}
		d.s100.pts = append([]float64(nil), d.s100.pts...)
		d.s1s.pts = append([]float64(nil), d.s1s.pts...)
		d.sAck.pts = append([]float64(nil), d.sAck.pts...)
		d.sAckTS.pts = append([]float64(nil), d.sAckTS.pts...)
		d.bins[2].series, d.bins[3].series = &d.s100, &d.s1s
		d.ackBins.series, d.ackBinsTS.series = &d.sAck, &d.sAckTS
		for j := 1; j < len(d.bins); j++ {
			d.bins[j-1].next = &d.bins[j]
		}
	}
	c.cfg.Records = nil
	return c
}
