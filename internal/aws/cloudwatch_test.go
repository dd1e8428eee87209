package aws

import (
	"strings"
	"testing"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/aws/awsfake"
)

func TestFetchMetrics(t *testing.T) {
	f, c := newFake(t)
	f.SetMetric("AWS/EC2", "NetworkIn", awsfake.Point{Time: "2026-12-01T10:00:00Z", Value: 1000}, awsfake.Point{Time: "2026-12-01T10:01:00Z", Value: 2000})
	f.SetMetric("AWS/EC2", "NetworkSkipMirrorOut", awsfake.Point{Time: "2026-12-01T10:00:00Z", Value: 5}, awsfake.Point{Time: "2026-12-01T10:05:00Z", Value: 7})
	f.SetMetric("CWAgent", "ethtool_bw_in_allowance_exceeded", awsfake.Point{Time: "2026-12-01T10:00:00Z", Value: 3}, awsfake.Point{Time: "2026-12-01T10:01:00Z", Value: 9})
	from := time.Date(2026, 12, 1, 10, 0, 10, 0, time.UTC)
	set, err := FetchMetrics(t.Context(), c, []string{"i-0src1"}, from, from.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	for _, se := range set.Series {
		have[se.Metric] = len(se.Points)
	}
	for m, n := range map[string]int{"NetworkIn": 2, "NetworkSkipMirrorOut": 2, "bw_in_allowance_exceeded": 2, "NetworkOut": 0} {
		if have[m] != n {
			t.Errorf("%s: %d points, want %d (series %v)", m, have[m], n, have)
		}
	}
	notes := strings.Join(set.Notes, "\n")
	for _, want := range []string{"no datapoints for NetworkOut", "no CloudWatch agent ethtool metrics (ethtool_bw_out_allowance_exceeded", "NetworkSkipMirrorOut i-0src1: 5-minute periods"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0] != "GetMetricData" {
		t.Errorf("calls %v, want one GetMetricData", calls)
	}
}

func TestCloudWatchAccessDenied(t *testing.T) {
	f, c := newFake(t)
	f.Fail("GetMetricData", "AccessDenied")
	_, err := FetchMetrics(t.Context(), c, []string{"i-0src1"}, time.Now(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "cloudwatch:GetMetricData") {
		t.Fatalf("error %v, want one naming cloudwatch:GetMetricData", err)
	}
}
