package capture

import (
	"errors"
	"io"
	"sync"
)

// readahead reads a file on its own goroutine into a few large chunks, so
// the read system calls (and gzip decompression) run on another core than
// the analysis. The chunks are handed over whole: the FileSource parses
// frames in place, so nothing is copied twice. Each chunk has headroom in
// front where the source copies the unread tail of the previous chunk (at
// most one partial record or block), keeping every record contiguous.
type readahead struct {
	headroom int
	free     chan *chunk
	ready    chan *chunk
	stop     chan struct{}
	wg       sync.WaitGroup
}

// chunk is one read: data[headroom : headroom+n] holds the bytes; err is
// the read's outcome (io.EOF at the end of the input).
type chunk struct {
	data []byte
	n    int
	err  error
}

const (
	readaheadChunk = 2 << 20
	readaheadDepth = 3
)

// startReadahead begins reading r. headroom must exceed the largest record
// or block the parser accepts. It takes its chunks from spare (what close
// returned for the previous file) before allocating: a source reading
// thousands of small files (rotated captures) would otherwise allocate and
// zero three 2 MiB chunks per file.
func startReadahead(r io.Reader, headroom int, spare []*chunk) *readahead {
	ra := &readahead{
		headroom: headroom,
		free:     make(chan *chunk, readaheadDepth),
		ready:    make(chan *chunk, readaheadDepth),
		stop:     make(chan struct{}),
	}
	for i := 0; i < readaheadDepth; i++ {
		var c *chunk
		for c == nil && len(spare) > 0 {
			c, spare = spare[len(spare)-1], spare[:len(spare)-1]
			if len(c.data) != headroom+readaheadChunk {
				c = nil
			}
		}
		if c == nil {
			c = &chunk{data: make([]byte, headroom+readaheadChunk)}
		}
		c.n, c.err = 0, nil
		ra.free <- c
	}
	ra.wg.Add(1)
	go ra.run(r)
	return ra
}

func (ra *readahead) run(r io.Reader) {
	defer ra.wg.Done()
	for {
		var c *chunk
		select {
		case c = <-ra.free:
		case <-ra.stop:
			return
		}
		// Fill the chunk completely (short reads would leave tails longer
		// than the headroom); a short final chunk is the end of the input.
		c.n, c.err = io.ReadFull(r, c.data[ra.headroom:])
		if errors.Is(c.err, io.ErrUnexpectedEOF) && c.n > 0 {
			c.err = io.EOF
		}
		select {
		case ra.ready <- c:
		case <-ra.stop:
			return
		}
		if c.err != nil {
			return
		}
	}
}

// next returns the next chunk, waiting for it.
func (ra *readahead) next() *chunk { return <-ra.ready }

// release gives a chunk back for reuse.
func (ra *readahead) release(c *chunk) { ra.free <- c }

// close stops the reading goroutine and waits for it. The reader it reads
// must be a regular file or a decompressor over one, so a read in progress
// ends by itself. It returns the chunks still queued, for the next file's
// startReadahead (the one the caller holds is the caller's; one the
// goroutine held when it stopped is left to the collector).
func (ra *readahead) close() []*chunk {
	close(ra.stop)
	ra.wg.Wait()
	var out []*chunk
	for {
		select {
		case c := <-ra.free:
			out = append(out, c)
		case c := <-ra.ready:
			out = append(out, c)
		default:
			return out
		}
	}
}
