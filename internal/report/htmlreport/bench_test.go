package htmlreport

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// recorded is one OnPacket call of a real capture, kept by value.
type recorded struct {
	p   decode.Packet
	r   tcpseq.Result
	id  uint64
	d   flow.Dir
	ts  int64
	len uint64
}

// record runs the engine over a real capture and keeps every TCP packet's
// decode and analysis, so the collector can be replayed without the engine.
func record(t testing.TB, path string) (recs []recorded, first int64, span int64) {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.OnPacket = func(ev *result.PacketEvent) {
		p, f, d, r := ev.Packet, ev.Flow, ev.Dir, ev.TCP
		if f == nil || r == nil {
			return
		}
		if first == 0 || f.First < first {
			first = f.First
		}
		recs = append(recs, recorded{p: *p, r: *r, id: f.ID, d: d, ts: ev.TS, len: uint64(p.FrameLen)})
	}
	runEngine(t, cfg, path)
	span = recs[len(recs)-1].ts - first + 1e6
	return recs, first, span
}

// replayer feeds recorded packets again and again, each lap later in time
// (so series keep growing and decimation runs) with the flows' byte
// counts growing as in a long capture.
type replayer struct {
	recs  []recorded
	flows map[uint64]*flow.Flow
	first int64
	span  int64
	lap   int64
}

func newReplayer(recs []recorded, first, span int64) *replayer {
	r := &replayer{recs: recs, flows: map[uint64]*flow.Flow{}, first: first, span: span}
	for _, x := range recs {
		if r.flows[x.id] == nil {
			r.flows[x.id] = &flow.Flow{ID: x.id, First: first}
		}
	}
	return r
}

func (r *replayer) lapOnce(c *Collector) {
	off := r.lap * r.span
	for i := range r.recs {
		x := &r.recs[i]
		f := r.flows[x.id]
		f.Dir[x.d&1].Bytes += x.len
		f.Last = x.ts + off
		c.OnPacket(&result.PacketEvent{Frame: uint64(i), TS: f.Last, Packet: &x.p, Flow: f, Dir: x.d, TCP: &x.r})
	}
	r.lap++
}

func TestCollectorSteadyStateAllocs(t *testing.T) {
	recs, first, span := record(t, testdata("policer", "policer.cli.pcap"))
	rp := newReplayer(recs, first, span)
	c := NewCollector(CollectorConfig{})
	// 3000 points a series: fill every buffer (the sparsest, the 10 data segments
	// a lap of the small control flow, after 300 laps) and decimate
	for range 400 {
		rp.lapOnce(c)
	}
	if a := testing.AllocsPerRun(5, func() { rp.lapOnce(c) }); a != 0 {
		t.Errorf("%.1f allocations per %d packets in steady state, want 0", a, len(recs))
	}
	cd := c.Data()
	f := cd.Flows[0]
	if !f.Downsampled || len(f.Seg.T) > 3000 || len(f.C2S) > 3000 || len(f.RTTAck.T) > 3000 {
		t.Errorf("caps: downsampled %v, seg %d, bins %d, rtt %d", f.Downsampled, len(f.Seg.T), len(f.C2S), len(f.RTTAck.T))
	}
	// decimation keeps every lap's retransmissions visible: there are
	// 60 a lap, 405 laps, and min/max groups of the flagged series keep
	// points from every lap
	laps := map[int]bool{}
	lapS := float64(span) / 1e9
	for _, x := range f.Retx.T {
		laps[int(x/lapS)] = true
	}
	if len(laps) < 350 {
		t.Errorf("retransmissions charted in %d of 405 laps", len(laps))
	}
	// times are ordered in every series
	for name, xy := range map[string]XY{"seg": f.Seg, "retx": f.Retx, "ack": f.Ack, "rtt": f.RTTAck, "flight": f.Flight} {
		for i := 1; i < len(xy.T); i++ {
			if xy.T[i] < xy.T[i-1] {
				t.Errorf("%s: time goes back at %d", name, i)
				break
			}
		}
	}
}

// TestSizeBound: the worst case for the page size, many long noisy
// flows, stays under 10 MB.
func TestSizeBound(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 4 million packets")
	}
	c := NewCollector(CollectorConfig{})
	rng := rand.New(rand.NewPCG(1, 2))
	const nflows, per = 20, 200000
	flows := make([]*flow.Flow, nflows)
	for i := range flows {
		flows[i] = &flow.Flow{ID: uint64(i), First: 1e18}
	}
	var p decode.Packet
	var r tcpseq.Result
	p.TCP.HasTS = true
	for k := 0; k < per; k++ {
		for i, f := range flows {
			ts := int64(1e18) + int64(k)*500_000 + int64(i)
			d := flow.Dir(k & 1)
			p.FrameLen = 1514
			p.PayloadLen = 1448 * uint32(1-k&1)
			p.TCP.Flags = decode.TCPAck
			p.TCP.Seq = uint32(k * 1448)
			p.TCP.Ack = uint32(k * 1448)
			p.TCP.TSVal = uint32(k)
			p.TCP.TSEcr = uint32(k - 1)
			r = tcpseq.Result{RelSeq: uint32(k * 1448), BytesInFlight: rng.Int64N(1 << 20), Window: rng.Uint32N(1 << 22),
				AckRTT: rng.Int64N(1e8), HasAckRTT: true}
			if rng.IntN(50) == 0 {
				r.Flags = tcpseq.Retransmission
			}
			if rng.IntN(200) == 0 {
				r.Flags |= tcpseq.OutOfOrder | tcpseq.LostSegment | tcpseq.DuplicateAck
			}
			f.Dir[d].Bytes += 1514 + uint64(i)
			f.Last = ts
			c.OnPacket(&result.PacketEvent{TS: ts, Packet: &p, Flow: f, Dir: d, TCP: &r})
		}
	}
	cd := c.Data()
	rep := &result.Report{Tool: "size test"}
	for _, f := range flows {
		rep.Flows = append(rep.Flows, result.Flow{ID: f.ID, Proto: "tcp", Bytes: f.Bytes()})
	}
	var b bytes.Buffer
	if err := Write(&b, rep, cd, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d flows x %d packets: %.2f MB of HTML, %d flows charted", nflows, per, float64(b.Len())/1e6, len(cd.Flows))
	if b.Len() > 10e6 {
		t.Errorf("page is %d bytes, want < 10 MB", b.Len())
	}
	if len(cd.Flows) != 12 || !bytes.Contains(b.Bytes(), []byte("8 smaller TCP flows are not charted")) {
		t.Errorf("%d flows charted; the page must say 8 were left out", len(cd.Flows))
	}
	if !bytes.Contains(b.Bytes(), []byte("downsampled")) {
		t.Error("the page does not say the series were downsampled")
	}
}

// BenchmarkCollector measures OnPacket per packet in steady state.
func BenchmarkCollector(b *testing.B) {
	recs, first, span := record(b, testdata("policer", "policer.cli.pcap"))
	rp := newReplayer(recs, first, span)
	c := NewCollector(CollectorConfig{})
	for range 400 {
		rp.lapOnce(c)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rp.lapOnce(c)
		n += len(recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}

// frames loads captures into memory for the end-to-end benchmarks.
func frames(b *testing.B, paths ...string) []capture.Frame {
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var out []capture.Frame
	var fr capture.Frame
	for src.Next(&fr) == nil {
		c := fr
		c.Data = append([]byte(nil), fr.Data...)
		out = append(out, c)
	}
	return out
}

var labCaptures = []string{"policer/policer.cli.pcap", "policer/policer.srv.pcap", "shaper/shaper.cli.pcap",
	"loss/loss.cli.pcap", "delay/delay.cli.pcap", "reorder/reorder.cli.pcap", "rwnd/rwnd.cli.pcap", "applimited/applimited.cli.pcap"}

func labFrames(b *testing.B) []capture.Frame {
	var ps []string
	for _, p := range labCaptures {
		ps = append(ps, testdata(p))
	}
	return frames(b, ps...)
}

// BenchmarkReportJSON and BenchmarkReportHTML compare analyze --format
// json with --format html on the same frames: the HTML run adds the
// collector to every packet and the page at the end.
func BenchmarkReportJSON(b *testing.B) {
	fs := labFrames(b)
	b.ReportAllocs()
	for b.Loop() {
		eng := engine.New(engine.DefaultConfig())
		for i := range fs {
			eng.Packet(fs[i].Data, fs[i].TS, fs[i].OrigLen, fs[i].Link)
		}
		if err := report.WriteJSON(io.Discard, eng.Finish()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fs)), "ns/packet")
}

func BenchmarkReportHTML(b *testing.B) {
	fs := labFrames(b)
	b.ReportAllocs()
	for b.Loop() {
		c := NewCollector(CollectorConfig{})
		cfg := engine.DefaultConfig()
		cfg.OnPacket = c.OnPacket
		eng := engine.New(cfg)
		for i := range fs {
			eng.Packet(fs[i].Data, fs[i].TS, fs[i].OrigLen, fs[i].Link)
		}
		if err := Write(io.Discard, eng.Finish(), c.Data(), Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fs)), "ns/packet")
}
