package engine

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"sync"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Parallel runs the analysis of one capture on several engines, one per
// worker goroutine, and merges their results into the report one Engine
// would have written: the same bytes, flow ids and order included.
//
// The reader (the goroutine calling Run) decodes every frame, once, and
// does what is global to the capture, in frame order: the frame counter,
// the clock (time steps back), decode errors, encapsulation and session
// counters, truncation, fragment reassembly, the filter, and the ticks
// that end idle flows. Each admitted packet then goes, by the symmetric
// hash of its flow key (flow.PacketHash), to the worker that owns its
// flow, which runs the flow lookup, TCP analysis and diagnosis. A flow's
// packets so meet one engine, in frame order. Packets travel decoded, in
// batches: copying the frame's bytes instead and decoding them again in
// the worker measured slower (docs/benchmarks.md).
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
	disp    *Engine
	ws      []*worker
	flowNow int64 // latest time of a packet that reached its flow
	ran     bool
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

const (
	itemPacket = iota // the next packet of batch.pkts
	itemTick          // end idle flows as of ts
)

type item struct {
	frame uint64
	ts    int64
	kind  uint8
}

// batch is what the reader hands a worker at once: packets and ticks in
// frame order.
type batch struct {
	items []item
	pkts  []decode.Packet
}

const (
	batchItems = 512
	batchesPer = 6 // per worker: in flight and being filled
)

type worker struct {
	e    *Engine
	in   chan *batch
	free chan *batch
	cur  *batch
}

// NewParallel returns a parallel analysis over n workers (n >= 2; for one,
// use New). cfg is what New takes; OnPacket and OnFlowEnd must be nil.
func NewParallel(cfg Config, n int) *Parallel {
	if n < 2 {
		n = 2
	}
	if cfg.OnPacket != nil || cfg.OnFlowEnd != nil {
		panic("engine: NewParallel with per-packet hooks")
	}
	pe := &Parallel{disp: New(cfg)}
	wcfg := cfg
	wcfg.Accept = nil // the reader filters
	wcfg.Flow.MaxFlows = (cfg.Flow.MaxFlows + n - 1) / n
	if cfg.Flow.MaxFlows <= 0 {
		wcfg.Flow.MaxFlows = (flow.DefaultConfig().MaxFlows + n - 1) / n
	}
	for range n {
		e := New(wcfg)
		e.cfg.MaxReportFlows = pe.disp.cfg.MaxReportFlows
		e.budget = pe.disp.budget / n
		e.maxDiag = max(1, (pe.disp.maxDiag+n-1)/n)
		e.par = &workerState{sessFlows: map[flow.SessionKey]uint64{}}
		w := &worker{e: e, in: make(chan *batch, batchesPer), free: make(chan *batch, batchesPer)}
		for range batchesPer {
			w.free <- &batch{items: make([]item, 0, batchItems), pkts: make([]decode.Packet, 0, batchItems)}
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
	for _, w := range pe.ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range w.in {
				w.process(b)
				w.free <- b
			}
		}()
	}
	perFile := make([]uint64, files)
	var f capture.Frame
	var err error
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
		pe.dispatch(f.Data, f.TS, f.OrigLen, f.Link)
	}
	for _, w := range pe.ws {
		if w.cur != nil && len(w.cur.items) > 0 {
			w.in <- w.cur
		}
		w.cur = nil
		close(w.in)
	}
	wg.Wait()
	return perFile, err
}

// dispatch does the capture-global part of one frame and hands it to the
// worker of its flow.
func (pe *Parallel) dispatch(data []byte, ts int64, origLen uint32, link decode.LinkType) {
	d := pe.disp
	d.frame++
	c := &d.capt
	c.Packets++
	d.clock(ts)
	p := &d.pkt
	if err := d.dec.Decode(data, link, origLen, p); err != nil {
		de, ok := err.(decode.Error)
		if !ok {
			de = decode.ErrShort
		}
		d.countError(ts, de)
		return
	}
	c.Bytes += uint64(p.FrameLen) // inner frames, as Engine.Packet counts them
	if !d.admit(p, ts, len(data) >= int(origLen)) {
		return
	}
	if ts > pe.flowNow {
		pe.flowNow = ts
	}
	w := pe.ws[flow.PacketHash(p)%uint64(len(pe.ws))]
	b := w.batch()
	b.items = append(b.items, item{frame: d.frame, ts: ts, kind: itemPacket})
	b.pkts = append(b.pkts, *p)
	if len(b.items) == cap(b.items) {
		w.send()
	}
	if d.tick(ts) {
		// Every table ends its idle flows as of the same time, at the
		// same point of its stream as one engine would.
		for _, w := range pe.ws {
			b := w.batch()
			b.items = append(b.items, item{kind: itemTick, ts: pe.flowNow})
			if len(b.items) == cap(b.items) {
				w.send()
			}
		}
	}
}

// batch returns the batch being filled.
func (w *worker) batch() *batch {
	if w.cur == nil {
		w.cur = <-w.free
		w.cur.items, w.cur.pkts = w.cur.items[:0], w.cur.pkts[:0]
	}
	return w.cur
}

func (w *worker) send() {
	w.in <- w.cur
	w.cur = nil
}

// process runs a batch through the worker's engine.
func (w *worker) process(b *batch) {
	e := w.e
	next := 0
	for i := range b.items {
		it := &b.items[i]
		switch it.kind {
		case itemPacket:
			e.frame = it.frame
			e.flowPacket(&b.pkts[next], it.ts)
			next++
		case itemTick:
			e.table.Advance(it.ts)
			e.table.Expire()
		}
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
