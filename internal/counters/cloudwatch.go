package counters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SeriesKind says how a series' values add up over time.
type SeriesKind string

const (
	// KindSum: each datapoint is the total of its period (AWS/EC2 bytes
	// and packets: NetworkIn, NetworkSkipMirrorOut, ...).
	KindSum SeriesKind = "sum"
	// KindCounter: each datapoint is a cumulative counter's value (the
	// CloudWatch agent's ethtool_ metrics, read with statistic Maximum),
	// taken as the value at the end of the period.
	KindCounter SeriesKind = "counter"
)

// Series is one CloudWatch metric from a counter file.
type Series struct {
	// Metric is the canonical name: an AWS/EC2 name (NetworkIn,
	// NetworkSkipMirrorOut, ...) or, for the CloudWatch agent's ethtool_
	// metrics, the ethtool counter name without the prefix
	// (bw_in_allowance_exceeded), so both sources read alike. Empty when
	// the Label and Id name no metric this package knows.
	Metric     string
	Namespace  string // AWS/EC2 or CWAgent (inferred from the name)
	Label, ID  string
	Kind       SeriesKind
	Statistic  string        // get-metric-statistics: which field the values came from
	Period     time.Duration // inferred from the spacing of timestamps
	StatusCode string
	Points     []Point // oldest first
}

// Point is one datapoint; it covers [Time, Time+Period).
type Point struct {
	Time  time.Time
	Value float64
}

// EC2 metrics (namespace AWS/EC2), longest first so that substring
// matching picks NetworkPacketsSkipMirrorIn over NetworkPacketsIn.
var ec2Metrics = sortedLongestFirst([]string{
	"NetworkIn", "NetworkOut", "NetworkPacketsIn", "NetworkPacketsOut",
	"NetworkMirrorIn", "NetworkMirrorOut", "NetworkPacketsMirrorIn", "NetworkPacketsMirrorOut",
	"NetworkSkipMirrorIn", "NetworkSkipMirrorOut", "NetworkPacketsSkipMirrorIn", "NetworkPacketsSkipMirrorOut",
})

// ENA allowance counters (ethtool -S names; CWAgent adds "ethtool_").
const (
	BWIn               = "bw_in_allowance_exceeded"
	BWOut              = "bw_out_allowance_exceeded"
	PPS                = "pps_allowance_exceeded"
	ConntrackExceeded  = "conntrack_allowance_exceeded"
	ConntrackAvailable = "conntrack_allowance_available"
	LinklocalExceeded  = "linklocal_allowance_exceeded"
)

var enaCounters = sortedLongestFirst([]string{BWIn, BWOut, PPS, ConntrackExceeded, ConntrackAvailable, LinklocalExceeded})

func sortedLongestFirst(s []string) []string {
	sort.SliceStable(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}

// detectMetric finds the metric a Label or Id names.
func detectMetric(label, id string) (metric, namespace string, kind SeriesKind) {
	for _, text := range []string{label, id} {
		low := strings.ToLower(text)
		for _, m := range enaCounters {
			if strings.Contains(low, m) {
				return m, "CWAgent", KindCounter
			}
		}
		for _, m := range ec2Metrics {
			if strings.Contains(low, strings.ToLower(m)) {
				return m, "AWS/EC2", KindSum
			}
		}
		// Ids cannot hold upper case and often use underscores:
		// network_skip_mirror_in.
		flat := strings.ReplaceAll(low, "_", "")
		for _, m := range ec2Metrics {
			if strings.Contains(flat, strings.ToLower(m)) {
				return m, "AWS/EC2", KindSum
			}
		}
	}
	return "", "", KindSum
}

type cwData struct {
	MetricDataResults *[]struct {
		ID         string    `json:"Id"`
		Label      string    `json:"Label"`
		Timestamps []string  `json:"Timestamps"`
		Values     []float64 `json:"Values"`
		StatusCode string    `json:"StatusCode"`
	} `json:"MetricDataResults"`
	Label      *string `json:"Label"`
	Datapoints *[]struct {
		Timestamp   string   `json:"Timestamp"`
		Sum         *float64 `json:"Sum"`
		Average     *float64 `json:"Average"`
		Maximum     *float64 `json:"Maximum"`
		Minimum     *float64 `json:"Minimum"`
		SampleCount *float64 `json:"SampleCount"`
		Unit        string   `json:"Unit"`
	} `json:"Datapoints"`
}

// ParseCloudWatch parses `aws cloudwatch get-metric-data` or
// `get-metric-statistics` JSON output.
func ParseCloudWatch(name string, data []byte) (*Set, error) {
	var in cwData
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("counters: %s:%d: not valid CloudWatch JSON: %w", name, jsonErrLine(data, dec, err), err)
	}
	s := &Set{File: name, index: map[string]int{}}
	switch {
	case in.MetricDataResults != nil:
		s.Format = FormatMetricData
		for ri, r := range *in.MetricDataResults {
			if len(r.Timestamps) != len(r.Values) {
				return nil, fmt.Errorf("counters: %s: MetricDataResults[%d] (%s): %d Timestamps but %d Values",
					name, ri, r.Label, len(r.Timestamps), len(r.Values))
			}
			se := Series{Label: r.Label, ID: r.ID, StatusCode: r.StatusCode}
			se.Metric, se.Namespace, se.Kind = detectMetric(r.Label, r.ID)
			for i, ts := range r.Timestamps {
				t, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					return nil, fmt.Errorf("counters: %s: MetricDataResults[%d] (%s): Timestamps[%d] %q: %w", name, ri, r.Label, i, clip(ts), err)
				}
				se.Points = append(se.Points, Point{Time: t.UTC(), Value: r.Values[i]})
			}
			if r.StatusCode != "" && r.StatusCode != "Complete" {
				s.Notes = append(s.Notes, fmt.Sprintf("%s: %s has StatusCode %s: the data may be incomplete (re-run with the NextToken, or check permissions)",
					displayName(name), labelOf(&se), r.StatusCode))
			}
			s.addSeries(se)
		}
	case in.Datapoints != nil:
		s.Format = FormatMetricStatistics
		se := Series{}
		if in.Label != nil {
			se.Label = *in.Label
		}
		se.Metric, se.Namespace, se.Kind = detectMetric(se.Label, "")
		for i, d := range *in.Datapoints {
			t, err := time.Parse(time.RFC3339Nano, d.Timestamp)
			if err != nil {
				return nil, fmt.Errorf("counters: %s: Datapoints[%d]: Timestamp %q: %w", name, i, clip(d.Timestamp), err)
			}
			var v *float64
			var stat string
			if se.Kind == KindCounter {
				v, stat = firstOf(d.Maximum, "Maximum", d.Average, "Average", d.Sum, "Sum")
			} else {
				v, stat = firstOf(d.Sum, "Sum", nil, "", nil, "")
				if v == nil && d.Average != nil && d.SampleCount != nil {
					x := *d.Average * *d.SampleCount
					v, stat = &x, "Average×SampleCount"
				}
			}
			if v == nil {
				want := "Sum"
				if se.Kind == KindCounter {
					want = "Maximum"
				}
				return nil, fmt.Errorf("counters: %s: Datapoints[%d]: no %s (query with --statistics %s)", name, i, want, want)
			}
			if se.Statistic == "" {
				se.Statistic = stat
			}
			se.Points = append(se.Points, Point{Time: t.UTC(), Value: *v})
		}
		s.addSeries(se)
	default:
		return nil, fmt.Errorf("counters: %s: JSON object without MetricDataResults or Datapoints: %w", name, ErrUnknownFormat)
	}
	return s, nil
}

func firstOf(a *float64, an string, b *float64, bn string, c *float64, cn string) (*float64, string) {
	switch {
	case a != nil:
		return a, an
	case b != nil:
		return b, bn
	case c != nil:
		return c, cn
	}
	return nil, ""
}

func labelOf(se *Series) string {
	if se.Label != "" {
		return se.Label
	}
	if se.ID != "" {
		return se.ID
	}
	return se.Metric
}

// addSeries sorts the points oldest first (get-metric-data returns newest
// first by default, get-metric-statistics in no order) and infers the
// period from the smallest spacing.
func (s *Set) addSeries(se Series) {
	sort.SliceStable(se.Points, func(i, j int) bool { return se.Points[i].Time.Before(se.Points[j].Time) })
	var p time.Duration
	for i := 1; i < len(se.Points); i++ {
		if d := se.Points[i].Time.Sub(se.Points[i-1].Time); d > 0 && (p == 0 || d < p) {
			p = d
		}
	}
	if p == 0 {
		p = 5 * time.Minute
		if len(se.Points) > 0 {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %s has a single datapoint: its period is assumed to be 300 s (basic monitoring)",
				displayName(s.File), labelOf(&se)))
		}
	}
	se.Period = p
	if se.Metric == "" {
		s.Notes = append(s.Notes, fmt.Sprintf("%s: %q names no metric mirrorscope knows; it is kept but not correlated",
			displayName(s.File), labelOf(&se)))
	}
	s.Series = append(s.Series, se)
}

// jsonErrLine turns a decoding error's byte offset into a 1-based line.
func jsonErrLine(data []byte, dec *json.Decoder, err error) int {
	off := dec.InputOffset()
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}

// MetricData is one GetMetricData result as an API client returns it
// (internal/aws fetches them; this package does not call AWS).
type MetricData struct {
	ID, Label, StatusCode string
	Timestamps            []time.Time
	Values                []float64
}

// FromMetricData builds a Set from fetched GetMetricData results, as
// ParseCloudWatch does from the CLI's JSON; notes (why a metric is
// missing) are added to the Set's Notes.
func FromMetricData(name string, results []MetricData, notes ...string) (*Set, error) {
	s := &Set{File: name, Format: FormatMetricData, index: map[string]int{}}
	for ri, r := range results {
		if len(r.Timestamps) != len(r.Values) {
			return nil, fmt.Errorf("counters: %s: result %d (%s): %d Timestamps but %d Values", name, ri, r.Label, len(r.Timestamps), len(r.Values))
		}
		se := Series{Label: r.Label, ID: r.ID, StatusCode: r.StatusCode}
		se.Metric, se.Namespace, se.Kind = detectMetric(r.Label, r.ID)
		for i, t := range r.Timestamps {
			se.Points = append(se.Points, Point{Time: t.UTC(), Value: r.Values[i]})
		}
		if r.StatusCode != "" && r.StatusCode != "Complete" {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %s has StatusCode %s: the data may be incomplete", name, labelOf(&se), r.StatusCode))
		}
		s.addSeries(se)
	}
	s.Notes = append(s.Notes, notes...)
	return s, nil
}
