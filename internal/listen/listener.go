package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/report"
)

// batchSize is the most packets handed to a shard at once.
const batchSize = 256

// pktMeta is what a shard needs besides the decoded packet.
type pktMeta struct {
	ts    int64
	whole bool
}

// batch carries decoded packets, by value, from a receiver to a shard.
// Batches cycle between the shard's free list and its queue; the receiver
// owns a batch from taking it off the free list until it queues it, the
// shard from then until it puts it back.
type batch struct {
	n    int
	pkts [batchSize]decode.Packet
	meta [batchSize]pktMeta
}

// Reject reasons, the label values of the rejected counter.
const (
	rejectSrc = iota // outer source not in --allow-src
	rejectVNI        // VNI not in --allow-vni
	numRejects
)

var rejectNames = [numRejects]string{"src_not_allowed", "vni_not_allowed"}

// recvStats are one receiving goroutine's counters (atomics: /metrics
// reads them while the goroutine runs).
type recvStats struct {
	datagrams, bytes atomic.Uint64
	kernelDrops      atomic.Uint64 // SO_RXQ_OVFL deltas, or AF_PACKET tp_drops
	decodeErr        [decode.NumErrors + 1]atomic.Uint64
	rejected         [numRejects]atomic.Uint64
	accepted         atomic.Uint64
}

type receiver struct {
	l     *Listener
	s     *socket
	dec   *decode.Decoder
	pkt   decode.Packet
	key   flow.Key
	cur   []*batch // per shard, nil when none taken
	pc    *pcapBatch
	stats recvStats

	lastDrops uint32
	hasDrops  bool
	lastSess  *session
	lastKey   sessionKey
	localDst  netip.Addr
	outer     *decode.Decoder // NoDecap decoder for --write-pcap of mirror frames on --iface
}

type shard struct {
	idx  int
	in   chan *batch
	free chan *batch
	ctl  chan func(*engine.Engine)
	done chan struct{}
	eng  *engine.Engine
	live atomic.Int64
	rep  *report.Report // set when the shard finished
}

// Listener is a running traffic-mirror target. Build it with New, run it
// with Run; Run closes everything it opened when it returns.
type Listener struct {
	cfg    Config
	socks  []*socket
	recvs  []*receiver
	shards []*shard
	reg    *registry
	sink   *sink
	pcap   *pcapWriter
	httpLn net.Listener
	httpSv *http.Server
	start  time.Time

	flowsEnded atomic.Uint64
	vxlanAddr  netip.AddrPort
	geneveAddr netip.AddrPort

	runOnce sync.Once
}

// New opens the sockets (and the HTTP port) of cfg; nothing is received
// until Run.
func New(cfg Config) (*Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &Listener{cfg: cfg, reg: newRegistry(cfg.MaxSessions)}
	l.sink = newSink(cfg.Out, cfg.RecentFlows, cfg.RecentFindings)
	ok := false
	defer func() {
		if !ok {
			l.closeAll()
		}
	}()
	ctx := context.Background()
	if cfg.Iface != "" {
		s, err := listenIface(cfg.Iface, cfg.Sockets, cfg.RcvBuf, cfg.Batch)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		l.socks = append(l.socks, s...)
	} else {
		if cfg.VXLAN != "" {
			s, err := listenUDP(ctx, "vxlan", cfg.VXLAN, cfg.Sockets, cfg.RcvBuf, cfg.Batch)
			if err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
			l.socks = append(l.socks, s...)
			l.vxlanAddr = s[0].local
			if err := attachSteering(s, false); err != nil {
				cfg.Logger.Warn("symmetric flow steering unavailable: the directions of a connection may be read by different sockets", "err", err)
			}
		}
		if cfg.GENEVE != "" {
			s, err := listenUDP(ctx, "geneve", cfg.GENEVE, cfg.Sockets, cfg.RcvBuf, cfg.Batch)
			if err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
			l.socks = append(l.socks, s...)
			l.geneveAddr = s[0].local
			if err := attachSteering(s, true); err != nil {
				cfg.Logger.Warn("symmetric flow steering unavailable: the directions of a connection may be read by different sockets", "err", err)
			}
		}
	}
	if cfg.Pcap.Dir != "" {
		pw, err := newPcapWriter(cfg.Pcap, l.reg, cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		l.pcap = pw
	}
	if cfg.HTTP != "" {
		ln, err := net.Listen("tcp", cfg.HTTP)
		if err != nil {
			return nil, fmt.Errorf("listen: http: %w", err)
		}
		l.httpLn = ln
		l.httpSv = &http.Server{Handler: l.handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	nrecv := len(l.socks)
	for i := 0; i < cfg.Shards; i++ {
		sh := &shard{
			idx:  i,
			in:   make(chan *batch, cfg.QueueDepth),
			free: make(chan *batch, cfg.QueueDepth+2*nrecv),
			ctl:  make(chan func(*engine.Engine)),
			done: make(chan struct{}),
		}
		for j := 0; j < cap(sh.free); j++ {
			sh.free <- new(batch)
		}
		ec := cfg.Engine
		n := uint64(cfg.Shards)
		idx := uint64(i)
		ec.OnFlowEnd = func(rf *report.Flow) {
			// Flow ids are per engine; interleave them so they stay
			// unique across shards.
			rf.ID = rf.ID*n + idx
			l.flowsEnded.Add(1)
			l.sink.flow(rf, false)
		}
		if cfg.PacketHook != nil {
			ec.OnPacket = cfg.PacketHook(i)
		}
		sh.eng = engine.New(ec)
		l.shards = append(l.shards, sh)
	}
	for _, s := range l.socks {
		r := &receiver{l: l, s: s, dec: decode.New(cfg.Engine.Decode), cur: make([]*batch, cfg.Shards)}
		if s.local.Addr().IsValid() && !s.local.Addr().IsUnspecified() {
			r.localDst = s.local.Addr()
		}
		if l.pcap != nil {
			r.pc = l.pcap.getBatch()
		}
		l.recvs = append(l.recvs, r)
	}
	ok = true
	return l, nil
}

// VXLANAddr is the bound VXLAN address (useful with port 0).
func (l *Listener) VXLANAddr() netip.AddrPort { return l.vxlanAddr }

// GENEVEAddr is the bound GENEVE address.
func (l *Listener) GENEVEAddr() netip.AddrPort { return l.geneveAddr }

// HTTPAddr is the bound HTTP address, "" when off.
func (l *Listener) HTTPAddr() string {
	if l.httpLn == nil {
		return ""
	}
	return l.httpLn.Addr().String()
}

// Run receives and analyses until ctx is cancelled, then drains every
// queue, ends and reports every open flow, flushes the outputs and
// returns the final summary. The error is non-nil only when receiving
// failed for another reason than the cancel.
func (l *Listener) Run(ctx context.Context) (*Summary, error) {
	var sum *Summary
	var runErr error
	ran := false
	l.runOnce.Do(func() {
		ran = true
		sum, runErr = l.run(ctx)
	})
	if !ran {
		return nil, errors.New("listen: Run called twice")
	}
	return sum, runErr
}

func (l *Listener) run(ctx context.Context) (*Summary, error) {
	l.start = time.Now()
	defer l.closeAll()
	log := l.cfg.Logger

	var httpWG sync.WaitGroup
	if l.httpSv != nil {
		httpWG.Add(1)
		go func() {
			defer httpWG.Done()
			if err := l.httpSv.Serve(l.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "err", err)
			}
		}()
	}
	var pcapWG sync.WaitGroup
	if l.pcap != nil {
		pcapWG.Add(1)
		go func() { defer pcapWG.Done(); l.pcap.run() }()
	}
	var shardWG sync.WaitGroup
	for _, sh := range l.shards {
		shardWG.Add(1)
		go func() { defer shardWG.Done(); l.runShard(sh) }()
	}
	recvErr := make(chan error, len(l.recvs))
	var recvWG sync.WaitGroup
	for _, r := range l.recvs {
		recvWG.Add(1)
		go func() { defer recvWG.Done(); recvErr <- r.run() }()
	}
	stopAux := make(chan struct{})
	var auxWG sync.WaitGroup
	auxWG.Add(1)
	go func() { defer auxWG.Done(); l.housekeeping(stopAux) }()

	log.Info("listening", "vxlan", l.vxlanAddr, "geneve", l.geneveAddr, "iface", l.cfg.Iface,
		"sockets", len(l.socks), "shards", len(l.shards), "http", l.HTTPAddr())

	var firstErr error
	select {
	case <-ctx.Done():
	case err := <-recvErr:
		firstErr = err
	}
	// Stop receiving: each receiver drains its socket and hands over its
	// last batches.
	for _, s := range l.socks {
		s.stop()
	}
	recvWG.Wait()
	close(recvErr)
	for err := range recvErr {
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, sh := range l.shards {
		close(sh.in)
	}
	shardWG.Wait()
	close(stopAux)
	auxWG.Wait()
	if l.pcap != nil {
		for _, r := range l.recvs {
			l.pcap.send(r.pc)
			r.pc = nil
		}
		l.pcap.close()
		pcapWG.Wait()
	}
	sum := l.summary()
	for i := range sum.Findings {
		l.sink.finding(&sum.Findings[i])
	}
	l.sink.summary(sum)
	if err := l.sink.flush(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("listen: writing output: %w", err)
	}
	if l.pcap != nil {
		if err := l.pcap.err(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("listen: writing pcap: %w", err)
		}
	}
	if l.httpSv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.httpSv.Shutdown(sctx)
		cancel()
		httpWG.Wait()
	}
	log.Info("stopped", "datagrams", sum.Listener.Datagrams, "flows", sum.Capture.FlowCounts.Total)
	return sum, firstErr
}

func (l *Listener) closeAll() {
	for _, s := range l.socks {
		s.close()
	}
	if l.httpLn != nil {
		l.httpLn.Close()
	}
	if l.pcap != nil {
		l.pcap.abort()
	}
}

// housekeeping flushes the output and reports listener-level findings
// while the listener runs.
func (l *Listener) housekeeping(stop <-chan struct{}) {
	flush := time.NewTicker(l.cfg.FlushInterval)
	defer flush.Stop()
	var rep <-chan time.Time
	if l.cfg.ReportInterval > 0 {
		t := time.NewTicker(l.cfg.ReportInterval)
		defer t.Stop()
		rep = t.C
	}
	var last liveCounts
	for {
		select {
		case <-stop:
			return
		case <-flush.C:
			if err := l.sink.flush(); err != nil {
				l.cfg.Logger.Error("writing output", "err", err)
			}
		case <-rep:
			last = l.liveFindings(last)
		}
	}
}

// runShard is a shard goroutine: it alone uses sh.eng.
func (l *Listener) runShard(sh *shard) {
	defer close(sh.done)
	exp := time.NewTicker(l.cfg.ExpireInterval)
	defer exp.Stop()
	var rep <-chan time.Time
	if l.cfg.ReportInterval > 0 {
		t := time.NewTicker(l.cfg.ReportInterval)
		defer t.Stop()
		rep = t.C
	}
	n := uint64(len(l.shards))
	for {
		select {
		case b, ok := <-sh.in:
			if !ok {
				sh.rep = sh.eng.Finish()
				sh.live.Store(0)
				return
			}
			for i := 0; i < b.n; i++ {
				sh.eng.Decoded(&b.pkts[i], b.meta[i].ts, b.meta[i].whole)
			}
			b.n = 0
			sh.free <- b
			sh.live.Store(int64(sh.eng.LiveFlows()))
		case f := <-sh.ctl:
			f(sh.eng)
		case <-exp.C:
			sh.eng.Expire(time.Now().UnixNano())
			sh.live.Store(int64(sh.eng.LiveFlows()))
		case <-rep:
			// Long flows are reported while they last.
			old := time.Now().Add(-l.cfg.ReportInterval).UnixNano()
			for _, f := range sh.eng.Snapshot(0) {
				if f.StartNS <= old {
					f.ID = f.ID*n + uint64(sh.idx)
					l.sink.flow(&f, true)
				}
			}
		}
	}
}

// onShard runs f on every shard goroutine in turn (HTTP snapshots); shards
// that have finished are skipped.
func (l *Listener) onShard(ctx context.Context, f func(shard int, e *engine.Engine)) {
	for _, sh := range l.shards {
		done := make(chan struct{})
		g := func(e *engine.Engine) { f(sh.idx, e); close(done) }
		select {
		case sh.ctl <- g:
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		case <-sh.done:
		case <-ctx.Done():
			return
		}
	}
}

// run is a receiving goroutine.
func (r *receiver) run() error {
	for {
		n, err := r.s.recv()
		if err != nil {
			if isStopErr(err) {
				// Drain what the kernel already queued.
				for {
					n := r.s.recvNow()
					if n == 0 {
						break
					}
					r.handle(n)
				}
				r.flushAll()
				return nil
			}
			r.flushAll()
			return fmt.Errorf("listen: %s socket: %w", r.s.kind, err)
		}
		r.handle(n)
	}
}

// handle processes the n messages of the last recv and hands every shard
// what it got (so latency stays low when traffic is light).
func (r *receiver) handle(n int) {
	now := int64(0)
	for i := 0; i < n; i++ {
		data, wire, from := r.s.datagram(i)
		ts, drops, hasDrops := r.s.meta(i)
		if ts == 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			ts = now
		}
		if hasDrops {
			if r.hasDrops {
				r.stats.kernelDrops.Add(uint64(drops - r.lastDrops))
			} else {
				r.stats.kernelDrops.Add(uint64(drops))
			}
			r.lastDrops, r.hasDrops = drops, true
		}
		r.stats.datagrams.Add(1)
		r.stats.bytes.Add(uint64(wire))
		r.packet(data, wire, from, ts)
	}
	if r.s.packet {
		if d := r.s.packetDrops(); d > 0 {
			r.stats.kernelDrops.Add(d)
		}
	}
	r.flushAll()
	if r.pc != nil && r.pc.n > 0 {
		r.l.pcap.send(r.pc)
		r.pc = r.l.pcap.getBatch()
	}
}

func (r *receiver) packet(data []byte, wire int, from netip.AddrPort, ts int64) {
	cfg := &r.l.cfg
	p := &r.pkt
	var err error
	switch r.s.kind {
	case "vxlan":
		if !cfg.srcAllowed(from.Addr()) {
			r.stats.rejected[rejectSrc].Add(1)
			return
		}
		err = r.dec.DecodeVXLANPayload(data, from.Addr(), r.localDst, from.Port(), p)
	case "geneve":
		if !cfg.srcAllowed(from.Addr()) {
			r.stats.rejected[rejectSrc].Add(1)
			return
		}
		err = r.dec.DecodeGENEVEPayload(data, from.Addr(), r.localDst, from.Port(), p)
	default:
		err = r.dec.Decode(data, decode.LinkEthernet, uint32(wire), p)
		if p.Encap != decode.EncapNone && !cfg.srcAllowed(p.Session.OuterSrc) {
			r.stats.rejected[rejectSrc].Add(1)
			return
		}
	}
	var s *session
	if p.Session.HasVNI || p.Encap == decode.EncapNone || err == nil {
		allowed := cfg.vniAllowed(p.Session.VNI, p.Session.HasVNI)
		s = r.session(p, allowed)
		s.count(p, ts)
		if !allowed {
			s.drops.Add(1)
			r.stats.rejected[rejectVNI].Add(1)
			return
		}
	}
	if err != nil {
		de, ok := err.(decode.Error)
		if !ok || int(de) >= len(r.stats.decodeErr) {
			de = decode.ErrShort
		}
		r.stats.decodeErr[de].Add(1)
		if s != nil {
			s.drops.Add(1)
		}
		return
	}
	r.stats.accepted.Add(1)
	if r.pc != nil {
		r.pcapAdd(data, wire, p, s, ts)
	}
	flow.MakeKey(p, &r.key)
	si := int(r.key.Hash() % uint64(len(r.cur)))
	b := r.cur[si]
	if b == nil {
		b = <-r.l.shards[si].free
		r.cur[si] = b
	}
	b.pkts[b.n] = *p
	b.meta[b.n] = pktMeta{ts: ts, whole: wire <= len(data)}
	b.n++
	if b.n == batchSize {
		r.l.shards[si].in <- b
		r.cur[si] = nil
	}
}

func (r *receiver) session(p *decode.Packet, allowed bool) *session {
	k := keyOf(p)
	if r.lastSess != nil && k == r.lastKey {
		return r.lastSess
	}
	s := r.l.reg.get(k, p.Session.OuterDst, allowed)
	r.lastSess, r.lastKey = s, k
	return s
}

func (r *receiver) flushAll() {
	for i, b := range r.cur {
		if b != nil && b.n > 0 {
			r.l.shards[i].in <- b
			r.cur[i] = nil
		}
	}
}
