package htmlreport

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"

	"github.com/mirrorscope/mirrorscope/internal/report"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

var (
	//go:embed assets/uPlot.iife.min.js
	uplotJS string
	//go:embed assets/uPlot.min.css
	uplotCSS string
	//go:embed assets/LICENSE
	uplotLicense string
	//go:embed assets/report.js
	reportJS string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.html
	reportTmpl string
	//go:embed assets/live.html
	liveTmpl string
)

// The templates are parsed on first use, not at program start: every
// mirrorscope command links this package, and parsing both took ~3 ms of
// each run's start-up (GODEBUG=inittrace=1), an HTML report or none.
var (
	pageTmpl = sync.OnceValue(func() *template.Template {
		return template.Must(template.New("report").Funcs(funcs).Parse(reportTmpl))
	})
	livePage = sync.OnceValue(func() *template.Template {
		return template.Must(template.New("live").Funcs(funcs).Parse(liveTmpl))
	})
)

var funcs = template.FuncMap{
	"bps":   report.Rate,
	"bytes": report.Bytes,
	"join":  strings.Join,
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":    func(v float64) string { return fmt.Sprintf("%.3f", v) },
}

// Options tune the HTML report.
type Options struct {
	// Title of the page; default "mirrorscope report".
	Title string
	// MaxTableFlows caps the rows of the flow table (the report's first
	// flows, largest first); default 1000. The rest are counted.
	MaxTableFlows int
}

// Write writes r as one self-contained HTML page to w: no request leaves
// the page when it is viewed (uPlot, styles and data are inlined). data
// may be nil (no charts).
func Write(w io.Writer, r *result.Report, data *ChartData, opts Options) error {
	if opts.Title == "" {
		opts.Title = "mirrorscope report"
	}
	if opts.MaxTableFlows <= 0 {
		opts.MaxTableFlows = 1000
	}
	if data == nil {
		data = &ChartData{Version: ChartDataVersion, FlagNames: flagKindNames[:], Flows: []FlowSeries{}}
	}
	v, err := buildView(r, data, opts)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := pageTmpl().Execute(&b, v); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("htmlreport: writing: %w", err)
	}
	return nil
}

// diagView is the part of a flow's diagnosis the page uses, read from its
// JSON so that any diagnosis type with the documented schema works.
type diagView struct {
	Verdict      string   `json:"verdict"`
	Direction    string   `json:"direction"`
	RateBps      float64  `json:"rate_bps"`
	BurstBytes   float64  `json:"burst_bytes"`
	QueueDelayMS float64  `json:"queue_delay_ms"`
	Confidence   float64  `json:"confidence"`
	Summary      string   `json:"summary"`
	Evidence     []string `json:"evidence"`
	// Visibility: both, data_only or acks_only (one direction mirrored).
	Visibility    string `json:"visibility"`
	SharedLimiter *struct {
		ID      int      `json:"id"`
		Verdict string   `json:"verdict"`
		RateBps float64  `json:"rate_bps"`
		Flows   []uint64 `json:"flows"`
	} `json:"shared_limiter"`
	Unknown      map[string]string `json:"unknown"`
	Measurements struct {
		C2S struct {
			RTT struct {
				MinMS   float64 `json:"min_ms"`
				QueueMS float64 `json:"queue_delay_ms"`
			} `json:"rtt"`
		} `json:"client_to_server"`
		S2C struct {
			RTT struct {
				MinMS   float64 `json:"min_ms"`
				QueueMS float64 `json:"queue_delay_ms"`
			} `json:"rtt"`
		} `json:"server_to_client"`
	} `json:"measurements"`
}

func diagOf(f *result.Flow) (*diagView, error) {
	if f.Diagnosis == nil {
		return nil, nil
	}
	b, err := json.Marshal(f.Diagnosis)
	if err != nil {
		return nil, fmt.Errorf("htmlreport: flow %d diagnosis: %w", f.ID, err)
	}
	var d diagView
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("htmlreport: flow %d diagnosis: %w", f.ID, err)
	}
	return &d, nil
}

// chartInfo is what the charts need of a flow's diagnosis.
type chartInfo struct {
	Verdict      string  `json:"verdict,omitempty"`
	RateBps      float64 `json:"rate_bps,omitempty"`
	QueueDelayMS float64 `json:"queue_delay_ms,omitempty"`
	RTTMinMS     float64 `json:"rtt_min_ms,omitempty"`
}

func infoOf(d *diagView) chartInfo {
	if d == nil {
		return chartInfo{}
	}
	ci := chartInfo{Verdict: d.Verdict, QueueDelayMS: d.QueueDelayMS}
	// only limiter verdicts have a ceiling worth drawing
	switch d.Verdict {
	case "policer", "shaper", "receiver_window":
		ci.RateBps = d.RateBps
	}
	rtt := d.Measurements.C2S.RTT
	if d.Direction == "server_to_client" {
		rtt = d.Measurements.S2C.RTT
	}
	ci.RTTMinMS = rtt.MinMS
	if ci.QueueDelayMS == 0 {
		ci.QueueDelayMS = rtt.QueueMS
	}
	return ci
}

type flowRow struct {
	F       *result.Flow
	D       *diagView
	Charted bool
	Session string
}

type chartView struct {
	S       *FlowSeries
	F       *result.Flow
	D       *diagView
	Title   string
	Partial string
}

type view struct {
	Title       string
	R           *result.Report
	Rows        []flowRow
	MoreFlows   int
	Charts      []chartView
	Uncharted   uint64
	Downsampled bool
	Data        *ChartData
	JSON        template.JS
	UplotJS     template.JS
	UplotCSS    template.CSS
	JS          template.JS
	CSS         template.CSS
	License     string
	Encaps      string
}

func buildView(r *result.Report, data *ChartData, opts Options) (*view, error) {
	v := &view{
		Title: opts.Title, R: r, Data: data,
		UplotJS: uplotJSv(), UplotCSS: uplotCSSv(), JS: reportJSv(), CSS: reportCSSv(), License: uplotLicense,
	}
	var enc []string
	for k, n := range r.Capture.Encapsulation {
		enc = append(enc, fmt.Sprintf("%s %d", k, n))
	}
	sortStrings(enc)
	v.Encaps = strings.Join(enc, ", ")

	byID := map[uint64]*result.Flow{}
	diags := map[uint64]*diagView{}
	for i := range r.Flows {
		f := &r.Flows[i]
		byID[f.ID] = f
	}
	charted := map[uint64]bool{}
	for _, s := range data.Flows {
		charted[s.ID] = true
	}
	for i := range r.Flows {
		f := &r.Flows[i]
		if i >= opts.MaxTableFlows && !charted[f.ID] {
			v.MoreFlows++
			continue
		}
		d, err := diagOf(f)
		if err != nil {
			return nil, err
		}
		diags[f.ID] = d
		row := flowRow{F: f, D: d, Charted: charted[f.ID]}
		if f.Session != nil {
			row.Session = fmt.Sprintf("%s VNI %d", f.Session.OuterSrc, f.Session.VNI)
		}
		v.Rows = append(v.Rows, row)
	}
	info := map[string]chartInfo{}
	for i := range data.Flows {
		s := &data.Flows[i]
		cv := chartView{S: s, F: byID[s.ID], D: diags[s.ID]}
		if s.Downsampled {
			v.Downsampled = true
		}
		if s.Partial {
			cv.Partial = fmt.Sprintf("This flow was charted from %.2f s on, when it outgrew a smaller flow: earlier packets are in the totals but not in the charts.", s.FromS)
		}
		info[fmt.Sprint(s.ID)] = infoOf(cv.D)
		v.Charts = append(v.Charts, cv)
	}
	if data.TCPFlows > uint64(len(data.Flows)) {
		v.Uncharted = data.TCPFlows - uint64(len(data.Flows))
	}
	// json.Marshal escapes <, > and & so the block cannot end the script
	// element; html/template inserts template.JS as is.
	b, err := json.Marshal(struct {
		Charts *ChartData           `json:"charts"`
		Info   map[string]chartInfo `json:"info"`
	}{data, info})
	if err != nil {
		return nil, fmt.Errorf("htmlreport: chart data: %w", err)
	}
	v.JSON = template.JS(b)
	return v, nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// The embedded assets are ours (uPlot's release file and our own script
// and styles), so they are trusted as script and style content.
func uplotJSv() template.JS    { return template.JS(uplotJS) }
func uplotCSSv() template.CSS  { return template.CSS(uplotCSS) }
func reportJSv() template.JS   { return template.JS(reportJS) }
func reportCSSv() template.CSS { return template.CSS(reportCSS) }
