package accuracy

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanIsSeeded(t *testing.T) {
	a, b := Plan("tune", 11001, 40), Plan("tune", 11001, 40)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different manifests (-got +want):\n%s", diff)
	}
	c := Plan("heldout", 11002, 40)
	if reflect.DeepEqual(a.Runs[0].Params, c.Runs[0].Params) && a.Runs[0].Kind == c.Runs[0].Kind && a.Runs[1].Kind == c.Runs[1].Kind {
		t.Errorf("seeds 11001 and 11002 start alike: %+v", c.Runs[:2])
	}
	if !strings.HasPrefix(c.Runs[0].Name, "h001_") {
		t.Errorf("held-out name %q, want prefix h001_", c.Runs[0].Name)
	}
}

// TestPlanBounds checks the parameter space the report promises.
func TestPlanBounds(t *testing.T) {
	m := Plan("tune", 7, 400)
	kinds := map[string]int{}
	for _, s := range m.Runs {
		kinds[s.Kind]++
		if s.Seconds < 2 || s.Seconds > 10 {
			t.Errorf("%s: %d s", s.Name, s.Seconds)
		}
		if s.Streams < 1 || s.Streams > 8 {
			t.Errorf("%s: %d streams", s.Name, s.Streams)
		}
		pts := len(s.Points)
		if s.Mirror {
			pts++
		}
		if pts < 1 {
			t.Errorf("%s: no capture point", s.Name)
		}
		for _, k := range []string{"rate", "linkrate"} {
			v, ok := s.Params[k]
			if !ok {
				continue
			}
			r, err := ParseRate(v)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			max := 120e6
			if s.Scenario == "shaper" {
				max = 500e6
			}
			if s.Kind == KindLoss {
				max = 100e6
			}
			if r < 2e6 || r > max+0.5e6 {
				t.Errorf("%s: %s=%s outside 2-%.0f Mbit/s", s.Name, k, v, max/1e6)
			}
		}
		if (s.Kind == KindRwnd || s.Kind == KindReorder) && s.Direction == "bidir" {
			t.Errorf("%s: bidir", s.Name)
		}
		args := strings.Join(s.Args(), " ")
		if !strings.Contains(args, "-s "+s.Scenario) || !strings.Contains(args, "-n "+s.Name) {
			t.Errorf("%s: args %q", s.Name, args)
		}
		if s.Mirror != strings.Contains(args, "-m 4242") {
			t.Errorf("%s: mirror %v, args %q", s.Name, s.Mirror, args)
		}
	}
	for _, k := range []string{KindShaper, KindPolicer, KindFIFO, KindLoss, KindReorder, KindRwnd, KindAppConst, KindAppBursty, KindNone} {
		if kinds[k] == 0 {
			t.Errorf("kind %s never drawn in 400 runs", k)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  bool
	}{
		{"20mbit", 20e6, false}, {"4.2mbit", 4.2e6, false}, {"5M", 5e6, false}, {"1gbit", 1e9, false},
		{"300kbit", 300e3, false}, {"1000", 1000, false}, {"fast", 0, true}, {"", 0, true},
	} {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.err || math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestExpectedVis(t *testing.T) {
	for _, tc := range []struct{ view, point, sender, want string }{
		{ViewBoth, "srv", "cli", VisBoth},
		{ViewIngress, "srv", "cli", VisDataOnly}, // data enters srv
		{ViewEgress, "srv", "cli", VisAcksOnly},
		{ViewIngress, "mon", "cli", VisDataOnly}, // mon mirrors srv's eth0
		{ViewEgress, "mon", "srv", VisDataOnly},  // down: srv sends
		{ViewIngress, "cli", "cli", VisAcksOnly}, // ACKs enter the sender
		{ViewEgress, "cli", "cli", VisDataOnly},
		{ViewEgress, "cli", "srv", VisAcksOnly},
	} {
		if got := expectedVis(tc.view, tc.point, tc.sender); got != tc.want {
			t.Errorf("expectedVis(%s, %s, sender %s) = %s, want %s", tc.view, tc.point, tc.sender, got, tc.want)
		}
	}
}

// writeTruthRun writes a minimal mklab.sh output folder.
func writeTruthRun(t *testing.T, dir, name, truth, client string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "raw"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".truth.json"), []byte(truth), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raw", "iperf3-client.json"), []byte(client), 0o644); err != nil {
		t.Fatal(err)
	}
}

const oneStreamUp = `{"start":{"connected":[{"socket":5,"local_host":"198.18.0.1","local_port":40000,"remote_host":"198.18.0.2","remote_port":5201}]},
 "end":{"streams":[{"sender":{"socket":5,"sender":true}}]}}`

func TestReadTruthChecks(t *testing.T) {
	tbf := func(drops, over int, bps float64) string {
		return `{"scenario":"shaper","params":{"rate":"20mbit"},"iperf3":{"cli_to_srv":{"streams":1,"receiver_bps":` +
			ftoa(bps) + `,"retransmits":3,"min_rtt_us":300}},
		 "counters":{"rtr_qdisc":[{"dev":"to-srv","kind":"tbf","drops":` + itoa(drops) + `,"overlimits":` + itoa(over) + `}]},
		 "captures":[{"point":"srv"},{"point":"mon"}]}`
	}
	wire := func(scen, params string, loss, queue, police, reorder, retr int, bps float64) string {
		return `{"scenario":"` + scen + `","params":{` + params + `},"iperf3":{"cli_to_srv":{"streams":1,"receiver_bps":` + ftoa(bps) +
			`,"retransmits":` + itoa(retr) + `}},"counters":{"rtr_qdisc":[],"labwire":{"directions":[{"name":"a2b","stats":{"rx_frames":1000,"drop_loss":` +
			itoa(loss) + `,"drop_queue":` + itoa(queue) + `,"drop_police":` + itoa(police) + `,"reorder_immediate":` + itoa(reorder) +
			`}},{"name":"b2a","stats":{}}]}},"captures":[{"point":"cli"}]}`
	}
	for _, tc := range []struct {
		name, kind, truth string
		streams           int
		want              string
		rate              float64
		excluded, relabel bool
	}{
		{"shaper ok", KindShaper, tbf(3, 900, 19e6), 1, VShaper, 20e6, false, false},
		{"shaper never queued", KindShaper, tbf(0, 0, 19e6), 1, "", 20e6, true, false},
		{"shaper not filled", KindShaper, tbf(0, 50, 9e6), 1, "", 20e6, true, false},
		{"shared shaper", KindShaper, tbf(10, 900, 19e6), 4, VShaper, 20e6, false, false},
		{"policer ok", KindPolicer, wire("policer", `"rate":"10mbit"`, 0, 0, 50, 0, 50, 8e6), 1, VPolicer, 10e6, false, false},
		{"policer idle", KindPolicer, wire("policer", `"rate":"10mbit"`, 0, 0, 0, 0, 0, 8e6), 1, "", 10e6, true, false},
		{"fifo overflow", KindFIFO, wire("delay", `"linkrate":"10mbit"`, 0, 20, 0, 0, 20, 9.5e6), 1, VShaper, 10e6, false, false},
		{"fifo shared", KindFIFO, wire("delay", `"linkrate":"10mbit"`, 0, 20, 0, 0, 20, 9.5e6), 3, VShaper, 10e6, false, false},
		{"fifo slow start", KindFIFO, wire("delay", `"linkrate":"100mbit"`, 0, 0, 0, 0, 0, 30e6), 1, VUnconstrained, 0, false, true},
		{"fifo in between", KindFIFO, wire("delay", `"linkrate":"100mbit"`, 0, 0, 0, 0, 0, 70e6), 1, "", 100e6, true, false},
		{"loss ok", KindLoss, wire("loss", `"loss":"1"`, 40, 0, 0, 0, 40, 5e6), 1, VRandomLoss, 0, false, false},
		{"loss, link filled", KindLoss, wire("loss", `"loss":"0.6","linkrate":"100mbit"`, 40, 0, 0, 0, 40, 95e6), 1, VShaper, 100e6, false, true},
		{"loss, link filled, shared", KindLoss, wire("loss", `"loss":"0.6","linkrate":"100mbit"`, 40, 0, 0, 0, 40, 95e6), 4, VShaper, 100e6, false, true},
		{"loss under the link", KindLoss, wire("loss", `"loss":"0.6","linkrate":"100mbit"`, 40, 0, 0, 0, 40, 80e6), 1, VRandomLoss, 0, false, false},
		{"loss and fifo", KindLoss, wire("loss", `"loss":"1"`, 40, 9, 0, 0, 49, 5e6), 1, "", 0, true, false},
		{"reorder ok", KindReorder, wire("reorder", `"reorder":"5"`, 0, 0, 0, 300, 20, 5e6), 1, VReordering, 0, false, false},
		{"app ok", KindAppConst, wire("applimited", `"bitrate":"5M"`, 0, 0, 0, 0, 0, 5e6), 1, VApplication, 0, false, false},
		{"app starved", KindAppConst, wire("applimited", `"bitrate":"50M"`, 0, 0, 0, 0, 0, 20e6), 1, "", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTruthRun(t, dir, "r", tc.truth, oneStreamUp)
			rt, err := ReadTruth(dir, Spec{Name: "r", Kind: tc.kind, Direction: "up", Streams: tc.streams})
			if err != nil {
				t.Fatal(err)
			}
			if rt.Want != tc.want || (rt.Excluded != "") != tc.excluded || (rt.Relabel != "") != tc.relabel {
				t.Errorf("want %q excluded %q relabel %q; expected want %q excluded %v relabel %v", rt.Want, rt.Excluded, rt.Relabel, tc.want, tc.excluded, tc.relabel)
			}
			if !tc.excluded && rt.RateBps != tc.rate {
				t.Errorf("rate %v, want %v", rt.RateBps, tc.rate)
			}
			if got := rt.Shared; got != (tc.streams > 1 && tc.want != "" && tc.want != VUnconstrained) {
				t.Errorf("shared %v", got)
			}
			if len(rt.Conns) != 1 || rt.Conns[0].Sender != "cli" || rt.Conns[0].Client != "198.18.0.1:40000" {
				t.Errorf("connections %+v", rt.Conns)
			}
		})
	}
}

func itoa(i int) string     { return strconv.Itoa(i) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
