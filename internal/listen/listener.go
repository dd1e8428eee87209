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

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
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
// reads them while the goroutine runs). The kernel's drops are counted by
// the sockets themselves (capture.Listener.Stats, LiveSource.Stats).
type recvStats struct {
	datagrams, bytes atomic.Uint64
	decodeErr        [decode.NumErrors + 1]atomic.Uint64
	rejected         [numRejects]atomic.Uint64
	accepted         atomic.Uint64
}

// receiver is the state of one receiving socket: a socket of a
// capture.Listener (whose goroutine calls handleUDP) or an --iface
// source (read by runIface). Only that goroutine touches it while
// receiving.
type receiver struct {
	l      *Listener
	kind   string         // "vxlan", "geneve", "erspan", "gre-udp", "iface"
	live   capture.Source // --iface
	addr   netip.AddrPort // bound address (UDP)
	rcvbuf int            // receive buffer (ring) the kernel granted
	dec    *decode.Decoder
	pkt    decode.Packet
	key    flow.Key
	cur    []*batch // per shard, nil when none taken
	pc     *pcapBatch
	stats  recvStats

	lastSess *session
	lastKey  sessionKey
	// Counts of the current batch, added to the shared atomics once per
	// batch (endCounts): per packet they would cost several locked
	// instructions, on cache lines the receivers of a session share.
	acc      uint64
	pend     pendingCount
	localDst netip.Addr      // bound address when specific: the outer destination if PKTINFO gave none
	outer    *decode.Decoder // NoDecap decoder for --write-pcap of mirror frames on --iface
	// own is the shard this receiver analyses into itself (inline
	// mode), nil when packets go to the shards over their queues.
	own *shard
}

// udpListener is one VXLAN or GENEVE capture.Listener; its socket i is
// receiver base+i.
type udpListener struct {
	l    *capture.Listener
	base int
}

// shard is one analysis engine. In queue mode its goroutine (runShard)
// takes batches off in; in inline mode one receiver calls the engine
// itself and the goroutine only runs timers and HTTP requests. Either
// way mu is held by whoever uses eng: uncontended in queue mode, taken
// once per recvmmsg batch in inline mode.
type shard struct {
	mu   sync.Mutex
	idx  int
	in   chan *batch
	free chan *batch
	ctl  chan func(*engine.Engine)
	done chan struct{}
	eng  *engine.Engine
	live atomic.Int64
	rep  *result.Report // set when the shard finished
}

// Listener is a running traffic-mirror target. Build it with New, run it
// with Run; Run closes everything it opened when it returns.
type Listener struct {
	reopenReq chan struct{} // Reopen -> housekeeping
	cfg       Config
	udp       []udpListener
	recvs     []*receiver
	// recvCtx is cancelled to stop receiving (the sockets then hand over
	// what they already hold).
	recvCtx  context.Context
	recvStop context.CancelFunc
	shards   []*shard
	reg      *registry
	sink     *sink
	pcap     *pcapWriter
	httpLn   net.Listener
	httpSv   *http.Server
	start    time.Time

	flowsEnded atomic.Uint64
	vxlanAddr  netip.AddrPort
	geneveAddr netip.AddrPort
	erspanAddr netip.Addr
	greUDPAddr netip.AddrPort

	runOnce sync.Once
}

// New opens the sockets (and the HTTP port) of cfg; nothing is received
// until Run.
func New(cfg Config) (*Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &Listener{cfg: cfg, reg: newRegistry(cfg.MaxSessions), reopenReq: make(chan struct{}, 1)}
	l.sink = newSink(cfg.Out, cfg.RecentFlows, cfg.RecentFindings)
	l.sink.taps = cfg.Taps
	l.sink.half = newHalfFlows(cfg.HalfFlows, cfg.MaxSessions)
	ok := false
	defer func() {
		if !ok {
			l.closeAll()
		}
	}()
	l.recvCtx, l.recvStop = context.WithCancel(context.Background())
	if cfg.Iface != "" {
		srcs, err := openIface(l.recvCtx, &cfg)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		for _, s := range srcs {
			l.recvs = append(l.recvs, &receiver{kind: "iface", live: s, rcvbuf: ifaceRingBlock * max(cfg.RcvBuf/ifaceRingBlock, 8)})
		}
	} else {
		for _, u := range []struct {
			kind    string
			addr    string
			k       capture.Kind
			sockets int
		}{{"vxlan", cfg.VXLAN, capture.VXLAN, cfg.Sockets}, {"geneve", cfg.GENEVE, capture.GENEVE, cfg.Sockets},
			{"erspan", cfg.ERSPAN, capture.GRE, 1}, {"gre-udp", cfg.GREUDP, capture.GREUDP, 1}} {
			if u.addr == "" {
				continue
			}
			if u.k == capture.GRE {
				if _, err := netip.ParseAddr(u.addr); err != nil {
					return nil, fmt.Errorf("listen: %s listen address %q: want an IP address (GRE has no port): %w", u.kind, u.addr, err)
				}
			} else if _, err := netip.ParseAddrPort(u.addr); err != nil {
				return nil, fmt.Errorf("listen: %s listen address %q: want ADDR:PORT: %w", u.kind, u.addr, err)
			}
			ul, err := capture.Listen(l.recvCtx, capture.ListenConfig{Addr: u.addr, Kind: u.k, Sockets: u.sockets,
				RcvBuf: cfg.RcvBuf, Batch: cfg.Batch, MaxDatagram: maxDatagram, Symmetric: true, GRO: cfg.GRO}, cfg.Logger)
			if err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
			l.udp = append(l.udp, udpListener{l: ul, base: len(l.recvs)})
			ap := boundAddr(ul.LocalAddrs()[0])
			switch u.k {
			case capture.VXLAN:
				l.vxlanAddr = ap
			case capture.GENEVE:
				l.geneveAddr = ap
			case capture.GRE:
				l.erspanAddr = ap.Addr()
			case capture.GREUDP:
				l.greUDPAddr = ap
			}
			for _, ss := range ul.Stats().Sockets {
				l.recvs = append(l.recvs, &receiver{kind: u.kind, addr: ap, rcvbuf: ss.RcvBuf})
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
	nrecv := len(l.recvs)
	nshards := cfg.ShardCount()
	// Inline analysis needs every connection read by one receiver, in
	// arrival order: true when each UDP listener steers symmetrically
	// (or has one socket) and there is one receiver per shard.
	inline := cfg.Shards == 0 && cfg.Iface == "" && nshards == nrecv
	for _, u := range l.udp {
		if !u.l.Steered() && u.l.Config().Sockets > 1 {
			inline = false
		}
	}
	if cfg.Shards == 0 && !inline {
		cfg.Logger.Warn("connections are not steered to one socket each: analysing on separate goroutines", "shards", nshards)
	}
	for i := 0; i < nshards; i++ {
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
		// The memory budget is the process's: each shard's engine gets
		// its share.
		ec.MemoryLimit = cfg.Engine.MemoryLimit / int64(nshards)
		n := uint64(nshards)
		idx := uint64(i)
		ec.OnFlowEnd = func(rf *result.Flow) {
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
	for i, r := range l.recvs {
		r.l, r.dec, r.cur = l, decode.New(cfg.Engine.Decode), make([]*batch, nshards)
		if inline {
			r.own = l.shards[i]
		}
		if r.addr.Addr().IsValid() && !r.addr.Addr().IsUnspecified() {
			r.localDst = r.addr.Addr()
		}
		if l.pcap != nil {
			r.pc = l.pcap.getBatch()
		}
	}
	ok = true
	return l, nil
}

// Reopen asks the running listener to reopen its output: the --out file
// (when Config.Out has a Reopen method, as RotatingFile) and a new
// --write-pcap file. For logrotate: mirrorscope listen does it on SIGHUP.
// It does not wait; a request while one is pending is merged with it.
func (l *Listener) Reopen() {
	select {
	case l.reopenReq <- struct{}{}:
	default:
	}
}

// VXLANAddr is the bound VXLAN address (useful with port 0).
func (l *Listener) VXLANAddr() netip.AddrPort { return l.vxlanAddr }

// GENEVEAddr is the bound GENEVE address.
func (l *Listener) GENEVEAddr() netip.AddrPort { return l.geneveAddr }

// ERSPANAddr is the bound address of the GRE (ERSPAN) listener.
func (l *Listener) ERSPANAddr() netip.Addr { return l.erspanAddr }

// GREUDPAddr is the bound GRE-over-UDP address.
func (l *Listener) GREUDPAddr() netip.AddrPort { return l.greUDPAddr }

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
	l.sink.start() // stopped after the last line below

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
	recvErr := make(chan error, len(l.udp)+len(l.recvs))
	var recvWG sync.WaitGroup
	for _, u := range l.udp {
		recvWG.Add(1)
		handle := func(sock int, b []capture.Datagram) { l.recvs[u.base+sock].handleUDP(b) }
		go func() { defer recvWG.Done(); recvErr <- u.l.Run(l.recvCtx, handle) }()
	}
	for _, r := range l.recvs {
		if r.live != nil {
			recvWG.Add(1)
			go func() { defer recvWG.Done(); recvErr <- r.runIface() }()
		}
	}
	stopAux := make(chan struct{})
	var auxWG sync.WaitGroup
	auxWG.Add(1)
	go func() { defer auxWG.Done(); l.housekeeping(stopAux) }()

	log.Info("listening", "vxlan", l.vxlanAddr, "geneve", l.geneveAddr, "erspan", l.erspanAddr, "gre_udp", l.greUDPAddr, "iface", l.cfg.Iface,
		"sockets", len(l.recvs), "shards", len(l.shards), "inline", l.recvs[0].own != nil, "http", l.HTTPAddr())

	var firstErr error
	select {
	case <-ctx.Done():
	case err := <-recvErr:
		if err != nil {
			firstErr = fmt.Errorf("listen: %w", err)
		}
	}
	// Stop receiving: each receiver drains its socket and hands over its
	// last batches.
	l.recvStop()
	recvWG.Wait()
	close(recvErr)
	for err := range recvErr {
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("listen: %w", err)
		}
	}
	// The receiving goroutines are gone: hand over their last batches.
	for _, r := range l.recvs {
		r.endCounts()
		r.flushAll()
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
	l.sink.sessions(time.Now(), l.reg.infos()) // taps' last snapshot: every packet counted
	for i := range sum.Findings {
		l.sink.finding(&sum.Findings[i])
	}
	l.sink.summary(sum)
	if err := l.sink.flush(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("listen: writing output: %w", err)
	}
	l.sink.stop()
	if err := l.sink.closeTaps(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("listen: %w", err)
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
	if l.recvStop != nil {
		l.recvStop()
	}
	for _, u := range l.udp {
		u.l.Close()
	}
	for _, r := range l.recvs {
		if r.live != nil {
			r.live.Close()
		}
	}
	if l.httpLn != nil {
		l.httpLn.Close()
	}
	if l.pcap != nil {
		l.pcap.abort()
	}
}

// reportTicker ticks every d; with d <= 0 its channel is nil (never
// ready in a select).
func reportTicker(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// housekeeping flushes the output and reports listener-level findings
// while the listener runs.
func (l *Listener) housekeeping(stop <-chan struct{}) {
	flush := time.NewTicker(l.cfg.FlushInterval)
	defer flush.Stop()
	rep, stopRep := reportTicker(l.cfg.ReportInterval)
	defer stopRep()
	var tap <-chan time.Time
	if len(l.cfg.Taps) > 0 && l.cfg.TapInterval > 0 {
		t := time.NewTicker(l.cfg.TapInterval)
		defer t.Stop()
		tap = t.C
	}
	var last liveCounts
	for {
		select {
		case <-stop:
			return
		case now := <-tap:
			l.sink.sessions(now, l.reg.infos())
		case <-flush.C:
			if err := l.sink.flush(); err != nil {
				l.cfg.Logger.Error("writing output", "err", err)
			}
		case <-rep:
			last = l.liveFindings(last)
		case <-l.reopenReq:
			if l.pcap != nil {
				l.pcap.reopen.Store(true)
			}
			if err := l.sink.reopen(); err != nil {
				l.cfg.Logger.Error("reopening the output", "err", err)
			} else {
				l.cfg.Logger.Info("reopened the output files")
			}
		}
	}
}

// runShard is a shard goroutine: it alone uses sh.eng.
func (l *Listener) runShard(sh *shard) {
	defer close(sh.done)
	exp := time.NewTicker(l.cfg.ExpireInterval)
	defer exp.Stop()
	rep, stopRep := reportTicker(l.cfg.ReportInterval)
	defer stopRep()
	n := uint64(len(l.shards))
	for {
		select {
		case b, ok := <-sh.in:
			sh.mu.Lock()
			if !ok {
				sh.rep = sh.eng.Finish()
				sh.live.Store(0)
				sh.mu.Unlock()
				return
			}
			for i := 0; i < b.n; i++ {
				sh.eng.Decoded(&b.pkts[i], b.meta[i].ts, b.meta[i].whole)
			}
			sh.live.Store(int64(sh.eng.LiveFlows()))
			sh.mu.Unlock()
			b.n = 0
			sh.free <- b
		case f := <-sh.ctl:
			sh.mu.Lock()
			f(sh.eng)
			sh.mu.Unlock()
		case <-exp.C:
			sh.mu.Lock()
			sh.eng.Expire(time.Now().UnixNano())
			sh.live.Store(int64(sh.eng.LiveFlows()))
			sh.mu.Unlock()
		case <-rep:
			// Long flows are reported while they last.
			// Only flows old enough are built, and at most the report's
			// cap per shard (the most recently active): a tick during a
			// flood of short flows must not build an entry per live flow.
			old := time.Now().Add(-l.cfg.ReportInterval).UnixNano()
			sh.mu.Lock()
			snap := sh.eng.SnapshotStartedBefore(old, sh.eng.MaxReportFlows())
			sh.mu.Unlock()
			for i := range snap {
				f := &snap[i]
				f.ID = f.ID*n + uint64(sh.idx)
				l.sink.flow(f, true)
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

// maxHold bounds how long (in packet time) a receiver keeps a shard's
// batch back while it fills.
const maxHold = int64(5 * time.Millisecond)

// handleUDP processes one recvmmsg batch of a socket. It runs on the
// socket's goroutine; the datagrams are valid until it returns. A shard's
// batch is handed over when it is full, when its oldest packet is maxHold
// older than the newest, and when the socket has been read empty (the
// empty batch capture.Listener.Run passes then): under load a shard is
// woken once per batchSize packets, when traffic is light at once.
func (r *receiver) handleUDP(batch []capture.Datagram) {
	if len(batch) == 0 {
		r.flushAll()
		return
	}
	now := int64(0)
	var bytes uint64
	if r.own != nil {
		r.own.mu.Lock()
	}
	for i := range batch {
		d := &batch[i]
		ts := d.TS
		if ts == 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			ts = now
		}
		bytes += uint64(d.Len)
		r.datagram(d.Data, d.Len, d.Src, d.Dst, ts)
	}
	if r.own != nil {
		r.own.live.Store(int64(r.own.eng.LiveFlows()))
		r.own.mu.Unlock()
	}
	r.stats.datagrams.Add(uint64(len(batch)))
	r.stats.bytes.Add(bytes)
	r.endCounts()
	last := batch[len(batch)-1].TS
	for i, b := range r.cur {
		if b != nil && b.n > 0 && last-b.meta[0].ts > maxHold {
			r.l.shards[i].in <- b
			r.cur[i] = nil
		}
	}
	if r.pc != nil && r.pc.n > 0 {
		r.l.pcap.send(r.pc)
		r.pc = r.l.pcap.getBatch()
	}
}

// endBatch hands over what one batch of datagrams (one recvmmsg, or one
// --iface frame) produced: the counts, each shard's packets, the pcap
// records.
func (r *receiver) endBatch() {
	r.endCounts()
	r.flushAll()
	if r.pc != nil && r.pc.n > 0 {
		r.l.pcap.send(r.pc)
		r.pc = r.l.pcap.getBatch()
	}
}

// endCounts adds the batch's counts to the shared counters.
func (r *receiver) endCounts() {
	if r.acc > 0 {
		r.stats.accepted.Add(r.acc)
		r.acc = 0
	}
	r.pend.flush()
}

// datagram decodes one VXLAN, GENEVE or GRE datagram of wire bytes (data may
// be shorter) from outer source from to outer destination dst.
func (r *receiver) datagram(data []byte, wire int, from netip.AddrPort, dst netip.Addr, ts int64) {
	if !r.l.cfg.srcAllowed(from.Addr()) {
		r.stats.rejected[rejectSrc].Add(1)
		return
	}
	if !dst.IsValid() {
		dst = r.localDst
	}
	var err error
	switch r.kind {
	case "geneve":
		err = r.dec.DecodeGENEVEPayload(data, from.Addr(), dst, from.Port(), &r.pkt)
	case "erspan", "gre-udp":
		err = r.dec.DecodeGREPayload(data, from.Addr(), dst, from.Port(), &r.pkt)
	default:
		err = r.dec.DecodeVXLANPayload(data, from.Addr(), dst, from.Port(), &r.pkt)
	}
	r.deliver(data, wire, ts, err)
}

// frame decodes one frame captured on --iface.
func (r *receiver) frame(data []byte, link decode.LinkType, wire int, ts int64) {
	p := &r.pkt
	err := r.dec.Decode(data, link, uint32(wire), p)
	if p.Encap != decode.EncapNone && !r.l.cfg.srcAllowed(p.Session.OuterSrc) {
		r.stats.rejected[rejectSrc].Add(1)
		return
	}
	r.deliver(data, wire, ts, err)
}

// deliver counts the decoded r.pkt in its session, applies the VNI
// allow-list and queues it for the shard that owns its flow.
func (r *receiver) deliver(data []byte, wire int, ts int64, err error) {
	cfg := &r.l.cfg
	p := &r.pkt
	// The allow-lists come before any state: rejected traffic is only
	// counted, so it can neither fill the session registry nor push the
	// allowed sessions into the overflow one.
	if (p.Session.HasVNI || p.Encap == decode.EncapNone || err == nil) && !cfg.vniAllowed(p.Session.VNI, p.Session.HasVNI) {
		r.stats.rejected[rejectVNI].Add(1)
		return
	}
	if err != nil {
		de, ok := err.(decode.Error)
		if !ok || int(de) >= len(r.stats.decodeErr) {
			de = decode.ErrShort
		}
		r.stats.decodeErr[de].Add(1)
		// A datagram that did not decode creates no session either; a
		// session already known counts it as dropped.
		if p.Session.HasVNI || p.Encap == decode.EncapNone {
			if s := r.l.reg.lookup(keyOf(p)); s != nil {
				s.drops.Add(1)
			}
		}
		return
	}
	s := r.session(p, true)
	r.pend.count(s, p, ts)
	r.acc++
	if r.pc != nil {
		r.pcapAdd(data, wire, p, s, ts)
	}
	if r.own != nil {
		// Inline: handleUDP holds r.own.mu for the batch.
		r.own.eng.Decoded(p, ts, wire <= len(data))
		return
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

// kernelDrops returns each receiver's count of datagrams (frames) the
// kernel dropped because its socket buffer (ring) was full.
func (l *Listener) kernelDrops() []uint64 {
	out := make([]uint64, len(l.recvs))
	for _, u := range l.udp {
		for i, s := range u.l.Stats().Sockets {
			out[u.base+i] = s.Drops
		}
	}
	for i, r := range l.recvs {
		if r.live != nil {
			out[i] = r.ifaceDrops()
		}
	}
	return out
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
