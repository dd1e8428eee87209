package engine

import (
	"context"
	"errors"
	"io"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// FrameSource is what Run reads: capture.FileSource and the live sources
// that hand out one frame at a time.
type FrameSource interface {
	// Next fills f; f.Data is valid until the next call. It returns io.EOF
	// at the end of the input.
	Next(f *capture.Frame) error
}

const batchSize = 256

// frameMeta is what the analysis needs of a frame besides the packet.
type frameMeta struct {
	ts      int64
	origLen uint32
	file    int32
	whole   bool
	err     decode.Error
}

// batch carries decoded packets from the reading goroutine to the
// analysing one. Batches are recycled, so the pipeline allocates nothing
// per packet.
type batch struct {
	n    int
	pkts [batchSize]decode.Packet
	meta [batchSize]frameMeta
	err  error // a final read error after the n packets (io.EOF at the end)
}

// Run reads every frame of src and analyses it, using two goroutines: one
// reads and decodes, the calling one runs flows and analyses, so the
// analysis uses two cores. It returns the frames read per file (indexed by
// capture.Frame.File, len files) and the first read error other than
// io.EOF; on ctx cancellation it stops early and returns nil. The hooks of
// Config run on the calling goroutine, in frame order.
func (e *Engine) Run(ctx context.Context, src FrameSource, files int) ([]uint64, error) {
	perFile := make([]uint64, files)
	const depth = 8
	free := make(chan *batch, depth)
	full := make(chan *batch, depth)
	for i := 0; i < depth; i++ {
		free <- new(batch)
	}
	done := make(chan struct{})
	defer close(done)
	go e.readDecode(ctx, src, free, full, done)

	for b := range full {
		for i := 0; i < b.n; i++ {
			m := &b.meta[i]
			if int(m.file) < len(perFile) {
				perFile[m.file]++
			}
			if m.err != 0 {
				e.failed(m.ts, m.origLen, m.err)
				continue
			}
			e.decoded(&b.pkts[i], m.ts, m.origLen, m.whole)
		}
		err := b.err
		b.n, b.err = 0, nil
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				return perFile, nil
			}
			return perFile, err
		}
		free <- b
	}
	return perFile, nil
}

// readDecode is Run's reading goroutine. Its decoder is its own, since the
// engine's belongs to the analysing goroutine.
func (e *Engine) readDecode(ctx context.Context, src FrameSource, free <-chan *batch, full chan<- *batch, done <-chan struct{}) {
	defer close(full)
	dec := decode.New(e.cfg.Decode)
	var f capture.Frame
	for {
		var b *batch
		select {
		case b = <-free:
		case <-done:
			return
		}
		if ctx.Err() != nil {
			b.err = ctx.Err()
			full <- b
			return
		}
		for b.n < batchSize {
			if err := src.Next(&f); err != nil {
				b.err = err
				break
			}
			m := &b.meta[b.n]
			m.ts, m.origLen, m.file, m.whole, m.err = f.TS, f.OrigLen, int32(f.File), len(f.Data) >= int(f.OrigLen), 0
			if err := dec.Decode(f.Data, f.Link, f.OrigLen, &b.pkts[b.n]); err != nil {
				de, ok := err.(decode.Error)
				if !ok {
					de = decode.ErrShort
				}
				m.err = de
			}
			b.n++
		}
		// b belongs to the analysing goroutine once sent: read its error
		// first.
		last := b.err != nil
		select {
		case full <- b:
		case <-done:
			return
		}
		if last {
			return
		}
	}
}
