package emf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/diagnose"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// units are the EMF specification's allowed Unit values.
var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// validate checks one line against the rules of the EMF specification:
// a JSON object with an _aws object holding Timestamp (a number of
// milliseconds since the epoch) and a CloudWatchMetrics array of
// directives; each directive has a Namespace (1-1024 characters), a
// Dimensions array of arrays of at most 30 strings each naming a root
// member whose value is a string (at most 1024 characters), and a Metrics
// array of at most 100 definitions with a Name (1-1024 characters, a
// root member holding a number or an array of at most 100 numbers), an
// optional Unit from the allowed list and an optional StorageResolution
// of 1 or 60.
func validate(line []byte) error {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	rawAWS, ok := root["_aws"]
	if !ok {
		return fmt.Errorf("no _aws member")
	}
	var aws map[string]json.RawMessage
	if err := json.Unmarshal(rawAWS, &aws); err != nil {
		return fmt.Errorf("_aws is not an object: %w", err)
	}
	var ts float64
	if err := json.Unmarshal(aws["Timestamp"], &ts); err != nil || ts != math.Trunc(ts) || ts < 1e12 {
		return fmt.Errorf("_aws.Timestamp %s is not milliseconds since the epoch", aws["Timestamp"])
	}
	var dirs []map[string]json.RawMessage
	if err := json.Unmarshal(aws["CloudWatchMetrics"], &dirs); err != nil || dirs == nil {
		return fmt.Errorf("_aws.CloudWatchMetrics is not an array: %v", err)
	}
	str := func(name string) (string, error) {
		var s string
		if err := json.Unmarshal(root[name], &s); err != nil {
			return "", fmt.Errorf("member %q is not a string at the root", name)
		}
		return s, nil
	}
	for i, d := range dirs {
		var ns string
		if err := json.Unmarshal(d["Namespace"], &ns); err != nil || len(ns) < 1 || len(ns) > 1024 {
			return fmt.Errorf("directive %d: Namespace %s", i, d["Namespace"])
		}
		var dims [][]string
		if err := json.Unmarshal(d["Dimensions"], &dims); err != nil || dims == nil {
			return fmt.Errorf("directive %d: Dimensions is not an array of arrays of strings", i)
		}
		for _, set := range dims {
			if len(set) > 30 {
				return fmt.Errorf("directive %d: a dimension set has %d > 30 dimensions", i, len(set))
			}
			for _, k := range set {
				v, err := str(k)
				if err != nil {
					return fmt.Errorf("directive %d: dimension %w", i, err)
				}
				if len(v) < 1 || len(v) > 1024 {
					return fmt.Errorf("directive %d: dimension %q value length %d", i, k, len(v))
				}
			}
		}
		var ms []map[string]json.RawMessage
		if err := json.Unmarshal(d["Metrics"], &ms); err != nil || ms == nil {
			return fmt.Errorf("directive %d: Metrics is not an array", i)
		}
		if len(ms) > 100 {
			return fmt.Errorf("directive %d: %d > 100 metrics", i, len(ms))
		}
		for _, m := range ms {
			var name string
			if err := json.Unmarshal(m["Name"], &name); err != nil || len(name) < 1 || len(name) > 1024 {
				return fmt.Errorf("directive %d: metric Name %s", i, m["Name"])
			}
			if u, ok := m["Unit"]; ok {
				var unit string
				if err := json.Unmarshal(u, &unit); err != nil || !slices.Contains(units, unit) {
					return fmt.Errorf("metric %s: Unit %s is not an allowed unit", name, u)
				}
			}
			if r, ok := m["StorageResolution"]; ok && string(r) != "1" && string(r) != "60" {
				return fmt.Errorf("metric %s: StorageResolution %s", name, r)
			}
			v, ok := root[name]
			if !ok {
				return fmt.Errorf("metric %s has no member at the root", name)
			}
			var num float64
			if json.Unmarshal(v, &num) != nil {
				var arr []float64
				if err := json.Unmarshal(v, &arr); err != nil || len(arr) > 100 {
					return fmt.Errorf("metric %s: value %s is not a number or an array of at most 100 numbers", name, v)
				}
			}
		}
	}
	return nil
}

func TestValidatorRejects(t *testing.T) {
	good := `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"x","M":1}`
	if err := validate([]byte(good)); err != nil {
		t.Fatalf("good line rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"no _aws":           `{"M":1}`,
		"seconds":           `{"_aws":{"Timestamp":1764590400,"CloudWatchMetrics":[]},"M":1}`,
		"flat dimensions":   `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":["D"],"Metrics":[]}]},"D":"x"}`,
		"missing dimension": `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[]}]}}`,
		"bad unit":          `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Packets"}]}]},"M":1}`,
		"missing metric":    `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}}`,
		"string metric":     `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":"1"}`,
		"31 dimensions":     `{"_aws":{"Timestamp":1764590400000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a"]],"Metrics":[]}]},"a":"x"}`,
	} {
		if validate([]byte(bad)) == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if err := validate(sc.Bytes()); err != nil {
			t.Errorf("invalid EMF line: %v\n%s", err, sc.Text())
		}
		var m map[string]any
		json.Unmarshal(sc.Bytes(), &m)
		out = append(out, m)
	}
	return out
}

// TestVerdictMetrics: a policed flow gives PolicedFlows 1, the alarm's
// metric; idle periods write nothing.
func TestVerdictMetrics(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := New(&buf, Config{Now: func() time.Time { return now }})
	w.Flow(&result.Flow{Bytes: 1000, Diagnosis: &diagnose.Diagnosis{Verdict: diagnose.VerdictPolicer}}, false)
	w.Flow(&result.Flow{Bytes: 500, Diagnosis: &diagnose.Diagnosis{Verdict: diagnose.VerdictPolicer}}, true) // interim: not counted
	w.Flow(&result.Flow{Bytes: 10}, false)
	sess := []listen.SessionInfo{{VNI: 7, OuterSrc: "10.0.0.5", Packets: 10, Bytes: 1500}}
	w.Sessions(now, sess)
	w.Sessions(now.Add(time.Second), sess) // nothing new
	w.Summary(nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, buf.Bytes())
	if len(ls) != 4 {
		t.Fatalf("%d lines, want 4 (policer, none, totals, session):\n%s", len(ls), buf.String())
	}
	var total map[string]any
	for _, l := range ls {
		if _, ok := l["PolicedFlows"]; ok {
			total = l
		}
	}
	if total == nil || total["PolicedFlows"] != 1.0 || total["Flows"] != 2.0 || total["FlowBytes"] != 1010.0 {
		t.Errorf("totals line %v", total)
	}
	if ls[3]["Session"] != "vni 7 from 10.0.0.5" || ls[3]["Packets"] != 10.0 {
		t.Errorf("session line %v", ls[3])
	}
	if ts := ls[0]["_aws"].(map[string]any)["Timestamp"]; ts != float64(now.UnixMilli()) {
		t.Errorf("timestamp %v", ts)
	}
}

// TestListenerEMF: a real mirror capture replayed into a listener with
// the EMF tap: every line is valid, the flow and packet totals match
// the listener's own.
func TestListenerEMF(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, Config{})
	cfg := listen.DefaultConfig()
	cfg.VXLAN, cfg.HTTP, cfg.Sockets = "127.0.0.1:0", "", 1
	cfg.Taps, cfg.TapInterval = []listen.Tap{w}, 20*time.Millisecond
	l, err := listen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan *listen.Summary, 1)
	go func() {
		s, err := l.Run(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), l.VXLANAddr().Port())
	st, err := listen.Replay(t.Context(), listen.ReplayConfig{Files: []string{"../../testdata/policer/policer.mon.pcap"}, To: to.String(),
		Encap: "vxlan", Decode: decode.DefaultConfig(), NoRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	sum := <-done
	var flows, packets float64
	for _, m := range lines(t, buf.Bytes()) {
		if _, ok := m["PolicedFlows"]; ok {
			flows += m["Flows"].(float64)
		}
		if p, ok := m["Packets"]; ok {
			packets += p.(float64)
		}
	}
	if flows == 0 || uint64(flows) != sum.Listener.FlowsEnded {
		t.Errorf("EMF counted %v flows, the listener ended %d", flows, sum.Listener.FlowsEnded)
	}
	if packets == 0 || uint64(packets) != sum.Listener.Datagrams || st.Sent != sum.Listener.Datagrams {
		t.Errorf("EMF counted %v packets, the listener received %d, replay sent %d", packets, sum.Listener.Datagrams, st.Sent)
	}
	if !strings.Contains(buf.String(), `"Namespace":"mirrorscope"`) {
		t.Error("namespace missing")
	}
}
