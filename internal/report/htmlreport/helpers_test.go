package htmlreport

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/flow"
	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "..", "testdata"}, parts...)...)
}

// analyze runs the real engine over paths with a Collector attached and
// returns the report and chart data. Flows the engine did not diagnose
// (before the engine runs internal/diagnose itself) get a diagnosis from
// the same packets through diagnose.Flow, as the engine will.
func analyze(t testing.TB, cc CollectorConfig, paths ...string) (*report.Report, *ChartData) {
	t.Helper()
	col := NewCollector(cc)
	diags := map[uint64]*diagnose.Flow{}
	cfg := engine.DefaultConfig()
	cfg.Tool = "mirrorscope test"
	cfg.OnPacket = func(n uint64, p *decode.Packet, f *flow.Flow, d flow.Dir, r *tcpseq.Result, err error) {
		col.OnPacket(n, p, f, d, r, err)
		if f == nil || r == nil {
			return
		}
		df := diags[f.ID]
		if df == nil {
			df = diagnose.NewFlow(diagnose.DefaultConfig())
			diags[f.ID] = df
		}
		df.Observe(f.Last, int(d), p, r)
	}
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
		eng.AddInput(report.Input{File: filepath.Base(p)})
	}
	rep := eng.Finish()
	for i := range rep.Flows {
		if rep.Flows[i].Diagnosis == nil {
			if df := diags[rep.Flows[i].ID]; df != nil {
				rep.Flows[i].Diagnosis = df.Finish()
			}
		}
	}
	return rep, col.Data()
}
