package diagnose

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// synth produces a bulk transfer client->server: one 1448-byte segment
// every gapNS, each acknowledged rttNS later, with TCP timestamps.
type synth struct {
	ts      int64
	seq     uint32
	gapNS   int64
	rttNS   int64
	data    decode.Packet
	ack     decode.Packet
	pending []struct {
		t   int64
		end uint32
	}
}

func newSynth(gapNS, rttNS int64) *synth {
	s := &synth{ts: 1e18, seq: 1000, gapNS: gapNS, rttNS: rttNS}
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	s.data = decode.Packet{IPVersion: 4, Src: cli, Dst: srv, Proto: 6, L4: true, SrcPort: 40000, DstPort: 5201,
		PayloadLen: 1448, FrameLen: 1514}
	s.data.TCP = decode.TCP{Flags: decode.TCPAck, Window: 500, HasTS: true, TSVal: 1, TSEcr: 1}
	s.ack = decode.Packet{IPVersion: 4, Src: srv, Dst: cli, Proto: 6, L4: true, SrcPort: 5201, DstPort: 40000, FrameLen: 66}
	s.ack.TCP = decode.TCP{Flags: decode.TCPAck, Window: 65535, HasTS: true, TSVal: 1, TSEcr: 1}
	s.pending = make([]struct {
		t   int64
		end uint32
	}, 0, 1<<16)
	return s
}

// next feeds f the packets of one segment interval.
func (s *synth) next(f *Flow) {
	s.data.TCP.Seq = s.seq
	s.data.TCP.TSVal = uint32(s.ts / 1e6)
	f.Observe(s.ts, 0, &s.data, nil)
	s.seq += 1448
	s.pending = append(s.pending, struct {
		t   int64
		end uint32
	}{s.ts + s.rttNS, s.seq})
	s.ts += s.gapNS
	for len(s.pending) > 0 && s.pending[0].t <= s.ts {
		s.ack.TCP.Ack = s.pending[0].end
		s.ack.TCP.TSVal = uint32(s.pending[0].t / 1e6)
		f.Observe(s.pending[0].t, 1, &s.ack, nil)
		s.pending = s.pending[1:]
	}
	if cap(s.pending)-len(s.pending) < 16 { // slide the queue back without allocating
		n := copy(s.pending[:cap(s.pending)], s.pending)
		s.pending = s.pending[:n]
	}
}

func TestObserveAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecords = 2000
	cfg.SeriesPoints = 8
	f := NewFlow(cfg)
	s := newSynth(120e3, 10e6) // ~100 Mbit/s, 10 ms RTT
	for i := 0; i < 50000; i++ {
		s.next(f)
	}
	if n := testing.AllocsPerRun(20000, func() { s.next(f) }); n != 0 {
		t.Errorf("Observe allocates %.2f times per packet in steady state, want 0", n)
	}
}

func TestMemoryBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecords = 5000
	cfg.SeriesPoints = 100
	f := NewFlow(cfg)
	s := newSynth(20e3, 1e6) // 600k segments over 12 s
	for i := 0; i < 600_000; i++ {
		s.next(f)
	}
	d := &f.d[0]
	if d.rb.n > cfg.MaxRecords || len(d.rb.chunks) > 2+(cfg.MaxRecords-recHead)/recChunk {
		t.Errorf("records %d in %d chunks, want <= %d", d.rb.n, len(d.rb.chunks), cfg.MaxRecords)
	}
	if len(d.s100.pts) > cfg.SeriesPoints || len(d.s1s.pts) > cfg.SeriesPoints {
		t.Errorf("series %d/%d points, cap %d", len(d.s100.pts), len(d.s1s.pts), cfg.SeriesPoints)
	}
	dg := f.Finish()
	if want := uint64(600_000 - cfg.MaxRecords); dg.Measurements.RecordsDropped != want {
		t.Errorf("RecordsDropped = %d, want %d", dg.Measurements.RecordsDropped, want)
	}
	s100 := dg.Measurements.ClientToServer.Series100ms
	if len(s100.Bps) > cfg.SeriesPoints+1 {
		t.Errorf("series out has %d points", len(s100.Bps))
	}
	// 12 s of data in at most 100 points: each point covers >= 200 ms
	if s100.StepNS < 200e6 {
		t.Errorf("series step %d ns, want >= 200 ms", s100.StepNS)
	}
	// the rate must survive downsampling: 1514 B per 20 µs = 605.6 Mbit/s
	var sum float64
	for _, v := range s100.Bps[1 : len(s100.Bps)-1] {
		sum += v
	}
	if m := sum / float64(len(s100.Bps)-2); math.Abs(m-605.6e6)/605.6e6 > 0.01 {
		t.Errorf("downsampled mean rate %.1f Mbit/s, want 605.6", m/1e6)
	}
}

// A lossless flow whose rate still grew when it ended met no limit: it
// is unconstrained, not an application holding back.
func TestGrowingFlowUnconstrained(t *testing.T) {
	f := NewFlow(DefaultConfig())
	s := newSynth(1200e3, 10e6)
	for i := 0; i < 30000; i++ {
		// the gap shrinks from 1.2 ms to ~0.3 ms: the rate grows 4x
		s.gapNS = 1200e3 - int64(i)*30
		s.next(f)
	}
	if d := f.Finish(); d.Verdict != VerdictUnconstrained {
		t.Errorf("lossless growing flow: verdict %s (%s), want unconstrained", d.Verdict, d.Summary)
	}
}

func TestUnconstrainedAndInsufficient(t *testing.T) {
	f := NewFlow(DefaultConfig())
	s := newSynth(120e3, 10e6)
	for i := 0; i < 10; i++ {
		s.next(f)
	}
	if d := f.Finish(); d.Verdict != VerdictInsufficientData {
		t.Errorf("10 packets: verdict %s, want %s", d.Verdict, VerdictInsufficientData)
	}
	f = NewFlow(DefaultConfig())
	s = newSynth(1200e3, 10e6) // 10.09 Mbit/s, flight 12 KB within the 64 KB window
	for i := 0; i < 30000; i++ {
		s.next(f)
	}
	d := f.Finish()
	// no loss, no queue, the window open, the rate flat for 3,600 RTTs:
	// the sender had no more to send
	if d.Verdict != VerdictApplication {
		t.Errorf("lossless steady flow: verdict %s (%s), want application", d.Verdict, d.Summary)
	}
	if got := d.Measurements.ClientToServer.RTT; math.Abs(got.P50MS-10) > 0.5 {
		t.Errorf("median RTT %.2f ms, want 10", got.P50MS)
	}
	if r := d.Measurements.ClientToServer.Rates[2]; math.Abs(r.MeanBps-10.093e6)/10.093e6 > 0.01 || r.CV > 0.05 {
		t.Errorf("100 ms bins: mean %.3f Mbit/s CV %.3f, want 10.093 and flat", r.MeanBps/1e6, r.CV)
	}
}

func TestLevelShift(t *testing.T) {
	x := []float64{30, 29, 31, 30, 10, 10.2, 9.9, 10, 10.1, 9.8, 10, 10.3, 9.9}
	n, ok := levelShift(smooth(x, 1.1), 3, 8, 1.1)
	if !ok || n != 4 {
		t.Errorf("levelShift = %d,%v, want 4,true", n, ok)
	}
	flat := []float64{10, 10.2, 9.9, 10, 10.1, 9.8, 10, 10.3, 9.9, 10, 10, 10}
	if _, ok := levelShift(smooth(flat, 1.1), 3, 8, 1.1); ok {
		t.Error("level shift found on a flat series")
	}
}

func TestSeries(t *testing.T) {
	s := series{cap: 4, per: 1}
	for i := 1; i <= 10; i++ {
		s.add(float64(i))
	}
	// 10 bins into 4 points: after merging twice each point holds 4 bins
	got := s.out(0, 1e9)
	want := Series{StepNS: 4e9, Bps: []float64{(1 + 2 + 3 + 4) * 8 / 4, (5 + 6 + 7 + 8) * 8 / 4, (9 + 10) * 8 / 2}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("series (-got +want):\n%s", diff)
	}
	z := series{cap: 4, per: 1}
	z.add(8)
	z.addZeros(1000)
	if len(z.pts) > 4 || z.total != 1001 {
		t.Errorf("addZeros: %d points, %d bins", len(z.pts), z.total)
	}
}

// policedRecs simulates a sender-side trace through a token bucket: the
// sender offers offer bit/s; the bucket (rate, burst bytes) drops what it
// cannot pass; lost segments are marked as markLoss would.
func policedRecs(offer, rate, burst float64, n int, rnd *rand.Rand) []rec {
	gap := 1514 * 8 / offer * 1e6 // µs
	tokens := burst
	var last float64
	recs := make([]rec, 0, n)
	for i := 0; i < n; i++ {
		t := float64(i)*gap + rnd.Float64()*gap*0.2
		tokens = math.Min(burst, tokens+(t-last)*rate/8/1e6)
		last = t
		r := rec{t: uint32(t), seq: uint32(i * 1448), plen: 1448, flen: 1514, kind: recOrig, rttA: 10001}
		if tokens >= 1514 {
			tokens -= 1514
		} else {
			r.flags = recLost
			r.rttA = 0
		}
		recs = append(recs, r)
	}
	return recs
}

// aimdRandomLoss: a sender that adds 0.5 Mbit/s every 10 ms and halves
// its rate on a loss (at most once per 10 ms), with Bernoulli loss p.
func aimdRandomLoss(p float64, n int, rnd *rand.Rand) []rec {
	rate := 4e6
	t := 0.0
	lastCut := -1e9
	recs := make([]rec, 0, n)
	for i := 0; i < n; i++ {
		r := rec{t: uint32(t), seq: uint32(i * 1448), plen: 1448, flen: 1514, kind: recOrig, rttA: 10001}
		if rnd.Float64() < p {
			r.flags = recLost
			r.rttA = 0
			if t-lastCut > 10000 {
				rate /= 2
				lastCut = t
			}
		}
		recs = append(recs, r)
		gap := 1514 * 8 / rate * 1e6
		rate += 0.5e6 * gap / 10000
		t += gap
	}
	return recs
}

func TestFlachSynthetic(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	f := NewFlow(DefaultConfig())
	a := &analysis{d: &f.d[0], medRTTus: 10000, wireRatio: 1514.0 / 1448}
	a.d.rb = recBufOf(policedRecs(12e6, 8e6, 24000, 3000, rnd))
	for _, cutoff := range []int{0, 2} {
		r := f.flach(a, cutoff)
		if r.code != 0 {
			t.Fatalf("policed trace, cutoff %d: code %d, want 0", cutoff, r.code)
		}
		if math.Abs(r.rate-8e6)/8e6 > 0.05 {
			t.Errorf("cutoff %d: rate %.2f Mbit/s, want 8", cutoff, r.rate/1e6)
		}
	}
	a.d.rb = recBufOf(aimdRandomLoss(0.02, 3000, rnd))
	if r := f.flach(a, 0); r.code == 0 {
		t.Errorf("random loss detected as policing at %.1f Mbit/s", r.rate/1e6)
	}
}

func TestCorrelate(t *testing.T) {
	pol := func(rate float64) *Diagnosis {
		return &Diagnosis{Verdict: VerdictPolicer, RateBps: rate, Summary: "policed"}
	}
	setup := func(ms float64) *Diagnosis {
		return &Diagnosis{Verdict: VerdictUnconstrained, Measurements: Measurements{SetupMS: ms}}
	}
	flows := []FlowRef{
		{Client: "10.0.0.1:4000", Server: "10.0.0.2:443", Diagnosis: pol(5e6), StartNS: 0, EndNS: 10e9},
		{Client: "10.0.0.1:4001", Server: "10.0.0.2:443", Diagnosis: pol(5.2e6), StartNS: 1e9, EndNS: 9e9},
		{Client: "10.0.0.1:4002", Server: "10.0.0.2:443", Diagnosis: pol(5e6), StartNS: 20e9, EndNS: 30e9}, // not concurrent
		{Client: "10.0.0.3:4000", Server: "10.0.0.4:80", Diagnosis: setup(2), StartNS: 0, EndNS: 1e9},
		{Client: "10.0.0.3:4001", Server: "10.0.0.4:80", Diagnosis: setup(3), StartNS: 0, EndNS: 1e9},
		{Client: "10.0.0.3:4002", Server: "10.0.0.4:80", Diagnosis: setup(1003), StartNS: 0, EndNS: 1e9},
	}
	got := Correlate(flows)
	kinds := map[string]Finding{}
	for _, f := range got {
		kinds[f.Kind] = f
	}
	sc, ok := kinds[KindSharedCeiling]
	if !ok {
		t.Fatalf("no shared_ceiling finding in %+v", got)
	}
	if diff := cmp.Diff(sc.Flows, []int{0, 1}); diff != "" {
		t.Errorf("shared ceiling flows (-got +want):\n%s", diff)
	}
	if !strings.Contains(sc.Summary, "10.2 Mbit/s") || !strings.Contains(strings.Join(sc.Next, " "), "bw_out_allowance_exceeded") {
		t.Errorf("shared ceiling finding: %q next %q", sc.Summary, sc.Next)
	}
	ss, ok := kinds[KindSlowSetup]
	if !ok || len(ss.Flows) != 1 || ss.Flows[0] != 5 {
		t.Errorf("slow setup finding: %+v", ss)
	}
	if !strings.Contains(strings.Join(ss.Next, " "), "conntrack_allowance_exceeded") {
		t.Errorf("slow setup next steps: %q", ss.Next)
	}
}

func BenchmarkObserve(b *testing.B) {
	f := NewFlow(DefaultConfig())
	s := newSynth(120e3, 10e6)
	var r tcpseq.Result
	_ = r
	b.ReportAllocs()
	for b.Loop() {
		s.next(f) // one data segment plus its ACK
	}
}

// BenchmarkCapture compares tcpseq analysis alone with analysis plus
// diagnosis on a real lab capture (the budget: diagnosis adds at
// most 20 % to analysis time).
func BenchmarkCapture(b *testing.B) {
	fl := largestOf(b, "testdata/eval/eval2_shaper_delay/eval2_shaper_delay.srv.pcap.gz")
	run := func(b *testing.B, diag bool) {
		var res tcpseq.Result
		b.ReportAllocs()
		cpu0 := cpuNS()
		for b.Loop() {
			conn := tcpseq.NewConn(tcpseq.Config{})
			var f *Flow
			if diag {
				f = NewFlow(DefaultConfig())
			}
			for i := range fl.pkts {
				cp := &fl.pkts[i]
				conn.Analyze(&cp.p, cp.ts, &res)
				if diag {
					dir := 1
					if netip.AddrPortFrom(cp.p.Src, cp.p.SrcPort) == fl.client {
						dir = 0
					}
					f.Observe(cp.ts, dir, &cp.p, &res)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(fl.pkts)), "ns/pkt")
		// CPU time is steadier than wall time on a shared machine
		b.ReportMetric(float64(cpuNS()-cpu0)/float64(b.N)/float64(len(fl.pkts)), "cpu-ns/pkt")
	}
	b.Run("tcpseq", func(b *testing.B) { run(b, false) })
	b.Run("tcpseq+diagnose", func(b *testing.B) { run(b, true) })
}

func largestOf(tb testing.TB, path string) *capFlow {
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("capture %s not present", path)
	}
	return largest(readFlows(tb, path))
}

// cpuNS is the process's user+system CPU time.
func cpuNS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// recBufOf stores recs as Observe would (chunked), for detector tests on
// synthetic traces.
func recBufOf(recs []rec) recBuf {
	var b recBuf
	for _, r := range recs {
		b.push(r, nil)
	}
	return b
}

// An application writing a burst every 60 ms over a 36 ms RTT leaves the
// sender with nothing in flight ~22 ms per write: application, although
// no gap is two RTTs long (the off-period test's bound). A bulk sender
// never sits with nothing in flight.
func TestZeroFlightApplication(t *testing.T) {
	f := NewFlow(DefaultConfig())
	s := newSynth(100e3, 36e6)
	for b := 0; b < 200; b++ {
		for i := 0; i < 20; i++ {
			s.gapNS = 100e3
			if i == 19 {
				s.gapNS = 58e6
			}
			s.next(f)
		}
	}
	d := f.Finish()
	if d.Verdict != VerdictApplication || d.Detectors.ZeroFlightFrac < 0.25 || !strings.Contains(d.Summary, "nothing in flight") {
		t.Errorf("bursts every 60 ms at a 36 ms RTT: verdict %s, zero-flight share %.3f (%s), want application from the zero-flight share",
			d.Verdict, d.Detectors.ZeroFlightFrac, d.Summary)
	}
	f = NewFlow(DefaultConfig())
	s = newSynth(1200e3, 10e6)
	for i := 0; i < 30000; i++ {
		s.gapNS = 1200e3 - int64(i)*30
		s.next(f)
	}
	if d := f.Finish(); d.Detectors.ZeroFlightFrac > 0.01 {
		t.Errorf("bulk sender: zero-flight share %.3f, want ~0", d.Detectors.ZeroFlightFrac)
	}
}
