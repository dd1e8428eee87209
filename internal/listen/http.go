package listen

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Endpoints served on the HTTP port.
var endpoints = []struct{ path, what string }{
	{"/metrics", "Prometheus metrics"},
	{"/healthz", "health check (NLB/GWLB HTTP checks): 200 ok"},
	{"/api/flows", "open and recently ended flows, largest first (?limit=N, at most 1000)"},
	{"/api/findings", "recent findings"},
	{"/api/sessions", "mirror sessions with packet, byte and drop counters"},
	{"/api/summary", "receiving-side counters"},
}

const maxAPIFlows = 1000

func (l *Listener) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{l: l})
	reg.MustRegister(l.sink.half)
	reg.MustRegister(l.cfg.Collectors...)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// A degraded publisher leaves the target receiving and
		// analysing: 200 with the reason, so a load balancer keeps
		// sending; ?strict=1 answers 503 for checks that should fail.
		for _, h := range l.cfg.Health {
			if err := h(); err != nil {
				if r.URL.Query().Get("strict") != "" {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				fmt.Fprintf(w, "degraded: %v\n", err)
				return
			}
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /api/flows", l.apiFlows)
	mux.HandleFunc("GET /api/findings", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, l.sink.recentFindings())
	})
	mux.HandleFunc("GET /api/sessions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, l.reg.infos())
	})
	mux.HandleFunc("GET /api/summary", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, l.stats())
	})
	for pat, h := range l.cfg.Routes {
		mux.Handle(pat, h)
	}
	if l.cfg.Live != nil {
		mux.Handle("GET /{$}", l.cfg.Live) // other paths: 404
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><title>mirrorscope listen</title><h1>mirrorscope listen</h1><ul>")
			for _, e := range endpoints {
				fmt.Fprintf(w, `<li><a href="%s">%s</a>: %s</li>`, e.path, e.path, e.what)
			}
			fmt.Fprint(w, "</ul>")
		})
	}
	return hostCheck(mux, l.cfg.HTTPAllowHosts)
}

// hostCheck answers only requests whose Host is an IP literal,
// "localhost" (or a name under .localhost) or one of allow: DNS
// rebinding needs a name of the attacker's that resolves to us.
func hostCheck(h http.Handler, allow []string) http.Handler {
	ok := map[string]bool{}
	for _, a := range allow {
		ok[strings.ToLower(strings.TrimSuffix(a, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
		if _, err := netip.ParseAddr(host); err == nil || host == "localhost" || strings.HasSuffix(host, ".localhost") || ok[host] {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "host not allowed: give it to --http-allow-host", http.StatusMisdirectedRequest)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiFlow is a flow in /api/flows: report.Flow plus whether it is open.
type apiFlow struct {
	Active bool `json:"active"`
	result.Flow
}

func (l *Listener) apiFlows(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			http.Error(w, "limit: want a positive number", http.StatusBadRequest)
			return
		}
		limit = min(n, maxAPIFlows)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var active []result.Flow
	n := uint64(len(l.shards))
	l.onShard(ctx, func(shard int, e *engine.Engine) {
		// Each shard's snapshot is bounded so a table of a million flows
		// does not build a million entries per request; the largest are
		// chosen below.
		fs := e.Snapshot(maxAPIFlows)
		for i := range fs {
			fs[i].ID = fs[i].ID*n + uint64(shard)
		}
		active = append(active, fs...)
	})
	sortFlowsByBytes(active)
	ended := l.sink.recentFlows()
	sortFlowsByBytes(ended)
	out := make([]apiFlow, 0, limit)
	// Merge the two sorted lists, largest first.
	i, j := 0, 0
	for len(out) < limit && (i < len(active) || j < len(ended)) {
		if j >= len(ended) || (i < len(active) && active[i].Bytes >= ended[j].Bytes) {
			out = append(out, apiFlow{Active: true, Flow: active[i]})
			i++
		} else {
			out = append(out, apiFlow{Flow: ended[j]})
			j++
		}
	}
	writeJSON(w, out)
}

// collector turns the listener's counters into metrics at scrape time, so
// the receive path never touches Prometheus. Labels are per session and
// per kind, never per flow.
type collector struct{ l *Listener }

var (
	descSessPackets   = prometheus.NewDesc("mirrorscope_listen_session_packets_total", "Datagrams received per mirror session (outer source, VNI, GWLB endpoint).", sessLabels, nil)
	descSessBytes     = prometheus.NewDesc("mirrorscope_listen_session_bytes_total", "Inner frame bytes (on the wire) per mirror session.", sessLabels, nil)
	descSessDrops     = prometheus.NewDesc("mirrorscope_listen_session_drops_total", "Datagrams of a known session not analysed: inner frame undecodable (traffic outside the allow-lists is counted in rejected, in no session).", sessLabels, nil)
	descSessTrunc     = prometheus.NewDesc("mirrorscope_listen_session_truncated_total", "Inner packets shorter than their IP length (AWS PacketLength or target MTU).", sessLabels, nil)
	descDatagrams     = prometheus.NewDesc("mirrorscope_listen_datagrams_total", "Datagrams (or frames, with --iface) read from the sockets.", []string{"listener"}, nil)
	descBytes         = prometheus.NewDesc("mirrorscope_listen_bytes_total", "Bytes read from the sockets.", []string{"listener"}, nil)
	descKernelDrops   = prometheus.NewDesc("mirrorscope_listen_socket_drops_total", "Datagrams the kernel dropped because this target's socket buffer was full (SO_RXQ_OVFL); loss at the target, not in the network.", []string{"listener"}, nil)
	descRcvBuf        = prometheus.NewDesc("mirrorscope_listen_socket_rcvbuf_bytes", "Receive buffer granted by the kernel per socket.", []string{"listener", "socket"}, nil)
	descDecodeErrors  = prometheus.NewDesc("mirrorscope_listen_decode_errors_total", "Datagrams skipped because they could not be decoded, by kind.", []string{"kind"}, nil)
	descRejected      = prometheus.NewDesc("mirrorscope_listen_rejected_total", "Datagrams dropped by --allow-src/--allow-vni, by reason.", []string{"reason"}, nil)
	descAccepted      = prometheus.NewDesc("mirrorscope_listen_accepted_total", "Datagrams handed to the analysis.", nil, nil)
	descFlowsActive   = prometheus.NewDesc("mirrorscope_listen_flows_active", "Flows open now.", nil, nil)
	descFlowsEnded    = prometheus.NewDesc("mirrorscope_listen_flows_ended_total", "Flows ended (FIN/RST, idle, evicted).", nil, nil)
	descFindings      = prometheus.NewDesc("mirrorscope_listen_findings_total", "Findings reported, by kind.", []string{"kind"}, nil)
	descSessionsCount = prometheus.NewDesc("mirrorscope_listen_sessions", "Mirror sessions seen.", nil, nil)
	sessLabels        = []string{"outer_src", "vni", "encap", "gwlb_endpoint_id"}
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	sessions := l.reg.all()
	for _, s := range sessions {
		in := s.info()
		lv := []string{in.OuterSrc, strconv.FormatUint(uint64(in.VNI), 10), in.Encap, in.GWLBEndpointID}
		if in.Overflow {
			lv[0] = "overflow"
		}
		ch <- prometheus.MustNewConstMetric(descSessPackets, prometheus.CounterValue, float64(in.Packets), lv...)
		ch <- prometheus.MustNewConstMetric(descSessBytes, prometheus.CounterValue, float64(in.Bytes), lv...)
		ch <- prometheus.MustNewConstMetric(descSessDrops, prometheus.CounterValue, float64(in.Drops), lv...)
		ch <- prometheus.MustNewConstMetric(descSessTrunc, prometheus.CounterValue, float64(in.Truncated), lv...)
	}
	ch <- prometheus.MustNewConstMetric(descSessionsCount, prometheus.GaugeValue, float64(len(sessions)))
	type perKind struct{ dg, by, dr uint64 }
	kinds := map[string]*perKind{}
	var dec [decode.NumErrors + 1]uint64
	var rej [numRejects]uint64
	var acc uint64
	drops := l.kernelDrops()
	for i, r := range l.recvs {
		k := kinds[r.kind]
		if k == nil {
			k = &perKind{}
			kinds[r.kind] = k
		}
		k.dg += r.stats.datagrams.Load()
		k.by += r.stats.bytes.Load()
		k.dr += drops[i]
		for j := range dec {
			dec[j] += r.stats.decodeErr[j].Load()
		}
		for j := range rej {
			rej[j] += r.stats.rejected[j].Load()
		}
		acc += r.stats.accepted.Load()
		ch <- prometheus.MustNewConstMetric(descRcvBuf, prometheus.GaugeValue, float64(r.rcvbuf), r.kind, strconv.Itoa(i))
	}
	for name, k := range kinds {
		ch <- prometheus.MustNewConstMetric(descDatagrams, prometheus.CounterValue, float64(k.dg), name)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(k.by), name)
		ch <- prometheus.MustNewConstMetric(descKernelDrops, prometheus.CounterValue, float64(k.dr), name)
	}
	for j := 1; j < len(dec); j++ {
		ch <- prometheus.MustNewConstMetric(descDecodeErrors, prometheus.CounterValue, float64(dec[j]), decode.Error(j).Name())
	}
	for j := range rej {
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(rej[j]), rejectNames[j])
	}
	ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(acc))
	var live int64
	for _, sh := range l.shards {
		live += sh.live.Load()
	}
	ch <- prometheus.MustNewConstMetric(descFlowsActive, prometheus.GaugeValue, float64(live))
	ch <- prometheus.MustNewConstMetric(descFlowsEnded, prometheus.CounterValue, float64(l.flowsEnded.Load()))
	for k, v := range l.sink.kinds() {
		ch <- prometheus.MustNewConstMetric(descFindings, prometheus.CounterValue, float64(v), k)
	}
}
