package diagnose

import (
	"runtime"
	"sync"
)

// RecordPool holds the per-packet record chunks of many flows' diagnoses
// and takes them back when a flow finishes, so that a flow ending and the
// next one starting reuse memory already touched instead of faulting in
// fresh pages (a page fault costs microseconds on a VM; a bulk flow
// writes 24 bytes of record per data segment). On Linux the chunks come
// from slabs mapped outside the Go heap and marked for transparent huge
// pages (madvise; the kernel's default THP mode): a 2 MiB page is one
// fault where 4 KiB pages are 512. Elsewhere they are ordinary Go
// allocations.
//
// One pool may serve several engines at once (analyze --workers, listen's
// receivers): get and put take a mutex, once per 1024 records. Slabs are
// kept for the pool's lifetime: its memory is the most records ever held
// at once, which the engine's memory budget (it counts the chunks a flow
// holds) bounds. They are unmapped once the pool is unreachable: every
// Flow that holds chunks also holds the pool (Config.Records), so by
// then no chunk is in use. A nil *RecordPool is valid and allocates every
// chunk on the Go heap.
type RecordPool struct {
	mu    sync.Mutex
	free  [][]rec // chunks given back, length 0, capacity recChunk
	slab  []rec   // the rest of the newest slab, carved into chunks
	slabs int     // slabs made (tests)
	maps  *slabMaps
	// origs is lent to one Finish at a time (markLoss's index of the
	// originals, 12 bytes a record): made anew at every flow's end, a
	// bulk flow's 1.5 MiB of it was fresh heap to fault in page by page,
	// a third of a whole run's page faults with 8 bulk flows.
	origs []origTx
}

// slabMaps are the pool's mappings, apart from the pool so that its
// cleanup can unmap them.
type slabMaps struct{ m [][]byte }

// NewRecordPool returns an empty pool; slabs are mapped when first
// needed.
func NewRecordPool() *RecordPool {
	p := &RecordPool{maps: &slabMaps{}}
	runtime.AddCleanup(p, func(s *slabMaps) {
		for _, m := range s.m {
			unmapSlab(m)
		}
	}, p.maps)
	return p
}

// recSlabChunks is how many chunks a slab holds: 1024 chunks of 24 KiB
// are 24 MiB, twelve 2 MiB pages.
const recSlabChunks = 1024

// get returns an empty chunk of capacity recChunk. The caller owns it
// until it hands it to put.
func (p *RecordPool) get() []rec {
	if p == nil {
		return make([]rec, 0, recChunk)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return c
	}
	if len(p.slab) < recChunk {
		var m []byte
		p.slab, m = newRecSlab(recSlabChunks * recChunk)
		if m != nil {
			p.maps.m = append(p.maps.m, m)
		}
		p.slabs++
	}
	c := p.slab[:0:recChunk]
	p.slab = p.slab[recChunk:]
	return c
}

// put takes chunks back (their contents are dropped). The caller must not
// use them afterwards.
func (p *RecordPool) put(chunks [][]rec) {
	if p == nil || len(chunks) == 0 {
		return
	}
	p.mu.Lock()
	for _, c := range chunks {
		if cap(c) == recChunk {
			p.free = append(p.free, c[:0])
		}
	}
	p.mu.Unlock()
}

// takeOrigs returns an empty slice of capacity at least n for markLoss,
// the pool's own when it is large enough. The caller owns it until it
// hands it to putOrigs.
func (p *RecordPool) takeOrigs(n int) []origTx {
	if p != nil {
		p.mu.Lock()
		s := p.origs
		if cap(s) >= n {
			p.origs = nil
		}
		p.mu.Unlock()
		if cap(s) >= n {
			return s[:0]
		}
	}
	return make([]origTx, 0, n)
}

// putOrigs takes back a slice from takeOrigs; the pool keeps the largest.
func (p *RecordPool) putOrigs(s []origTx) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if cap(s) > cap(p.origs) {
		p.origs = s[:0]
	}
	p.mu.Unlock()
}

// releaseRecords gives the flow's full-size record chunks back to its
// pool once Finish has used them; nothing reads the records after that.
func (f *Flow) releaseRecords() {
	for i := range f.d {
		b := &f.d[i].rb
		if f.cfg.Records != nil && len(b.chunks) > 1 {
			// The head chunk is the Go heap's; the others are the
			// pool's.
			f.cfg.Records.put(b.chunks[1:])
		}
		*b = recBuf{}
		f.d[i].ackEv = nil
	}
}
