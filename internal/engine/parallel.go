package engine

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Parallel runs the analysis of one capture on several engines, one per
// worker goroutine, and merges their results into the report one Engine
// would have written: the same bytes, flow ids and order included.
//
// The reader (the goroutine calling Run) runs, on one engine and in frame
// order, what is global to the capture: the frame counter, the clock,
// decoding, decode errors, encapsulation and session counters,
// truncation, fragment reassembly, the filter, and the once-per-second
// ticks that end idle flows. It decodes each frame straight into a slot
// of a large block (blockFrames frames) and deals each packet that goes
// on to its flow, by its flow bucket (flow.PacketHash, the same for both
// directions), to one worker: the block carries, per worker, the list of
// its packets and of the ticks, in frame order. A worker runs its packets
// through its flow engine: lookup, TCP analysis, diagnosis. A flow's
// packets so meet one engine, in frame order, and every frame is decoded
// once. A block costs one hand-off per worker for thousands of frames
// (handing packets over one by one cost ~80-130 ns a packet on the 2-vCPU
// machine of docs/benchmarks.md).
//
// Worker 0 is the reader itself: it analyses its packets as it decodes
// them, still in the cache, and n workers so are n goroutines, not n+1
// (with the reader apart, 2 workers on the 2-vCPU machine used 0.1-0.2 s
// more CPU on bulk8 than one engine; this way about as much:
// docs/benchmarks.md). Since the reader also does the capture-global
// part, it is dealt fewer buckets: one in 4(n-1)+1, the other workers four
// each, in turn. In one engine's CPU profile on bulk.srv.pcap reading,
// decoding and the capture counters are ~40 % of the analysing
// goroutine's time and the flows ~60 %: with 2 workers and 8 equal flows
// the reader then has ~0.4 + 0.6/8 of one engine's work and the other
// worker ~0.6 x 7/8.
//
// Flow ids are the creation frame numbers in the workers, renumbered at
// the end into the creation order of the whole capture. Cross-flow
// findings (correlation, shared limiters) are derived from the merged
// flows, as Finish does.
//
// What is not the same as one engine: the bounds that weigh all flows at
// once (Flow.MaxFlows, MemoryLimit, MaxDiagnosedFlows) are split evenly
// over the workers, so a capture that reaches them may evict, or leave
// undiagnosed, other flows than one engine would; when more flows end than
// MaxReportFlows, which of the equal-sized smallest ones are listed may
// differ. Per-packet hooks (OnPacket, OnFlowEnd) need one ordered stream:
// NewParallel refuses them (use New).
type Parallel struct {
	disp *Engine // the reader's capture-global engine: the report's counters
	ws   []*worker
	free chan *block
	ran  bool
	// flowNow is the latest time of a packet admitted to its flow: idle
	// flows end as of it in every worker, as in one engine's table.
	flowNow int64
	// owner maps a flow hash bucket to its worker + 1 (0: not yet seen).
	// Buckets are dealt out in turn as their first packets come, rather
	// than by the hash modulo n: a few big flows then split evenly (8
	// bulk flows went 6 to 2 by hash), many flows as by a hash.
	owner []uint16
	turn  int
}

// workerState is what a worker's Engine keeps beyond a plain Engine.
type workerState struct {
	// ids holds the provisional ids (creation frames) of every flow
	// created, ascending, as varint deltas (1-3 bytes a flow).
	ids  []byte
	last uint64
	// sessFlows counts the flows created per mirror session.
	sessFlows map[flow.SessionKey]uint64
}

func (w *workerState) created(f *flow.Flow, p *decode.Packet) {
	w.ids = binary.AppendUvarint(w.ids, f.ID-w.last)
	w.last = f.ID
	if p.Encap != decode.EncapNone {
		w.sessFlows[sessionKey(p)]++
	}
}

// block is a run of decoded packets with the reader's verdicts on them,
// shared read-only by every worker; the last worker done with it gives it
// back.
type block struct {
	// pkts are the packets admitted to their flows, decoded in place by
	// the reader (a slot is reused when its frame goes no further).
	pkts []decode.Packet
	// frames counts the frames of the block; base those of the capture
	// before it.
	frames int
	base   uint64
	// work lists, per worker and in frame order, its packets and the
	// ticks (every worker's).
	work [][]workItem
	refs atomic.Int32
}

// workItem is one step of a worker: a packet of the block to analyse, or
// a tick.
type workItem struct {
	ts    int64  // the packet's time, or the time idle flows end as of (tick)
	frame uint32 // the frame's index in the block
	slot  uint32 // the packet's index in block.pkts
	tick  bool
}

const (
	// blockFrames bounds a block: 2048 decoded packets, ~700 KB, so
	// that the blocks in flight stay small beside the caches.
	blockFrames = 2048
	blocksOut   = 4 // blocks in flight: being filled, queued, being analysed
)

func newBlock(n int) *block {
	b := &block{pkts: make([]decode.Packet, 0, blockFrames), work: make([][]workItem, n)}
	for i := 1; i < n; i++ {
		// Room for a worker's share of the block's frames and then
		// some, so the reader rarely grows them.
		b.work[i] = make([]workItem, 0, blockFrames/(n-1)+256)
	}
	return b
}

// reset empties b for the frames after the first base ones.
func (b *block) reset(base uint64) {
	b.pkts, b.frames, b.base = b.pkts[:0], 0, base
	for i := range b.work {
		b.work[i] = b.work[i][:0]
	}
}

type worker struct {
	idx int
	e   *Engine // the worker's flows
	in  chan *block
}

// ownerBits sizes the flow buckets dealt out to workers: 2^14 buckets
// (32 KiB); flows sharing a bucket share a worker.
const ownerBits = 14

// deal returns the worker of the k-th bucket dealt (see Parallel): one
// bucket to the reader (worker 0), then four rounds of the other workers.
func deal(k, n int) int {
	i := k % (4*(n-1) + 1)
	if i == 0 {
		return 0
	}
	return 1 + (i-1)%(n-1)
}

// maxWorkers bounds NewParallel's n (owner entries are 16 bits).
const maxWorkers = 1024

// NewParallel returns a parallel analysis over n workers (n >= 2; for one,
// use New). cfg is what New takes; OnPacket and OnFlowEnd must be nil.
func NewParallel(cfg Config, n int) *Parallel {
	n = min(max(n, 2), maxWorkers)
	if cfg.OnPacket != nil || cfg.OnFlowEnd != nil {
		panic("engine: NewParallel with per-packet hooks")
	}
	pe := &Parallel{disp: New(cfg), free: make(chan *block, blocksOut), owner: make([]uint16, 1<<ownerBits)}
	for range blocksOut {
		pe.free <- newBlock(n)
	}
	wcfg := cfg
	wcfg.Accept, wcfg.Select = nil, nil // the reader filters
	wcfg.Flow.MaxFlows = (cfg.Flow.MaxFlows + n - 1) / n
	if cfg.Flow.MaxFlows <= 0 {
		wcfg.Flow.MaxFlows = (flow.DefaultConfig().MaxFlows + n - 1) / n
	}
	for i := range n {
		e := New(wcfg)
		e.cfg.MaxReportFlows = pe.disp.cfg.MaxReportFlows
		e.budget = pe.disp.budget / n
		e.maxDiag = max(1, (pe.disp.maxDiag+n-1)/n)
		e.par = &workerState{sessFlows: map[flow.SessionKey]uint64{}}
		w := &worker{idx: i, e: e}
		if i > 0 { // worker 0 is the reader
			w.in = make(chan *block, blocksOut)
		}
		pe.ws = append(pe.ws, w)
	}
	return pe
}

// Workers returns the number of workers.
func (pe *Parallel) Workers() int { return len(pe.ws) }

// Run reads every frame of src and analyses it, as Engine.Run does. It
// may be called once.
func (pe *Parallel) Run(ctx context.Context, src FrameSource, files int) ([]uint64, error) {
	if pe.ran {
		panic("engine: Parallel.Run called twice")
	}
	pe.ran = true
	var wg sync.WaitGroup
	for _, w := range pe.ws[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range w.in {
				w.process(b)
				if b.refs.Add(-1) == 0 {
					pe.free <- b
				}
			}
		}()
	}
	perFile := make([]uint64, files)
	var f capture.Frame
	var err error
	b := pe.take()
	for n := 0; ; n++ {
		if n&0xfff == 0 && ctx.Err() != nil {
			break
		}
		if err = src.Next(&f); err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
		if f.File >= 0 && f.File < len(perFile) {
			perFile[f.File]++
		}
		if b.frames == blockFrames {
			pe.send(b)
			b = pe.take()
		}
		pe.global(b, f.Data, f.TS, f.OrigLen, f.Link)
	}
	if b.frames > 0 {
		pe.send(b)
	}
	for _, w := range pe.ws[1:] {
		close(w.in)
	}
	wg.Wait()
	return perFile, err
}

// take returns an empty block, waiting for one when all are in use.
func (pe *Parallel) take() *block {
	b := <-pe.free
	b.reset(pe.disp.frame)
	return b
}

// send hands b to every worker but the reader.
func (pe *Parallel) send(b *block) {
	b.refs.Store(int32(len(pe.ws) - 1))
	for _, w := range pe.ws[1:] {
		w.in <- b
	}
}

// global runs the capture-global part of the next frame of b on the
// reader's engine (Engine.PacketFrom up to the flow step), decoding it
// into b's next packet slot, and deals the packet, if it goes on to its
// flow, to its worker's list. data is read only during the call.
func (pe *Parallel) global(b *block, data []byte, ts int64, orig uint32, link decode.LinkType) {
	g := pe.disp
	c := &g.capt
	idx := b.frames
	b.frames++
	slot := len(b.pkts)
	b.pkts = b.pkts[:slot+1]
	p := &b.pkts[slot]
	g.frame++
	c.Packets++
	g.clock(ts)
	if err := g.dec.Decode(data, link, orig, p); err != nil {
		de, ok := err.(decode.Error)
		if !ok {
			de = decode.ErrShort
		}
		g.countError(ts, de)
		b.pkts = b.pkts[:slot]
		return
	}
	c.Bytes += uint64(p.FrameLen) // inner frames, as Engine.PacketFrom counts them
	if !g.admit(p, ts, len(data) >= int(orig)) {
		b.pkts = b.pkts[:slot]
		return
	}
	if ts > pe.flowNow {
		pe.flowNow = ts
	}
	bk := flow.PacketHash(p) >> (64 - ownerBits)
	o := pe.owner[bk]
	if o == 0 {
		// The bucket's first packet: its worker is the next in turn.
		o = uint16(deal(pe.turn, len(pe.ws)) + 1)
		pe.turn++
		pe.owner[bk] = o
	}
	if o == 1 {
		// The reader's own: analysed now, its slot free again.
		e := pe.ws[0].e
		e.frame = g.frame
		e.flowPacket(p, ts)
		b.pkts = b.pkts[:slot]
	} else {
		b.work[o-1] = append(b.work[o-1], workItem{ts: ts, frame: uint32(idx), slot: uint32(slot)})
	}
	if g.tick(ts) {
		// Every worker ends its idle flows as of the same time, at the
		// same point of the stream as one engine would: after this
		// packet reached its flow.
		e := pe.ws[0].e
		e.table.Advance(pe.flowNow)
		e.table.Expire()
		for w := 1; w < len(b.work); w++ {
			b.work[w] = append(b.work[w], workItem{ts: pe.flowNow, frame: uint32(idx), tick: true})
		}
	}
}

// process runs the worker's own packets of b through its flow engine, and
// the ticks. Only this worker touches its packets' slots.
func (w *worker) process(b *block) {
	e := w.e
	for _, it := range b.work[w.idx] {
		if it.tick {
			e.table.Advance(it.ts)
			e.table.Expire()
			continue
		}
		e.frame = b.base + uint64(it.frame) + 1
		e.flowPacket(&b.pkts[it.slot], it.ts)
	}
}

// AddInput records an input file's summary for the report.
func (pe *Parallel) AddInput(in result.Input) { pe.disp.AddInput(in) }

// Frames returns the number of frames read so far (after Run: all).
func (pe *Parallel) Frames() uint64 { return pe.disp.frame }

// Finish ends every live flow, merges the workers' flows and counters and
// returns the report. The Parallel must not be used afterwards.
func (pe *Parallel) Finish() *result.Report {
	d := pe.disp
	var st flow.Stats
	var kept []*result.Flow
	for _, w := range pe.ws {
		e := w.e
		e.table.Flush("end_of_capture")
		ts := e.table.Stats()
		st.Created += ts.Created
		st.Evicted += ts.Evicted
		st.Idle += ts.Idle
		st.Closed += ts.Closed
		st.Lingered += ts.Lingered
		st.Peak += ts.Peak
		for i := range d.protoFlows {
			d.protoFlows[i] += e.protoFlows[i]
		}
		d.diagSkipped += e.diagSkipped
		d.unlisted += e.unlisted
		kept = append(kept, e.kept...)
		for k, n := range e.par.sessFlows {
			if s := d.sessions[k]; s != nil {
				s.s.Flows += n
			}
		}
	}
	// Provisional ids are creation frames: their order is the creation
	// order, so sorting by them is sorting by the final ids.
	slices.SortFunc(kept, func(a, b *result.Flow) int {
		if a.Bytes != b.Bytes {
			if a.Bytes > b.Bytes {
				return -1
			}
			return 1
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	if max := d.cfg.MaxReportFlows; len(kept) > max {
		d.unlisted += uint64(len(kept) - max)
		kept = kept[:max]
	}
	pe.renumber(kept)
	d.kept = kept
	return d.report(st)
}

// renumber replaces the provisional ids of flows by their rank among all
// flows created in the capture: the id one engine would have given.
func (pe *Parallel) renumber(flows []*result.Flow) {
	byID := slices.Clone(flows)
	slices.SortFunc(byID, func(a, b *result.Flow) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	rank := make([]uint64, len(byID))
	for _, w := range pe.ws {
		ids := w.e.par.ids
		var id, count uint64
		j := 0
		for len(ids) > 0 {
			delta, n := binary.Uvarint(ids)
			ids = ids[n:]
			id += delta
			for j < len(byID) && byID[j].ID <= id {
				rank[j] += count
				j++
			}
			count++
		}
		for ; j < len(byID); j++ {
			rank[j] += count
		}
	}
	for i, f := range byID {
		f.ID = rank[i]
	}
}
