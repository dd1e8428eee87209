package counters

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

// TestLoadEthtool: real veth output (captured in a network namespace,
// see testdata/README.md) and ENA-format files, each timestamp style.
func TestLoadEthtool(t *testing.T) {
	type want struct {
		snapshots int
		names     int
		first     string // time of the first snapshot
		timeFrom  string
		checks    map[string][]uint64 // counter -> value per snapshot
	}
	for _, tc := range []struct {
		file string
		want want
	}{
		{"veth-iso.txt", want{3, 10, "2026-11-27T09:57:36Z", "line 1", map[string][]uint64{"peer_ifindex": {2, 2, 2}, "rx_queue_0_drops": {0, 0, 0}}}},
		{"veth-epoch.txt", want{3, 10, "2026-11-27T09:57:39Z", "line 1", map[string][]uint64{"tx_queue_0_xdp_xmit_errors": {0, 0, 0}}}},
		{"veth-comment.txt", want{2, 10, "2026-11-27T09:57:43.044338939Z", "line 1", map[string][]uint64{"peer_ifindex": {2, 2}}}},
		{"ena-bw-out.txt", want{8, 27, "2026-11-27T08:38:20Z", "line 1", map[string][]uint64{BWOut: {100, 100, 100, 400, 900, 1200, 1334, 1334}, ConntrackAvailable: {450878, 450878, 450878, 450878, 450878, 450878, 450878, 450878}}}},
		{"ena-reset.txt", want{8, 27, "2026-11-27T08:38:20Z", "line 1", map[string][]uint64{BWOut: {5000, 5000, 5000, 5100, 30, 60, 80, 80}}}},
		{"ena-flat.txt", want{8, 27, "2026-11-27T08:38:20.25Z", "line 2", map[string][]uint64{ConntrackAvailable: {450878, 450871, 450864, 450857, 450850, 450843, 450836, 450829}}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, err := Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != FormatEthtool {
				t.Fatalf("format %q", s.Format)
			}
			got := want{snapshots: len(s.Snapshots), names: len(s.Names), first: s.Snapshots[0].Time.Format(time.RFC3339Nano),
				timeFrom: s.Snapshots[0].TimeFrom, checks: map[string][]uint64{}}
			for name := range tc.want.checks {
				for i := range s.Snapshots {
					v, ok := s.Value(i, name)
					if !ok {
						t.Fatalf("snapshot %d has no %s", i, name)
					}
					got.checks[name] = append(got.checks[name], v)
				}
			}
			if d := cmp.Diff(got, tc.want, cmp.AllowUnexported(want{})); d != "" {
				t.Errorf("(-got +want)\n%s", d)
			}
			for i := 1; i < len(s.Snapshots); i++ {
				if s.Snapshots[i].Time.Before(s.Snapshots[i-1].Time) {
					t.Errorf("snapshots not in time order at %d", i)
				}
			}
		})
	}
}

func TestEthtoolMtimeFallback(t *testing.T) {
	data, err := os.ReadFile("testdata/veth-single.txt")
	if err != nil {
		t.Fatal(err)
	}
	mt := mustTime(t, "2026-11-27T10:00:00Z")
	s, err := Parse("veth-single.txt", data, mt)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Snapshots) != 1 || !s.Snapshots[0].Time.Equal(mt) || s.Snapshots[0].TimeFrom != "mtime" {
		t.Fatalf("got %+v", s.Snapshots)
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "modification time") {
		t.Errorf("notes %q", s.Notes)
	}
	// Without an mtime the lone snapshot cannot be placed.
	if _, err := Parse("veth-single.txt", data, time.Time{}); err == nil {
		t.Error("no error for an undated snapshot without mtime")
	}
}

func TestTimestampLines(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2026-11-27T10:00:00+00:00", "2026-11-27T10:00:00Z"},                     // date -Iseconds
		{"2026-11-27T11:00:00+01:00", "2026-11-27T10:00:00Z"},                     // a zone
		{"2026-11-27T10:00:00,123456789+00:00", "2026-11-27T10:00:00.123456789Z"}, // date -Ins
		{"2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z"},
		{"1795773600", "2026-11-27T10:00:00Z"},                   // date -u +%s
		{"1795773600.5", "2026-11-27T10:00:00.5Z"},               // date +%s.%N
		{"Fri Nov 27 10:00:00 UTC 2026", "2026-11-27T10:00:00Z"}, // date -u
		{"Fri Nov 27 10:00:00 CET 2026", ""},                     // zone abbreviation: offset unknown
		{"2026-11-27T10:00:00", ""},                              // no zone
		{"tx_timeout: 0", ""},
		{"", ""},
	} {
		got := ""
		if v, ok := parseTimestamp(tc.in); ok {
			got = v.Format(time.RFC3339Nano)
		}
		if got != tc.want {
			t.Errorf("parseTimestamp(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoadCloudWatch(t *testing.T) {
	type series struct {
		Metric, Namespace string
		Kind              SeriesKind
		Period            time.Duration
		Points            int
		First             string
		FirstValue        float64
	}
	for _, tc := range []struct {
		file   string
		format Format
		want   []series
		notes  int
	}{
		{"cw-ec2-data.json", FormatMetricData, []series{
			{"NetworkIn", "AWS/EC2", KindSum, time.Minute, 3, "2026-11-27T08:37:00Z", 900000},
			{"NetworkOut", "AWS/EC2", KindSum, time.Minute, 3, "2026-11-27T08:37:00Z", 29000000},
			{"NetworkMirrorIn", "AWS/EC2", KindSum, time.Minute, 3, "2026-11-27T08:37:00Z", 800000},
			{"NetworkMirrorOut", "AWS/EC2", KindSum, time.Minute, 3, "2026-11-27T08:37:00Z", 28000000},
			{"NetworkSkipMirrorIn", "AWS/EC2", KindSum, time.Minute, 3, "2026-11-27T08:37:00Z", 0},
			{"NetworkSkipMirrorOut", "AWS/EC2", KindSum, time.Minute, 3, "2026-11-27T08:37:00Z", 0},
		}, 0},
		{"cw-agent-data.json", FormatMetricData, []series{
			{BWOut, "CWAgent", KindCounter, time.Minute, 3, "2026-11-27T08:36:00Z", 4076},
			{PPS, "CWAgent", KindCounter, time.Minute, 3, "2026-11-27T08:36:00Z", 0},
		}, 1}, // PartialData
		{"cw-stats.json", FormatMetricStatistics, []series{
			{"NetworkOut", "AWS/EC2", KindSum, 5 * time.Minute, 2, "2026-11-27T08:35:00Z", 120000000},
		}, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, err := Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []series
			for _, se := range s.Series {
				got = append(got, series{se.Metric, se.Namespace, se.Kind, se.Period, len(se.Points), se.Points[0].Time.Format(time.RFC3339), se.Points[0].Value})
			}
			if s.Format != tc.format {
				t.Errorf("format %q, want %q", s.Format, tc.format)
			}
			if d := cmp.Diff(got, tc.want); d != "" {
				t.Errorf("(-got +want)\n%s", d)
			}
			if len(s.Notes) != tc.notes {
				t.Errorf("notes %q, want %d", s.Notes, tc.notes)
			}
		})
	}
}

func TestDetectMetric(t *testing.T) {
	for _, tc := range []struct{ label, id, want string }{
		{"NetworkPacketsSkipMirrorIn", "", "NetworkPacketsSkipMirrorIn"},
		{"i-0abc NetworkSkipMirrorOut", "", "NetworkSkipMirrorOut"},
		{"", "networkpacketsout", "NetworkPacketsOut"},
		{"", "network_skip_mirror_in", "NetworkSkipMirrorIn"},
		{"ethtool_conntrack_allowance_available", "", ConntrackAvailable},
		{"eth0 ethtool_linklocal_allowance_exceeded", "", LinklocalExceeded},
		{"CPUUtilization", "m1", ""},
	} {
		if got, _, _ := detectMetric(tc.label, tc.id); got != tc.want {
			t.Errorf("detectMetric(%q, %q) = %q, want %q", tc.label, tc.id, got, tc.want)
		}
	}
}

// TestLoadErrors: bad input is a clear error naming the file and, for
// text, the line.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    []string
		unknown bool
	}{
		{"neither.txt", []string{"neither.txt", "neither `ethtool -S` output nor"}, true},
		{"bad.json", []string{"bad.json:3:", "not valid CloudWatch JSON"}, false},
		{"bad-shape.json", []string{"bad-shape.json:1:", "not valid CloudWatch JSON"}, false},
		{"bad-value.txt", []string{"bad-value.txt:4:", `"bw_out_allowance_exceeded"`, `"twelve" is not a number`}, false},
		{"untimed-multi.txt", []string{"untimed-multi.txt:1:", "2 of 2 snapshots", "date -Iseconds"}, false},
		{"missing.txt", []string{"missing.txt", "no such file"}, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if errors.Is(err, ErrUnknownFormat) != tc.unknown {
				t.Errorf("errors.Is(ErrUnknownFormat) = %v", !tc.unknown)
			}
		})
	}
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "empty file"},
		{"counter-first", "  x: 1\nNIC statistics:\n", "counter-first:1: counter line before any"},
		{"orphan-ts", "NIC statistics:\n  a: 1\n1795773600\n", "orphan-ts:3: timestamp not followed"},
		{"two-ts", "1795773600\n1795773601\nNIC statistics:\n", "two-ts:2: second timestamp"},
		{"no-colon", "1795773600\nNIC statistics:\n   abc\n", `no-colon:3: expected "name: value"`},
		{"ethtool-error", "1795773600\nNIC statistics:\nno stats available\n", "ethtool-error:3: ethtool reported an error"},
		{"mismatch", `{"MetricDataResults":[{"Label":"NetworkIn","Timestamps":["2026-11-27T08:38:00Z"],"Values":[]}]}`, "1 Timestamps but 0 Values"},
		{"bad-time", `{"MetricDataResults":[{"Label":"NetworkIn","Timestamps":["yesterday"],"Values":[1]}]}`, `Timestamps[0] "yesterday"`},
		{"no-sum", `{"Label":"NetworkIn","Datapoints":[{"Timestamp":"2026-11-27T08:38:00Z","Maximum":3}]}`, "no Sum (query with --statistics Sum)"},
		{"other-json", `{"Reservations":[]}`, "without MetricDataResults or Datapoints"},
	} {
		_, err := Parse(tc.name, []byte(tc.data), time.Time{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
