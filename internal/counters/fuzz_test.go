package counters

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func addSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			// Small seeds: the fuzzer minimises every new input, which
			// takes long on multi-kilobyte ones.
			if len(b) > 1500 {
				b = b[:1500]
			}
			f.Add(b)
		}
	}
}

// FuzzParseEthtool: any input is parsed or rejected with an error, never
// a panic; a parsed set is internally consistent.
func FuzzParseEthtool(f *testing.F) {
	addSeeds(f, "*.txt")
	f.Add([]byte("1795773600\nNIC statistics:\n  a: 1\n# 2026-11-27T10:00:01Z\nNIC statistics:\n  a: 0\n  b: -3\n"))
	mt := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseEthtool("fuzz", data, mt)
		if err != nil {
			return
		}
		if len(s.Snapshots) == 0 {
			t.Fatal("parsed without snapshots")
		}
		for i := range s.Snapshots {
			sn := &s.Snapshots[i]
			for _, c := range sn.Counters {
				if !s.HasCounter(c.Name) {
					t.Fatalf("snapshot %d: counter %q not in Names", i, c.Name)
				}
			}
			if sn.Time.IsZero() {
				t.Fatalf("snapshot %d has no time", i)
			}
			if i > 0 && sn.Time.Before(s.Snapshots[i-1].Time) {
				t.Fatal("snapshots out of order")
			}
		}
		w := Window{s.Snapshots[0].Time, s.Snapshots[len(s.Snapshots)-1].Time}
		for name, d := range s.Deltas(w) {
			if d.Value < 0 {
				t.Fatalf("%s: negative delta %v", name, d.Value)
			}
		}
	})
}

// FuzzParse covers format detection and the CloudWatch JSON parser.
func FuzzParse(f *testing.F) {
	addSeeds(f, "*.json")
	addSeeds(f, "veth-iso.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz", data, time.Time{})
		if err != nil {
			return
		}
		w := Window{time.Date(2026, 11, 27, 8, 38, 0, 0, time.UTC), time.Date(2026, 11, 27, 8, 39, 0, 0, time.UTC)}
		_ = s.Deltas(w)
		for _, se := range s.Series {
			if se.Period <= 0 {
				t.Fatalf("%s: period %v", se.Label, se.Period)
			}
		}
	})
}
