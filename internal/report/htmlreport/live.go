package htmlreport

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// LiveHandler serves the live page of mirrorscope listen: one
// self-contained HTML page (uPlot inlined) that polls, every 1.5 s,
// GET /api/sessions ([]report.Session), /api/flows ([]report.Flow) and
// /api/findings ([]report.Finding), and for the flow the user picks
// GET /api/flows/{id}/series (SeriesHandler). Mount it at "/".
func LiveHandler() http.Handler {
	var b bytes.Buffer
	err := livePage().Execute(&b, &view{
		UplotJS: uplotJSv(), UplotCSS: uplotCSSv(), JS: reportJSv(), CSS: reportCSSv(), License: uplotLicense,
	})
	page := b.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil { // the embedded template is fixed: only a build defect gets here
			http.Error(w, "live page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// The page needs nothing from elsewhere: say so to the browser.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		w.Write(page)
	})
}

// ErrNoSeries is returned by Series for a flow that is not charted (not
// TCP, or not among the largest candidates).
var ErrNoSeries = errors.New("htmlreport: no series for this flow")

// LiveCollector collects chart series for a live listener whose packets
// are analysed by several shard engines, each on its own goroutine. Each
// shard has its own Collector behind its own mutex, so shards never
// contend with each other; only Series calls briefly stop a shard.
//
// Flow ids: an engine numbers its flows from 0; the listener makes them
// unique as id*shards + shard, and Series takes that global id.
type LiveCollector struct {
	sh []liveShard
}

type liveShard struct {
	mu sync.Mutex
	c  *Collector
	_  [40]byte // keep shards' mutexes on separate cache lines
}

// NewLiveCollector returns a collector for shards engines; cfg bounds
// each shard (MaxFlows is per shard).
func NewLiveCollector(cfg CollectorConfig, shards int) *LiveCollector {
	if shards < 1 {
		shards = 1
	}
	l := &LiveCollector{sh: make([]liveShard, shards)}
	for i := range l.sh {
		l.sh[i].c = NewCollector(cfg)
	}
	return l
}

// OnPacket returns the engine.Config.OnPacket hook of shard i.
func (l *LiveCollector) OnPacket(shard int) func(*result.PacketEvent) {
	s := &l.sh[shard]
	return func(ev *result.PacketEvent) {
		if ev.Flow == nil || ev.TCP == nil || ev.Err != nil {
			return
		}
		s.mu.Lock()
		s.c.Observe(ev.TS, ev.Packet, ev.Flow, ev.Dir, ev.TCP)
		s.mu.Unlock()
	}
}

// Series returns the ChartData JSON of one flow (global id), as
// {"flag_names": [...], "flow": FlowSeries}.
func (l *LiveCollector) Series(id uint64) ([]byte, error) {
	n := uint64(len(l.sh))
	s := &l.sh[id%n]
	s.mu.Lock()
	a := s.c.flows[id/n]
	var fs FlowSeries
	if a != nil {
		fs = a.output()
	}
	s.mu.Unlock()
	if a == nil {
		return nil, ErrNoSeries
	}
	fs.ID = id
	return marshalFlow(&fs, flagKindNames[:])
}

// SeriesHandler serves GET /api/flows/{id}/series from l. Mount it with
// that pattern: mux.Handle("GET /api/flows/{id}/series", SeriesHandler(l)).
func SeriesHandler(l *LiveCollector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("bad flow id %q", r.PathValue("id")), http.StatusBadRequest)
			return
		}
		b, err := l.Series(id)
		if errors.Is(err, ErrNoSeries) {
			http.Error(w, fmt.Sprintf("flow %d has no chart series (not TCP, or not among the largest flows)", id), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
}
