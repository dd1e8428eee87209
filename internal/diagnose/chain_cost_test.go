package diagnose

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// dropEventsRef is dropEvents' list as it was made before the chunk
// walk: every record through recBuf.at, appended.
func dropEventsRef(f *Flow, a *analysis) []drop {
	d := a.d
	if a.vis == VisAcksOnly || a.lost == 0 {
		return nil
	}
	ev := make([]drop, 0, min(d.rb.n, chainMaxEvents))
	t0 := f.t0 / 1000
	for i := range d.rb.n {
		r := d.rb.at(i)
		hole := a.receiver && r.kind == recHole && r.flags&recLost != 0
		if r.kind != recOrig && r.kind != recRetx && !(a.receiver && r.kind == recFill) && !hole {
			continue
		}
		if len(ev) == chainMaxEvents {
			break
		}
		ev = append(ev, drop{t: t0 + int64(r.t), flen: uint32(r.flen), lost: r.flags&recLost != 0})
	}
	return ev
}

// compactDropsRef is compactDrops as it was, appending.
func compactDropsRef(ev []drop) (base int64, out []DropEvent) {
	if len(ev) == 0 {
		return 0, nil
	}
	base = ev[0].t
	out = make([]DropEvent, 0, len(ev))
	for _, e := range ev {
		dt := e.t - base
		if dt > math.MaxUint32 {
			break
		}
		out = append(out, DropEvent{T: uint32(dt), Flen: uint16(min(e.flen, math.MaxUint16)), Lost: e.lost})
	}
	return base, out
}

// TestDropEventsMatchesReference: segEvents (dropEvents' list) and compactDrops give the
// lists the former loops gave, on random records (kinds and flags mixed,
// counts around the chunk sizes and past chainMaxEvents) at both sides,
// with times that pass compactDrops' 2^32 µs span.
func TestDropEventsMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 34))
	for trial := range 400 {
		f := NewFlow(DefaultConfig())
		f.t0 = int64(rnd.Uint64()>>2) - 1<<61
		d := &f.d[0]
		n := []int{0, 1, 63, 64, 65, 1088, 1089, 5000, chainMaxEvents + 3000}[trial%9] + rnd.IntN(3)
		tt := uint32(rnd.Uint32())
		for range n {
			if rnd.IntN(5000) == 0 {
				tt += uint32(rnd.Int64N(1 << 31)) // (wraps at 2^32 µs; spans pass compactDrops' limit)
			}
			tt += uint32(rnd.IntN(300))
			r := rec{t: tt, seq: rnd.Uint32(), plen: uint16(rnd.IntN(1500)), flen: uint16(rnd.IntN(1 << 16)), kind: uint8(rnd.IntN(4))}
			if rnd.IntN(20) == 0 {
				r.flags = uint8(rnd.IntN(16))
			}
			d.rb.push(r, nil)
		}
		a := &analysis{d: d, vis: []string{VisBoth, VisDataOnly, VisAcksOnly}[rnd.IntN(3)], receiver: trial%2 == 0, lost: uint64(rnd.IntN(3))}
		got, want := f.segEvents(a), dropEventsRef(f, a)
		if len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d (%d records): %d events, want %d, or they differ", trial, n, len(got), len(want))
		}
		gb, g := compactDrops(got)
		wb, w := compactDropsRef(want)
		if gb != wb || len(g) != len(w) || len(w) > 0 && !reflect.DeepEqual(g, w) {
			t.Fatalf("trial %d: compactDrops: %d events at %d, want %d at %d", trial, len(g), gb, len(w), wb)
		}
	}
	// compactDrops alone on lists spanning more than 2^32 µs (its end
	// before the last event)
	for trial := range 200 {
		ev := make([]drop, rnd.IntN(3000))
		tt := int64(rnd.Uint64() >> 3)
		for i := range ev {
			tt += int64(rnd.IntN(1 << 22))
			ev[i] = drop{t: tt, flen: uint32(rnd.IntN(1 << 17)), lost: rnd.IntN(2) == 0}
		}
		gb, g := compactDrops(ev)
		wb, w := compactDropsRef(ev)
		if gb != wb || !reflect.DeepEqual(g, w) {
			t.Fatalf("span trial %d: compactDrops: %d events at %d, want %d at %d", trial, len(g), gb, len(w), wb)
		}
	}
}
