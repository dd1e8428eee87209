package engine

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Parallel runs the analysis of one capture on several engines, one per
// worker goroutine, and merges their results into the report one Engine
// would have written: the same bytes, flow ids and order included.
//
// The reader (the goroutine calling Run) gathers the frames into large
// blocks (blockFrames frames or blockBytes bytes) and hands every block to
// every worker at once. From a source that can read into the blocks
// itself (capture.FileSource.Retain: analyze's files, not read ahead) a
// block is the source's buffer and the frames it read there, uncopied;
// from any other source the reader copies the frames into the block. For the common frame (Ethernet, at most one
// 802.1Q tag, IPv4 without options or IPv6 without extension headers, not
// a fragment, TCP or UDP; plain, in VXLAN, or in GENEVE around VXLAN) it
// reads the flow hash from the raw headers (decode.Peek, flow.PeekHash:
// PacketHash of the packet Decode would make) and marks the frame; such a
// frame always decodes and reaches its flow. A worker decodes a marked
// frame only when its flow is the worker's: it counts the frame's
// capture-global counters (bytes, encapsulations, sessions, truncation)
// and runs its flow (lookup, TCP analysis, diagnosis); the other workers
// only number the frame and run the ticks that end idle flows (worker 0
// also the capture clock). Every other frame (fragments, tunnels, options, tags, decode
// errors, non-IP) every worker decodes and runs through the
// capture-global part in frame order (fragment reassembly, the filter),
// as one engine does, worker 0's counts being kept. With --vni or
// --filter (Config.Select, Accept) no frame is marked. Finish adds the
// counters of the other workers' own marked frames to worker 0's.
//
// A flow's packets so meet one engine, in frame order. Handing decoded
// packets to another core cost ~80-130 ns a packet (docs/benchmarks.md);
// a block costs one hand-off for thousands of frames, and a worker reads
// only the headers of its own frames.
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
	disp *Engine // worker 0's capture-global engine: the report's counters
	ws   []*worker
	// peek: the reader deals frames by decode.Peek where it can (no
	// --vni or --filter: every frame it reads reaches its flow); dec and
	// pk are its decoder and scratch.
	peek bool
	dec  *decode.Decoder
	pk   decode.FlowPeek
	// peeked counts the frames dealt by Peek (tests).
	peeked uint64
	free   chan *block
	// bufBytes is the blocks' data size (blockBytes; tests change it).
	bufBytes int
	ran      bool
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

// blockFrame is one frame of a block: data[off:off+n]. It holds no
// pointer, so the collector does not scan the blocks.
type blockFrame struct {
	ts   int64
	off  uint32
	n    uint32
	orig uint32
	link decode.LinkType
	// peeked: the reader read the frame's flow hash with decode.Peek
	// (when Parallel.peek); the frame then reaches its flow.
	peeked bool
	hash   uint64
}

// block is a run of frames, shared read-only by every worker; the last
// worker done with it gives it back. The frames' bytes are in data:
// copied there out of the source, or, from a source that reads into
// buffers it hands over (capture.FileSource.Retain), read there by the
// source itself (data is then the source's buffer, the frames it
// returned from it, and the block ends when the source moves on).
type block struct {
	data   []byte
	frames []blockFrame
	refs   atomic.Int32
}

const (
	blockFrames = 4096
	blockBytes  = ParallelBufferSize
	blocksOut   = 4 // blocks in flight: being filled, queued, being analysed
)

// ParallelBufferSize is the size of a block's data: the read buffer
// size (capture.Options.BufferSize) to open a source with for Parallel,
// which can then read into the blocks itself (capture.FileSource.Retain
// takes buffers at least as large as what was read at open). 512 KiB
// hold ~3,500 frames of a bulk capture, about blockFrames.
const ParallelBufferSize = 512 << 10

type worker struct {
	idx, n int
	g      *Engine // capture-global part (decode, clock, admit, ticks)
	e      *Engine // the worker's flows
	// acc counts the capture-global part of the worker's own peeked
	// frames (see process): g for worker 0, else an engine of its own
	// whose counters Finish adds to worker 0's (g when nothing is
	// peeked).
	acc *Engine
	// flowNow is the latest time of a packet that reached its flow (any
	// worker's): idle flows end as of it, as in one engine's table.
	flowNow int64
	in      chan *block
	// owner maps a flow hash bucket to its worker + 1 (0: not yet seen).
	// Buckets are dealt out in turn as their first packets come, rather
	// than by the hash modulo n: a few big flows then split evenly (8
	// bulk flows went 6 to 2 by hash), many flows as by a hash.
	owner []uint16
	turn  uint16
}

// ownerBits sizes the flow buckets dealt out to workers: 2^14 buckets,
// 32 KiB per worker; flows sharing a bucket share a worker.
const ownerBits = 14

// maxWorkers bounds NewParallel's n (owner entries are 16 bits).
const maxWorkers = 1024

// NewParallel returns a parallel analysis over n workers (n >= 2; for one,
// use New). cfg is what New takes; OnPacket and OnFlowEnd must be nil.
func NewParallel(cfg Config, n int) *Parallel {
	n = min(max(n, 2), maxWorkers)
	if cfg.OnPacket != nil || cfg.OnFlowEnd != nil {
		panic("engine: NewParallel with per-packet hooks")
	}
	pe := &Parallel{disp: New(cfg), free: make(chan *block, blocksOut), dec: decode.New(cfg.Decode), bufBytes: blockBytes}
	pe.peek = cfg.Select == nil && cfg.Accept == nil
	for range blocksOut {
		pe.free <- &block{data: make([]byte, 0, blockBytes), frames: make([]blockFrame, 0, blockFrames)}
	}
	wcfg := cfg
	wcfg.Accept = nil // the capture-global engine filters
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
		g := pe.disp
		if i > 0 {
			// A copy of the capture-global state, so that this worker
			// sees the same packets reach their flows (filter, fragment
			// reassembly, ticks); its counters are not reported.
			g = New(cfg)
		}
		w := &worker{idx: i, n: n, g: g, e: e, acc: g, in: make(chan *block, blocksOut), owner: make([]uint16, 1<<ownerBits)}
		if i > 0 && pe.peek {
			w.acc = New(cfg)
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
				if b.refs.Add(-1) == 0 {
					pe.free <- b
				}
			}
			// The flows live at the end, ended here, on every worker
			// at once: their diagnoses' Finish is a tenth of the
			// analysis of a bulk capture, and Finish runs on one
			// goroutine.
			w.e.table.Flush("end_of_capture")
		}()
	}
	perFile := make([]uint64, files)
	var f capture.Frame
	var err error
	// A retaining source reads into the blocks' data itself: no copy.
	// next is the block whose data the source took last.
	var next *block
	rs, retain := src.(retainSource)
	retain = retain && rs.Retain(pe.bufBytes, func() []byte {
		if next != nil {
			// The source moved on again before returning a frame
			// from next's data (files without frames, pcapng blocks
			// other than packets): nothing of it is in use.
			pe.free <- next
		}
		next = pe.take()
		next.data = next.data[:cap(next.data)]
		return next.data
	})
	var gen uint64
	var b *block
	if retain {
		b, next, gen = next, nil, rs.BufferGen()
	} else {
		b = pe.take()
	}
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
		if retain {
			if g := rs.BufferGen(); g != gen {
				// The source moved to next's data: b's frames are
				// all it will hold.
				gen = g
				if len(b.frames) > 0 {
					pe.send(b)
				} else {
					pe.free <- b
				}
				b, next = next, nil
				b.frames = b.frames[:0]
			}
			// The frames grow past blockFrames only for records
			// of a few bytes (a block ends with its buffer).
			b.frames = append(b.frames, blockFrame{})
			bf := &b.frames[len(b.frames)-1]
			bf.ts, bf.off, bf.n, bf.orig, bf.link = f.TS, uint32(offsetIn(b.data, f.Data)), uint32(len(f.Data)), f.OrigLen, f.Link
			pe.mark(bf, f.Data, f.Link, f.OrigLen)
			continue
		}
		if len(b.frames) == cap(b.frames) || len(b.data)+len(f.Data) > cap(b.data) {
			if len(b.frames) > 0 {
				pe.send(b)
				b = pe.take()
			}
			if len(f.Data) > cap(b.data) {
				// A record larger than a block (up to
				// capture.Options.MaxRecord): this block grows for it.
				b.data = make([]byte, 0, len(f.Data))
			}
		}
		off := len(b.data)
		b.data = append(b.data, f.Data...)
		// Field by field: a composite literal was built on the stack and
		// copied 16 bytes at a time, a store-forwarding stall per frame.
		b.frames = b.frames[:len(b.frames)+1]
		bf := &b.frames[len(b.frames)-1]
		bf.ts, bf.off, bf.n, bf.orig, bf.link = f.TS, uint32(off), uint32(len(f.Data)), f.OrigLen, f.Link
		pe.mark(bf, f.Data, f.Link, f.OrigLen)
	}
	if len(b.frames) > 0 {
		pe.send(b)
	}
	for _, w := range pe.ws {
		close(w.in)
	}
	wg.Wait()
	return perFile, err
}

// mark reads the flow hash of bf, whose bytes are data, when decode.Peek
// can (link and orig are bf's, passed rather than loaded back).
func (pe *Parallel) mark(bf *blockFrame, data []byte, link decode.LinkType, orig uint32) {
	bf.peeked = pe.peek && pe.dec.Peek(data, link, orig, &pe.pk)
	if bf.peeked {
		bf.hash = flow.PeekHash(&pe.pk)
		pe.peeked++
	}
}

// offsetIn returns where d, a slice of buf's array, starts in buf. The
// source returned d out of buf, the buffer it read into (Retain); a frame
// elsewhere would be a broken contract, not a capture to analyse.
func offsetIn(buf, d []byte) int {
	if len(d) == 0 {
		// A record with no bytes: nothing to point at (an empty
		// three-index slice keeps the array's start).
		return 0
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(d))) - uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	if off < 0 || off+len(d) > len(buf) {
		panic("engine: a retained frame outside its source's buffer")
	}
	return off
}

// retainSource is a source whose frames can stay where it read them
// (capture.FileSource).
type retainSource interface {
	Retain(size int, get func() []byte) bool
	BufferGen() uint64
}

// setBlockBytes replaces the blocks by blocks of n bytes (tests: a
// retaining source then moves buffers often). Before Run only.
func (pe *Parallel) setBlockBytes(n int) {
	for range blocksOut {
		<-pe.free
	}
	for range blocksOut {
		pe.free <- &block{data: make([]byte, 0, n), frames: make([]blockFrame, 0, blockFrames)}
	}
	pe.bufBytes = n
}

// take returns an empty block, waiting for one when all are in use.
func (pe *Parallel) take() *block {
	b := <-pe.free
	b.data, b.frames = b.data[:0], b.frames[:0]
	return b
}

// send hands b to every worker.
func (pe *Parallel) send(b *block) {
	b.refs.Store(int32(len(pe.ws)))
	for _, w := range pe.ws {
		w.in <- b
	}
}

// process runs the frames of b: the capture-global part on g (of a
// marked frame: only on its worker's acc), the flow part of the worker's
// own packets on e. It is Engine.PacketFrom with the flow step kept to the
// worker's flows.
func (w *worker) process(b *block) {
	g, e := w.g, w.e
	c := &g.capt
	p := &g.pkt
	// The frame number, the flow clock and the tick time stay in locals
	// over the loop: every store to the engines' fields made the
	// compiler load them again for the next frame (it cannot tell them
	// apart from what the calls write), and most frames are another
	// worker's, for which this loop does nothing else.
	frame, flowNow, lastTick := g.frame, w.flowNow, g.lastExpire
	clock := w.idx == 0
	frames := b.frames
	c.Packets += uint64(len(frames))
	for i := range frames {
		fr := &frames[i]
		ts := fr.ts
		frame++
		if clock {
			g.clock(ts)
		}
		if fr.peeked {
			// The common frame: its flow read from the raw headers,
			// and decoded (and counted) only by its worker. Peek
			// reads only frames that Decode gives without error as a
			// packet that reaches its flow, so every worker knows the
			// frame is admitted.
			flowNow = max(flowNow, ts)
			if w.owns(fr.hash) {
				a := w.acc
				data := b.data[fr.off : fr.off+fr.n : fr.off+fr.n]
				if err := g.dec.Decode(data, fr.link, fr.orig, p); err != nil {
					// Not reached: Peek reads only frames Decode
					// takes (TestPeekAgreesWithDecode).
					a.countError(ts, err)
					continue
				}
				a.capt.Bytes += uint64(p.FrameLen)
				a.admit(p, ts, len(data) >= int(fr.orig))
				e.frame = frame
				e.flowPacket(p, ts)
			}
			if ts-lastTick > int64(time.Second) && g.tick(ts) {
				lastTick = ts
				e.table.Advance(flowNow)
				e.table.Expire()
			}
			continue
		}
		data := b.data[fr.off : fr.off+fr.n : fr.off+fr.n]
		g.frame = frame // for the capture-global part's own use
		if err := g.dec.Decode(data, fr.link, fr.orig, p); err != nil {
			g.countError(ts, err)
			continue
		}
		c.Bytes += uint64(p.FrameLen) // inner frames, as Engine.PacketFrom counts them
		if !g.admit(p, ts, len(data) >= int(fr.orig)) {
			continue
		}
		flowNow = max(flowNow, ts)
		if w.owns(flow.PacketHash(p)) {
			e.frame = frame
			e.flowPacket(p, ts)
		}
		if ts-lastTick > int64(time.Second) && g.tick(ts) {
			// Every worker ends its idle flows as of the same time, at
			// the same point of the stream as one engine would.
			lastTick = ts
			e.table.Advance(flowNow)
			e.table.Expire()
		}
	}
	g.frame, w.flowNow = frame, flowNow
}

// owns reports whether the flow of hash h is the worker's. A bucket's
// worker is chosen at its first packet, the next in turn: the same choice
// in every worker, since each sees the same packets in the same order.
func (w *worker) owns(h uint64) bool {
	bk := h >> (64 - ownerBits)
	o := w.owner[bk]
	if o == 0 {
		o = w.turn + 1
		w.turn = (w.turn + 1) % uint16(w.n)
		w.owner[bk] = o
	}
	return int(o-1) == w.idx
}

// addCounts adds what a's admit and frame counting counted (the
// capture-global counters of a worker's own peeked frames) to d.
func addCounts(d, a *Engine) {
	c, ac := &d.capt, &a.capt
	c.Bytes += ac.Bytes
	c.IPPackets += ac.IPPackets
	c.TruncatedPackets += ac.TruncatedPackets
	c.TruncatedUpstream += ac.TruncatedUpstream
	c.DecodeErrors += ac.DecodeErrors
	for i, n := range a.errKinds {
		d.errKinds[i] += n
	}
	for i, n := range a.encap {
		d.encap[i] += n
	}
	for k, s := range a.sessions {
		ds := d.sessions[k]
		if ds == nil {
			ds = &sessionAcc{s: s.s}
			ds.s.Packets, ds.s.Bytes, ds.s.Truncated = 0, 0, 0
			d.sessions[k] = ds
		}
		ds.s.Packets += s.s.Packets
		ds.s.Bytes += s.s.Bytes
		ds.s.Truncated += s.s.Truncated
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
		if w.acc != d && w.acc != w.g {
			addCounts(d, w.acc)
		}
	}
	for _, w := range pe.ws {
		e := w.e
		e.table.Flush("end_of_capture") // when Run did not run
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
