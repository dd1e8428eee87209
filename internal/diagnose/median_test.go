package diagnose

import (
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
