package tcpseq

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// loadTCP returns the decoded TCP frames of the first testdata capture
// whose name contains substr.
func loadTCP(tb testing.TB, substr string) []frame {
	tb.Helper()
	for _, f := range testCaptures(tb) {
		// Match the run name exactly: "loss.cli" must not pick the
		// held-out "eval_loss.cli" (other parameters).
		if !strings.HasPrefix(filepath.Base(f), substr+".") {
			continue
		}
		frames, err := readCapture(f)
		if err != nil {
			tb.Fatal(err)
		}
		var out []frame
		for _, fr := range frames {
			if fr.ok && fr.p.HasTCP() {
				out = append(out, fr)
			}
		}
		return out
	}
	tb.Skipf("no testdata capture matching %q", substr)
	return nil
}

// TestAnalyzeAllocs proves the steady state allocates nothing: after one
// warm-up pass (segment lists, histograms and timestamp tables reach
// their size), a second pass over the same conversations allocates zero.
func TestAnalyzeAllocs(t *testing.T) {
	frames := loadTCP(t, "loss.cli")
	conns := map[connKey]*Conn{}
	var streams StreamCounter
	list := make([]*Conn, len(frames))
	for i := range frames {
		k := keyOf(&frames[i].p)
		c := conns[k]
		if c == nil {
			c = NewConn(Config{Streams: &streams})
			conns[k] = c
		}
		list[i] = c
	}
	var r Result
	run := func() {
		for i := range frames {
			list[i].Analyze(&frames[i].p, frames[i].ts, &r)
		}
	}
	run()
	if a := testing.AllocsPerRun(3, run); a != 0 {
		t.Fatalf("Analyze allocated %.1f times per pass over %d packets, want 0", a, len(frames))
	}
}

func BenchmarkAnalyze(b *testing.B) {
	frames := loadTCP(b, "reorder.srv")
	var streams StreamCounter
	conns := map[connKey]*Conn{}
	list := make([]*Conn, len(frames))
	for i := range frames {
		k := keyOf(&frames[i].p)
		if conns[k] == nil {
			conns[k] = NewConn(Config{Streams: &streams})
		}
		list[i] = conns[k]
	}
	var r Result
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		i := n % len(frames)
		if i == 0 {
			for _, c := range conns {
				c.Reset(Config{Streams: &streams})
			}
		}
		list[i].Analyze(&frames[i].p, frames[i].ts, &r)
		n++
	}
}

// TestStatsLoss checks the measurements on the sender-side loss capture
// against what the capture is known to contain (testdata truth: 1% loss,
// 10 ms delay, MSS 1448, cubic).
func TestStatsLoss(t *testing.T) {
	frames := loadTCP(t, "loss.cli")
	_, conns := analyzeFrames(frames)
	var data *Stats
	for _, c := range conns {
		s := c.Stats()
		if data == nil || s.A.PayloadBytes+s.B.PayloadBytes > data.A.PayloadBytes+data.B.PayloadBytes {
			data = &s
		}
	}
	if data == nil {
		t.Fatal("no conversation")
	}
	snd, rcv := data.A, data.B
	if rcv.PayloadBytes > snd.PayloadBytes {
		snd, rcv = rcv, snd
	}
	if _, err := json.Marshal(data); err != nil {
		t.Fatal(err)
	}
	if data.Handshake == nil || data.Handshake.InitialRTTMS <= 0 {
		t.Errorf("handshake %+v, want an initial RTT", data.Handshake)
	} else if d := data.Handshake.SynToSynAckMS + data.Handshake.SynAckToAckMS - data.Handshake.InitialRTTMS; math.Abs(d) > 1e-6 {
		t.Errorf("handshake halves %+v do not add up to the initial RTT", data.Handshake)
	}
	if snd.MSSOption != 1460 || snd.MaxSegment != 1448 {
		t.Errorf("MSS option %d, max segment %d; want 1460 and 1448", snd.MSSOption, snd.MaxSegment)
	}
	if snd.AckRTT == nil || snd.AckRTT.MinMS < 9.5 || snd.AckRTT.MinMS > 12 || snd.AckRTT.MedianMS < snd.AckRTT.MinMS || snd.AckRTT.P90MS < snd.AckRTT.MedianMS {
		t.Errorf("sender ACK RTT %+v, want min about 10 ms (the 10 ms delay)", snd.AckRTT)
	}
	if snd.TSRTT == nil || snd.TSRTT.MinMS < 9.5 || snd.TSRTT.MinMS > 12 {
		t.Errorf("sender timestamp RTT %+v, want min about 10 ms", snd.TSRTT)
	}
	r := snd.Retrans
	if r.Segments == 0 || r.Segments != snd.Analysis["retransmission"] || r.Fast+r.RTO+r.Spurious+r.Other != r.Segments {
		t.Errorf("retransmissions %+v do not add up (flag count %d)", r, snd.Analysis["retransmission"])
	}
	if r.Fast < snd.Analysis["fast_retransmission"] {
		t.Errorf("fast %d < fast_retransmission flags %d", r.Fast, snd.Analysis["fast_retransmission"])
	}
	if r.Pct <= 0 || r.Pct > 5 {
		t.Errorf("retransmitted %.2f%% of data segments, want (0, 5]", r.Pct)
	}
	if snd.BytesInFlightMax <= 0 || snd.BytesInFlightMean <= 0 || snd.BytesInFlightMean > float64(snd.BytesInFlightMax) {
		t.Errorf("bytes in flight max %d mean %.0f", snd.BytesInFlightMax, snd.BytesInFlightMean)
	}
	if rcv.WindowMax == 0 || rcv.WindowMin > rcv.WindowMax || rcv.WindowScale <= 0 {
		t.Errorf("receiver window %d..%d scale %d", rcv.WindowMin, rcv.WindowMax, rcv.WindowScale)
	}
	da := rcv.DelayedAck
	if da.Acks1+da.Acks2+da.AcksMore == 0 {
		t.Errorf("no ACK classified: %+v", da)
	}
}

// TestStatsRwnd: the receive-window-limited run must show the sender
// window-limited for most data segments, and no such thing in the loss
// run, whose window is large.
func TestStatsRwnd(t *testing.T) {
	frac := func(name string) float64 {
		_, conns := analyzeFrames(loadTCP(t, name))
		best := 0.0
		var most uint64
		for _, c := range conns {
			s := c.Stats()
			for _, d := range []DirStats{s.A, s.B} {
				if d.PayloadBytes > most {
					most, best = d.PayloadBytes, d.WindowLimitedFrac
				}
			}
		}
		return best
	}
	if f := frac("rwnd.cli"); f < 0.5 {
		t.Errorf("rwnd.cli: window-limited fraction %.2f, want >= 0.5", f)
	}
	if f := frac("applimited.cli"); f > 0.1 {
		t.Errorf("applimited.cli: window-limited fraction %.2f, want < 0.1", f)
	}
}

func TestHist(t *testing.T) {
	var h hist
	for i := int64(1); i <= 1000; i++ {
		h.add(i * 1_000_000) // 1..1000 ms
	}
	d := h.dist()
	check := func(name string, got, want float64) {
		if math.Abs(got-want)/want > 0.07 {
			t.Errorf("%s = %.2f, want %.2f within 7%%", name, got, want)
		}
	}
	check("min", d.MinMS, 1)
	check("median", d.MedianMS, 500)
	check("p90", d.P90MS, 900)
	check("max", d.MaxMS, 1000)
	check("mean", d.MeanMS, 500.5)
	if n := h.countIn(35_000_000, 50_000_000); n < 10 || n > 20 {
		t.Errorf("countIn(35..50 ms) = %d, want about 15", n)
	}
	for _, v := range []int64{-5, 0, 1, 1023, 1024, 1 << 40, math.MaxInt64 / 2} {
		if i := histIndex(v); i < 0 || i >= histBuckets {
			t.Errorf("histIndex(%d) = %d out of range", v, i)
		}
	}
}

// TestSegListBounded: a direction that is never acknowledged stops
// remembering segments at MaxUnacked, as Wireshark does, and counts them.
func TestSegListBounded(t *testing.T) {
	c := NewConn(Config{})
	var p decode.Packet
	p.IPVersion, p.Proto, p.L4 = 4, 6, true
	p.Src = mustAddr("10.0.0.1")
	p.Dst = mustAddr("10.0.0.2")
	p.SrcPort, p.DstPort = 1, 2
	p.TCP.Flags = decode.TCPAck
	p.TCP.Window = 1000
	p.PayloadLen = 100
	var r Result
	const n = MaxUnacked + 500
	for i := 0; i < n; i++ {
		// Every segment out of order (descending), so none is contiguous.
		p.TCP.Seq = uint32(1_000_000_000 - 100*i)
		c.Analyze(&p, int64(i)*1000, &r)
	}
	if got := c.d[0].segs.n(); got != MaxUnacked {
		t.Errorf("segments stored = %d, want %d", got, MaxUnacked)
	}
	if cap(c.d[0].segs.buf) > 2*MaxUnacked {
		t.Errorf("segment list capacity %d", cap(c.d[0].segs.buf))
	}
	if s := c.Stats(); s.A.UnackedDropped != 500 {
		t.Errorf("unacked_dropped = %d, want 500", s.A.UnackedDropped)
	}
}
