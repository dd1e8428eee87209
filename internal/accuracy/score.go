package accuracy

import (
	"fmt"
	"math"
	"sort"
)

// Eval is one scored flow of one view.
type Eval struct {
	Set     string
	Truth   *RunTruth
	R       FlowResult
	Data    bool   // an iperf3 data connection (else the control connection)
	Sender  string // data flows: cli or srv
	Want    string
	Vis     string  // expected visibility: both, data_only, acks_only
	RateErr float64 // relative error of rate_bps against the limiter, NaN if none
	RateOK  bool    // rate within RateBound (true when no rate is checked)
	Right   bool    // verdict == Want and RateOK
	Missing bool    // data connection absent from mirrorscope's flows
}

// Insufficient says the flow got insufficient_data.
func (e *Eval) Insufficient() bool { return e.R.Verdict == VInsufficientData }

// Capture names the capture and view, e.g. t001_reorder.srv or
// t001_reorder.srv[ingress].
func (e *Eval) Capture() string {
	s := e.R.Run + "." + e.R.Point
	if e.R.View != ViewBoth {
		s += "[" + e.R.View + "]"
	}
	return s
}

// expectedVis is the visibility of a flow whose data is sent by sender,
// in view of a capture at point.
func expectedVis(view, point, sender string) string {
	if view == ViewBoth {
		return VisBoth
	}
	entersHost := sender != PointHost(point)
	if (view == ViewIngress) == entersHost {
		return VisDataOnly
	}
	return VisAcksOnly
}

// Score matches every result flow with its run's truth. Results of runs
// that are excluded, or not in truths, are skipped. Data connections that
// mirrorscope did not report in a view are returned as Missing (wrong).
func Score(set string, truths []*RunTruth, results []FlowResult) []Eval {
	byName := map[string]*RunTruth{}
	for _, t := range truths {
		byName[t.Name] = t
	}
	type viewKey struct{ run, point, view string }
	seen := map[viewKey]map[int]bool{} // conn index -> found
	var order []viewKey
	var out []Eval
	for _, r := range results {
		rt := byName[r.Run]
		if rt == nil || rt.Excluded != "" {
			continue
		}
		k := viewKey{r.Run, r.Point, r.View}
		if seen[k] == nil {
			seen[k] = map[int]bool{}
			order = append(order, k)
		}
		e := Eval{Set: set, Truth: rt, R: r, RateErr: math.NaN(), RateOK: true}
		ci := -1
		for i, c := range rt.Conns {
			if (c.Client == r.Client && c.Server == r.Server) || (c.Client == r.Server && c.Server == r.Client) {
				ci = i
				break
			}
		}
		if ci >= 0 {
			seen[k][ci] = true
			e.Data, e.Sender, e.Want = true, rt.Conns[ci].Sender, rt.Want
			e.Vis = expectedVis(r.View, r.Point, e.Sender)
		} else {
			e.Want, e.Vis = VInsufficientData, ""
		}
		if b := RateBound(e.Want); e.Data && b > 0 && rt.RateBps > 0 && r.Verdict == e.Want {
			e.RateErr = relErr(r.RateBps, rt.RateBps)
			e.RateOK = !math.IsNaN(e.RateErr) && math.Abs(e.RateErr) <= b
		}
		e.Right = r.Verdict == e.Want && e.RateOK
		out = append(out, e)
	}
	for _, k := range order {
		rt := byName[k.run]
		for i, c := range rt.Conns {
			if seen[k][i] {
				continue
			}
			out = append(out, Eval{Set: set, Truth: rt, Data: true, Sender: c.Sender, Want: rt.Want,
				Vis: expectedVis(k.view, k.point, c.Sender), RateErr: math.NaN(), Missing: true,
				R: FlowResult{Run: k.run, Point: k.point, View: k.view, Client: c.Client, Server: c.Server,
					Verdict: "(missing)", Summary: "mirrorscope did not report this connection"}})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].R, out[j].R
		if a.Run != b.Run {
			return a.Run < b.Run
		}
		if a.Point != b.Point {
			return a.Point < b.Point
		}
		if a.View != b.View {
			return viewRank(a.View) < viewRank(b.View)
		}
		return a.Client < b.Client
	})
	return out
}

func viewRank(v string) int {
	for i, x := range Views {
		if x == v {
			return i
		}
	}
	return len(Views)
}

// Tally is the count of a group of data flows.
type Tally struct {
	N, Right, Insufficient, Wrong int
}

// Add counts e.
func (t *Tally) Add(e *Eval) {
	t.N++
	switch {
	case e.Right:
		t.Right++
	case e.Insufficient():
		t.Insufficient++
	default:
		t.Wrong++
	}
}

// Pct is 100*a/b as "97.5%" ("-" when b is 0).
func Pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// ConfBands are the calibration bands of the confidence: [lo, hi).
var ConfBands = []struct {
	Name   string
	Lo, Hi float64
}{{"0-0.5", 0, 0.5}, {"0.5-0.8", 0.5, 0.8}, {"0.8-0.9", 0.8, 0.9}, {"0.9-1", 0.9, 1.01}}

// Band is the index of e's confidence band.
func Band(conf float64) int {
	for i, b := range ConfBands {
		if conf >= b.Lo && conf < b.Hi {
			return i
		}
	}
	return 0
}
