package counters

import (
	"fmt"
	"time"
)

// Window is the capture's time span, inclusive.
type Window struct{ Start, End time.Time }

// Delta is how much one counter rose (or, for a sum metric, how much was
// counted) inside a window.
type Delta struct {
	Metric string
	File   string
	Value  float64
	// From/To: the samples (ethtool, CloudWatch counters) or the periods
	// (CloudWatch sums) the value spans; they bracket the window unless
	// Partial.
	From, To time.Time
	// Partial: the samples do not reach both ends of the window (the
	// value covers less than the capture).
	Partial bool
	// Resets: times at which the counter went down (a driver reset); the
	// rise after each reset is counted from zero, a lower bound.
	Resets []time.Time
	// Period is the CloudWatch period (0 for ethtool snapshots).
	Period time.Duration
	// Scaled: for sums, Value scaled to the part of the periods the
	// window covers (assumes an even rate within each period).
	Scaled float64
	// Min/Max: the smallest and largest sample seen from From to To (a
	// gauge such as conntrack_allowance_available).
	Min, Max float64
}

type sample struct {
	t time.Time
	v float64
}

// counterDelta takes the rise of a cumulative counter between the last
// sample at/before the window's start and the first at/after its end,
// walking every sample between so a decrease (driver reset) is seen. ok is
// false when the samples do not overlap the window.
func counterDelta(samples []sample, w Window) (d Delta, ok bool) {
	lo, hi := -1, -1
	for i, s := range samples {
		if !s.t.After(w.Start) {
			lo = i
		}
		if hi < 0 && !s.t.Before(w.End) {
			hi = i
		}
	}
	if lo < 0 {
		// No sample before the start: begin at the first one inside.
		for i, s := range samples {
			if s.t.Before(w.End) {
				lo = i
				d.Partial = true
				break
			}
		}
	}
	if hi < 0 {
		for i := len(samples) - 1; i >= 0; i-- {
			if samples[i].t.After(w.Start) {
				hi = i
				d.Partial = true
				break
			}
		}
	}
	if lo < 0 || hi < 0 || hi <= lo {
		return Delta{}, false
	}
	d.From, d.To = samples[lo].t, samples[hi].t
	d.Min, d.Max = samples[lo].v, samples[lo].v
	for i := lo + 1; i <= hi; i++ {
		prev, cur := samples[i-1].v, samples[i].v
		if cur < prev {
			d.Resets = append(d.Resets, samples[i].t)
			d.Value += cur
		} else {
			d.Value += cur - prev
		}
		d.Min, d.Max = min(d.Min, cur), max(d.Max, cur)
	}
	return d, true
}

// sumDelta adds the datapoints whose period [t, t+period) overlaps the
// window.
func sumDelta(se *Series, w Window) (d Delta, ok bool) {
	d.Period = se.Period
	end := w.End
	if !end.After(w.Start) {
		end = w.Start.Add(time.Nanosecond)
	}
	for _, p := range se.Points {
		pe := p.Time.Add(se.Period)
		if !p.Time.Before(end) || !pe.After(w.Start) {
			continue
		}
		if !ok {
			d.From, d.Min, d.Max = p.Time, p.Value, p.Value
		}
		ok = true
		d.To = pe
		d.Value += p.Value
		d.Min, d.Max = min(d.Min, p.Value), max(d.Max, p.Value)
		ov := minTime(pe, end).Sub(maxTime(p.Time, w.Start))
		d.Scaled += p.Value * float64(ov) / float64(se.Period)
	}
	if ok && (d.From.After(w.Start) || d.To.Before(w.End)) {
		d.Partial = true
	}
	return d, ok
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Deltas returns, for every counter or metric of the set that overlaps
// the window, its delta keyed by metric name (ethtool counter names as
// printed; CloudWatch canonical names, see Series.Metric).
func (s *Set) Deltas(w Window) map[string]Delta {
	out := map[string]Delta{}
	switch s.Format {
	case FormatEthtool:
		// One pass over every counter line: time stays linear in the
		// input whatever the mix of names and snapshots.
		per := make([][]sample, len(s.Names))
		for i := range s.Snapshots {
			sn := &s.Snapshots[i]
			for _, c := range sn.Counters {
				k := s.index[c.Name]
				per[k] = append(per[k], sample{sn.Time, float64(c.Value)})
			}
		}
		for k, name := range s.Names {
			if d, ok := counterDelta(per[k], w); ok {
				d.Metric, d.File = name, s.File
				out[name] = d
			}
		}
	default:
		for i := range s.Series {
			se := &s.Series[i]
			if se.Metric == "" {
				continue
			}
			var d Delta
			var ok bool
			if se.Kind == KindCounter {
				ss := make([]sample, len(se.Points))
				for j, p := range se.Points {
					ss[j] = sample{p.Time.Add(se.Period), p.Value}
				}
				d, ok = counterDelta(ss, w)
				d.Period = se.Period
			} else {
				d, ok = sumDelta(se, w)
			}
			if !ok {
				continue
			}
			d.Metric, d.File = se.Metric, s.File
			if prev, dup := out[se.Metric]; dup {
				// Several results of one metric (e.g. per instance):
				// add them up, as the instance total.
				prev.Value += d.Value
				prev.Scaled += d.Scaled
				prev.Partial = prev.Partial || d.Partial
				prev.Resets = append(prev.Resets, d.Resets...)
				prev.From, prev.To = minTime(prev.From, d.From), maxTime(prev.To, d.To)
				d = prev
			}
			out[se.Metric] = d
		}
	}
	return out
}

// Span returns the time range the set's data covers.
func (s *Set) Span() (from, to time.Time, ok bool) {
	add := func(a, b time.Time) {
		if !ok || a.Before(from) {
			from = a
		}
		if !ok || b.After(to) {
			to = b
		}
		ok = true
	}
	for i := range s.Snapshots {
		add(s.Snapshots[i].Time, s.Snapshots[i].Time)
	}
	for i := range s.Series {
		se := &s.Series[i]
		if len(se.Points) > 0 {
			add(se.Points[0].Time, se.Points[len(se.Points)-1].Time.Add(se.Period))
		}
	}
	return from, to, ok
}

// ParseWindow reads the capture window from report times (RFC 3339).
func ParseWindow(first, last string) (Window, error) {
	if first == "" || last == "" {
		return Window{}, fmt.Errorf("counters: the capture has no time window (no packets)")
	}
	a, err := time.Parse(time.RFC3339Nano, first)
	if err != nil {
		return Window{}, fmt.Errorf("counters: capture start %q: %w", first, err)
	}
	b, err := time.Parse(time.RFC3339Nano, last)
	if err != nil {
		return Window{}, fmt.Errorf("counters: capture end %q: %w", last, err)
	}
	if b.Before(a) {
		a, b = b, a
	}
	return Window{a.UTC(), b.UTC()}, nil
}
