package engine

import (
	"context"
	"io"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// FrameSource is what Run reads: capture.FileSource and the live sources
// that hand out one frame at a time.
type FrameSource interface {
	// Next fills f; f.Data is valid until the next call. It returns io.EOF
	// at the end of the input.
	Next(f *capture.Frame) error
}

// Run reads every frame of src and analyses it. It returns the frames read
// per file (indexed by capture.Frame.File, len files) and the first read
// error other than io.EOF; on ctx cancellation it stops early and returns
// nil.
//
// The analysis runs on the calling goroutine: handing decoded packets to
// another core cost more (cache-line transfers of every packet) than it
// saved, measured in docs/benchmarks.md. The second core reads ahead
// instead (capture.FileSource reads files on its own goroutine).
func (e *Engine) Run(ctx context.Context, src FrameSource, files int) ([]uint64, error) {
	perFile := make([]uint64, files)
	var f capture.Frame
	for n := 0; ; n++ {
		if n&0xfff == 0 && ctx.Err() != nil {
			return perFile, nil
		}
		if err := src.Next(&f); err != nil {
			if err == io.EOF {
				return perFile, nil
			}
			return perFile, err
		}
		if f.File >= 0 && f.File < len(perFile) {
			perFile[f.File]++
		}
		e.PacketFrom(f.Data, f.TS, f.OrigLen, f.Link, f.Iface)
	}
}

// AnalyzeFiles analyses capture files in order, as one capture, and
// returns the report. A read error that stopped the input early is
// returned along with the report of what was read.
func AnalyzeFiles(cfg Config, paths ...string) (*result.Report, error) {
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	e := New(cfg)
	_, err = e.Run(context.Background(), src, len(paths))
	return e.Finish(), err
}
