package fleet

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxMetricSources bounds the sources labelled on /metrics (the busiest
// ones; the rest are summed under source="other").
const MaxMetricSources = 200

// Handler serves the fleet view: /metrics, /healthz, /api/report
// (?format=text), /api/sources, /api/findings and a page at "/".
func (v *View) Handler(health func() error) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&viewCollector{v: v})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if health != nil {
			if err := health(); err != nil {
				if r.URL.Query().Get("strict") != "" {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				fmt.Fprintf(w, "degraded: %v\n", err)
				return
			}
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /api/report", func(w http.ResponseWriter, r *http.Request) {
		rep := v.Report()
		if r.URL.Query().Get("format") == "text" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_ = rep.WriteText(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = rep.WriteJSON(w)
	})
	mux.HandleFunc("GET /api/sources", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		rep := v.Report()
		_ = (&Report{SchemaVersion: rep.SchemaVersion, Sources: rep.Sources}).WriteJSON(w)
	})
	mux.HandleFunc("GET /api/findings", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		rep := v.Report()
		_ = (&Report{SchemaVersion: rep.SchemaVersion, Findings: rep.Findings, TargetFindings: rep.TargetFindings}).WriteJSON(w)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTmpl.Execute(w, v.Report())
	})
	return mux
}

var pageTmpl = template.Must(template.New("fleet").Funcs(template.FuncMap{
	"mbps": func(b float64) string { return strconv.FormatFloat(b/1e6, 'f', 2, 64) },
}).Parse(`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>mirrorscope fleet</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}.warning{color:#a60}.critical{color:#c00}</style>
<h1>mirrorscope fleet</h1>
<p>{{.Partitions}} partitions, {{.Records}} records ({{.Duplicates}} duplicates skipped). JSON: <a href="/api/report">/api/report</a>, text: <a href="/api/report?format=text">/api/report?format=text</a>, <a href="/metrics">/metrics</a>.</p>
<h2>Fleet findings ({{len .Findings}})</h2>
<ul>{{range .Findings}}<li class="{{.Severity}}"><b>{{.Kind}}</b>: {{.Summary}}<ul>{{range .Evidence}}<li>{{.}}</li>{{end}}{{range .Next}}<li>next: {{.}}</li>{{end}}</ul></li>{{end}}</ul>
<h2>Sources ({{len .Sources}})</h2>
<table><tr><th>source</th><th>kind</th><th>ENIs</th><th>targets</th><th>flows</th><th>half TCP flows</th><th>peak Mbit/s</th><th>policed at Mbit/s</th></tr>
{{range .Sources}}<tr><td>{{.Key}}</td><td>{{.KeyKind}}</td><td>{{range .ENIs}}{{.}} {{end}}</td><td>{{range $t, $c := .Targets}}{{$t}} {{end}}</td><td>{{.Total.Flows}}</td><td>{{.Total.HalfFlows}}/{{.Total.TCPFlows}}</td><td>{{mbps .PeakBPS}}</td><td>{{if .PolicedRateBps}}{{mbps .PolicedRateBps}}{{end}}</td></tr>
{{end}}</table>
<h2>Targets' findings ({{len .TargetFindings}})</h2>
<ul>{{range .TargetFindings}}<li class="{{.Severity}}">[{{.Target}}] <b>{{.Kind}}</b>: {{.Summary}}</li>{{end}}</ul>
`))

type viewCollector struct{ v *View }

var (
	descFleetRecords = prometheus.NewDesc("mirrorscope_fleet_records_total", "Kafka records applied to the view, skipped as duplicates (offset already applied) or undecodable.", []string{"result"}, nil)
	descFleetParts   = prometheus.NewDesc("mirrorscope_fleet_partitions", "Partitions this fleet process owns.", nil, nil)
	descFleetFlows   = prometheus.NewDesc("mirrorscope_fleet_source_flows", "Ended flows of a source seen by a target, in the view's window.", []string{"source", "key_kind", "target"}, nil)
	descFleetHalf    = prometheus.NewDesc("mirrorscope_fleet_source_half_flows", "Ended TCP flows of a source that a target saw in one direction only.", []string{"source", "key_kind", "target"}, nil)
	descFleetTCP     = prometheus.NewDesc("mirrorscope_fleet_source_tcp_flows", "Ended TCP flows of a source seen by a target.", []string{"source", "key_kind", "target"}, nil)
	descFleetFind    = prometheus.NewDesc("mirrorscope_fleet_findings", "Fleet (cross-target) findings now, by kind.", []string{"kind"}, nil)
)

func (c *viewCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *viewCollector) Collect(ch chan<- prometheus.Metric) {
	applied, dupes, bad := c.v.Counters()
	ch <- prometheus.MustNewConstMetric(descFleetRecords, prometheus.CounterValue, float64(applied), "applied")
	ch <- prometheus.MustNewConstMetric(descFleetRecords, prometheus.CounterValue, float64(dupes), "duplicate")
	ch <- prometheus.MustNewConstMetric(descFleetRecords, prometheus.CounterValue, float64(bad), "undecodable")
	r := c.v.Report()
	ch <- prometheus.MustNewConstMetric(descFleetParts, prometheus.GaugeValue, float64(r.Partitions))
	other := map[string]*TargetCounts{}
	for i, s := range r.Sources {
		for t, tc := range s.Targets {
			if i >= MaxMetricSources {
				o := other[t]
				if o == nil {
					o = &TargetCounts{}
					other[t] = o
				}
				o.add(tc)
				continue
			}
			ch <- prometheus.MustNewConstMetric(descFleetFlows, prometheus.GaugeValue, float64(tc.Flows), s.Key, s.KeyKind, t)
			ch <- prometheus.MustNewConstMetric(descFleetTCP, prometheus.GaugeValue, float64(tc.TCPFlows), s.Key, s.KeyKind, t)
			ch <- prometheus.MustNewConstMetric(descFleetHalf, prometheus.GaugeValue, float64(tc.HalfFlows), s.Key, s.KeyKind, t)
		}
	}
	for t, tc := range other {
		ch <- prometheus.MustNewConstMetric(descFleetFlows, prometheus.GaugeValue, float64(tc.Flows), "other", "overflow", t)
		ch <- prometheus.MustNewConstMetric(descFleetTCP, prometheus.GaugeValue, float64(tc.TCPFlows), "other", "overflow", t)
		ch <- prometheus.MustNewConstMetric(descFleetHalf, prometheus.GaugeValue, float64(tc.HalfFlows), "other", "overflow", t)
	}
	byKind := map[string]int{}
	for _, f := range r.Findings {
		byKind[f.Kind]++
	}
	for _, k := range []string{"half_flows", "shared_ceiling", "same_rate_policing"} {
		ch <- prometheus.MustNewConstMetric(descFleetFind, prometheus.GaugeValue, float64(byKind[k]), k)
	}
}
