package aws

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/counters"
)

// EC2Metrics are the AWS/EC2 metrics fetched (Sum per period).
var EC2Metrics = []string{
	"NetworkIn", "NetworkOut", "NetworkPacketsIn", "NetworkPacketsOut",
	"NetworkMirrorIn", "NetworkMirrorOut", "NetworkPacketsMirrorIn", "NetworkPacketsMirrorOut",
	"NetworkSkipMirrorIn", "NetworkSkipMirrorOut", "NetworkPacketsSkipMirrorIn", "NetworkPacketsSkipMirrorOut",
}

// AgentMetrics are the CloudWatch agent's ethtool metrics fetched
// (Maximum: they are cumulative counters), found with a SEARCH
// expression since their dimensions (interface, driver) vary.
var AgentMetrics = []string{
	"ethtool_bw_in_allowance_exceeded", "ethtool_bw_out_allowance_exceeded", "ethtool_pps_allowance_exceeded",
	"ethtool_conntrack_allowance_exceeded", "ethtool_linklocal_allowance_exceeded",
}

type metricQuery struct {
	id, instance, metric string
	agent                bool
}

// FetchMetrics fetches, in one GetMetricData call, the network, mirror
// and ENA allowance metrics of instances over [from, to] at 1-minute
// periods, and returns them as a counters.Set named
// "cloudwatch:INSTANCE,...". The Set's Notes say which metrics came back
// empty and the likely reason.
func FetchMetrics(ctx context.Context, c *Client, instances []string, from, to time.Time) (*counters.Set, error) {
	// Whole minutes around the window: CloudWatch aligns periods on them.
	from = from.Truncate(time.Minute)
	to = to.Truncate(time.Minute).Add(time.Minute)
	var qs []metricQuery
	p := url.Values{}
	for ii, in := range instances {
		for mi, m := range EC2Metrics {
			qs = append(qs, metricQuery{id: fmt.Sprintf("i%d_m%d", ii, mi), instance: in, metric: m})
		}
		for mi, m := range AgentMetrics {
			qs = append(qs, metricQuery{id: fmt.Sprintf("i%d_a%d", ii, mi), instance: in, metric: m, agent: true})
		}
	}
	if len(qs) > 500 {
		return nil, fmt.Errorf("fetching CloudWatch metrics: %d instances need %d queries, more than the 500 of one GetMetricData call", len(instances), len(qs))
	}
	for i, q := range qs {
		pre := "MetricDataQueries.member." + strconv.Itoa(i+1) + "."
		p.Set(pre+"Id", q.id)
		p.Set(pre+"ReturnData", "true")
		if q.agent {
			p.Set(pre+"Expression", fmt.Sprintf(`SEARCH('Namespace="CWAgent" MetricName="%s" InstanceId="%s"', 'Maximum', 60)`, q.metric, q.instance))
			continue
		}
		p.Set(pre+"Label", q.metric+" "+q.instance)
		p.Set(pre+"MetricStat.Metric.Namespace", "AWS/EC2")
		p.Set(pre+"MetricStat.Metric.MetricName", q.metric)
		p.Set(pre+"MetricStat.Metric.Dimensions.member.1.Name", "InstanceId")
		p.Set(pre+"MetricStat.Metric.Dimensions.member.1.Value", q.instance)
		p.Set(pre+"MetricStat.Period", "60")
		p.Set(pre+"MetricStat.Stat", "Sum")
	}
	p.Set("StartTime", from.UTC().Format(time.RFC3339))
	p.Set("EndTime", to.UTC().Format(time.RFC3339))
	p.Set("ScanBy", "TimestampAscending")
	var results []counters.MetricData
	for page := 0; page < 100; page++ {
		var out struct {
			Results []struct {
				ID     string    `xml:"Id"`
				Label  string    `xml:"Label"`
				Times  []string  `xml:"Timestamps>member"`
				Values []float64 `xml:"Values>member"`
				Status string    `xml:"StatusCode"`
			} `xml:"GetMetricDataResult>MetricDataResults>member"`
			Next string `xml:"GetMetricDataResult>NextToken"`
		}
		if err := c.call(ctx, CloudWatch, "GetMetricData", p, &out); err != nil {
			return nil, fmt.Errorf("fetching CloudWatch metrics: %w", err)
		}
		for _, r := range out.Results {
			md := counters.MetricData{ID: r.ID, Label: r.Label, StatusCode: r.Status, Values: r.Values}
			for _, ts := range r.Times {
				t, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					return nil, fmt.Errorf("fetching CloudWatch metrics: %s: timestamp %q: %w", r.ID, ts, err)
				}
				md.Timestamps = append(md.Timestamps, t)
			}
			// Results of one id arrive over several pages.
			merged := false
			for i := range results {
				if results[i].ID == md.ID && results[i].Label == md.Label {
					results[i].Timestamps = append(results[i].Timestamps, md.Timestamps...)
					results[i].Values = append(results[i].Values, md.Values...)
					merged = true
				}
			}
			if !merged {
				results = append(results, md)
			}
		}
		if out.Next == "" {
			break
		}
		p.Set("NextToken", out.Next)
	}
	name := "cloudwatch:" + strings.Join(instances, ",")
	set, err := counters.FromMetricData(name, results, missingNotes(qs, results)...)
	if err != nil {
		return nil, err
	}
	for _, se := range set.Series {
		if se.Namespace == "AWS/EC2" && len(se.Points) > 1 && se.Period >= 5*time.Minute {
			set.Notes = append(set.Notes, se.Label+": 5-minute periods (basic monitoring): enable detailed monitoring on the instance for 1-minute data")
		}
	}
	return set, nil
}

// missingNotes says which queried metrics returned nothing, and why.
func missingNotes(qs []metricQuery, rs []counters.MetricData) []string {
	got := map[string]int{}
	for _, r := range rs {
		got[r.ID] += len(r.Values)
	}
	var notes []string
	byInstance := map[string][]string{}
	for _, q := range qs {
		if got[q.id] > 0 {
			continue
		}
		if q.agent {
			byInstance[q.instance+" agent"] = append(byInstance[q.instance+" agent"], q.metric)
		} else {
			byInstance[q.instance] = append(byInstance[q.instance], q.metric)
		}
	}
	seen := map[string]bool{}
	for _, q := range qs {
		k := q.instance
		if q.agent {
			k += " agent"
		}
		ms := byInstance[k]
		if len(ms) == 0 || seen[k] {
			continue
		}
		seen[k] = true
		if q.agent {
			notes = append(notes, fmt.Sprintf("%s: no CloudWatch agent ethtool metrics (%s): the agent is not installed there, or its ethtool plugin does not collect the ENA allowance counters (docs/aws.md)",
				q.instance, strings.Join(ms, ", ")))
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: no datapoints for %s: AWS/EC2 metrics arrive up to 5-10 minutes late, the mirror metrics exist only while the instance is a mirror source, and with basic monitoring the periods are 5 minutes (re-run 'mirrorscope analyze --cloudwatch' later)",
			q.instance, strings.Join(ms, ", ")))
	}
	return notes
}
