package diagnose

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestMedianSelect: the selection median equals the sorted median on
// random, duplicate-heavy, sorted, reversed and tiny inputs.
func TestMedianSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var cases [][]float64
	for n := 1; n < 40; n++ {
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(r.IntN(7)) - 3 // many duplicates
		}
		cases = append(cases, a)
	}
	for _, n := range []int{100, 101, 1000, 4097} {
		a := make([]float64, n)
		for i := range a {
			a[i] = r.NormFloat64() * 1e6
		}
		cases = append(cases, a)
		b := slices.Clone(a)
		sort.Float64s(b)
		cases = append(cases, b)
		c := slices.Clone(b)
		slices.Reverse(c)
		cases = append(cases, c)
	}
	for i, a := range cases {
		want := slices.Clone(a)
		sort.Float64s(want)
		if got, w := medianSelect(slices.Clone(a)), median(want); got != w {
			t.Errorf("case %d (n=%d): medianSelect %v, sorted median %v", i, len(a), got, w)
		}
	}
}

// TestQuantileCountsEqualsSorted: the counting quantile owdQueue uses
// gives exactly what sorting the values would.
func TestQuantileCountsEqualsSorted(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 9))
	for trial := range 200 {
		n := 1 + rnd.IntN(3000)
		spread := 1 + rnd.IntN(400)
		base := int16(rnd.IntN(2000) - 1000)
		vals := make([]float64, n)
		counts := make([]int32, spread)
		for i := range vals {
			k := rnd.IntN(spread)
			if trial%3 == 0 { // skewed: most values at the minimum
				k = int(float64(k) * rnd.Float64() * rnd.Float64())
			}
			counts[k]++
			vals[i] = float64(int(base) + k)
		}
		sort.Float64s(vals)
		for _, q := range []float64{0, 0.02, 0.5, 0.9, 1} {
			if got, want := quantileCounts(counts, n, base, q), quantileSorted(vals, q); got != want {
				t.Fatalf("trial %d n %d q %v: counts %v, sorted %v", trial, n, q, got, want)
			}
		}
	}
}

func TestIdleBins(t *testing.T) {
	busy := make([]float64, 20)
	for i := range busy {
		busy[i] = 1e6
	}
	half := append([]float64(nil), busy...)
	for i := 1; i < len(half); i += 2 {
		half[i] = 0
	}
	for _, tc := range []struct {
		name string
		bps  []float64
		want float64
	}{
		{"busy", busy, 0},
		{"every other bin empty", half, 9.0 / 19},
		{"leading and trailing empty bins do not count", append(append([]float64{0, 0}, busy...), 0, 0), 0},
		{"too short", []float64{1, 0, 1}, 0},
		{"empty", nil, 0},
	} {
		if got := idleBins(tc.bps); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: idleBins = %v, want %v", tc.name, got, tc.want)
		}
	}
}
