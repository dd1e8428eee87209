package htmlreport

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "..", "testdata"}, parts...)...)
}

// analyze runs the real engine over paths with a Collector attached and
// returns the report and chart data.
func analyze(t testing.TB, cc CollectorConfig, paths ...string) (*result.Report, *ChartData) {
	t.Helper()
	col := NewCollector(cc)
	cfg := engine.DefaultConfig()
	cfg.Tool = "mirrorscope test"
	cfg.OnPacket = col.OnPacket
	eng := engine.New(cfg)
	src, err := capture.OpenFiles(paths, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var fr capture.Frame
	for {
		if err := src.Next(&fr); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		eng.Packet(fr.Data, fr.TS, fr.OrigLen, fr.Link)
	}
	for _, p := range paths {
		eng.AddInput(result.Input{File: filepath.Base(p)})
	}
	rep := eng.Finish()
	return rep, col.Data()
}
