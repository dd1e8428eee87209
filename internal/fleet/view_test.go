package fleet

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// feed applies records to v as if read from one partition per topic.
type feed struct {
	t    *testing.T
	v    *View
	off  map[string]int64
	seq  uint64
	srcs *Sources
}

func (f *feed) put(topic string, rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		f.t.Fatal(err)
	}
	f.v.Apply(topic, 0, f.off[topic], b)
	f.off[topic]++
}

func (f *feed) hdr(typ, target, outer string) Header {
	f.seq++
	s := f.srcs.Source(outer, 1)
	return Header{SchemaVersion: SchemaVersion, Type: typ, Target: target, Seq: f.seq, Source: &s}
}

func (f *feed) flow(target, outer string, c2s, s2c uint64, verdict string, rate float64) {
	fl := &result.Flow{Proto: "tcp", Packets: c2s + s2c, Bytes: 100 * (c2s + s2c),
		C2S: result.Direction{Packets: c2s, PayloadBytes: 1000 * c2s}, S2C: result.Direction{Packets: s2c, PayloadBytes: 1000 * s2c}}
	if verdict != "" {
		fl.Diagnosis = map[string]any{"verdict": verdict, "rate_bps": rate}
	}
	f.put("p.flows", &FlowRecord{Header: f.hdr(TypeFlow, target, outer), Flow: fl})
}

func (f *feed) series(target, outer string, sec int64, bytes uint64) {
	f.put("p.series", &SeriesRecord{Header: f.hdr(TypeSeries, target, outer), UnixMS: sec * 1000, IntervalS: 1, Bytes: bytes, Packets: bytes / 1000})
}

func (f *feed) seriesDir(target, outer string, sec int64, in, out uint64) {
	r := &SeriesRecord{Header: f.hdr(TypeSeries, target, outer), UnixMS: sec * 1000, IntervalS: 1, Bytes: in + out, Packets: (in + out) / 1000}
	r.InBytes, r.OutBytes = in, out
	f.put("p.series", r)
}

func kinds(fs []result.Finding) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.Kind]++
	}
	return m
}

func TestViewFindings(t *testing.T) {
	srcs, err := ParseSources(stringsReader("10.0.0.1 eni-a i-1\n10.0.0.2 eni-b i-1\n10.0.0.3 eni-c i-2\n10.0.0.4 eni-d i-3\n10.0.0.5 eni-e i-4\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fill func(f *feed)
		want map[string]int
		sub  string // in the first finding's summary, when set
	}{
		{"half flows: one direction per target", func(f *feed) {
			for i := 0; i < 6; i++ {
				f.flow("A", "10.0.0.3", 10, 0, "", 0) // A gets the client's side
				f.flow("B", "10.0.0.3", 0, 8, "", 0)  // B the server's
			}
		}, map[string]int{"half_flows": 2}, ""},
		{"whole flows: nothing", func(f *feed) {
			for i := 0; i < 6; i++ {
				f.flow("A", "10.0.0.3", 10, 8, "", 0)
			}
		}, map[string]int{}, ""},
		{"shared ceiling: two ENIs trading under one cap", func(f *feed) {
			for s := int64(0); s < 10; s++ {
				a := uint64(200_000 + 100_000*(s%3)) // 1.6..3.2 Mbit/s
				f.series("A", "10.0.0.1", 1000+s, a)
				f.series("B", "10.0.0.2", 1000+s, 625_000-a) // together 5 Mbit/s
			}
		}, map[string]int{"shared_ceiling": 1}, ""},
		{"shared ceiling outbound only, by direction", func(f *feed) {
			for s := int64(0); s < 10; s++ {
				a := uint64(200_000 + 100_000*(s%3))
				f.seriesDir("A", "10.0.0.1", 1000+s, 50_000+100*uint64(s), a)
				f.seriesDir("B", "10.0.0.2", 1000+s, 70_000+300*uint64(s%2), 625_000-a)
			}
		}, map[string]int{"shared_ceiling": 1}, "outbound traffic"},
		{"two ENIs, each steady: no shared ceiling claimed", func(f *feed) {
			for s := int64(0); s < 10; s++ {
				f.series("A", "10.0.0.1", 1000+s, 300_000)
				f.series("B", "10.0.0.2", 1000+s, 325_000)
			}
		}, map[string]int{}, ""},
		{"three instances policed near 5 Mbit/s, one at 50", func(f *feed) {
			f.flow("A", "10.0.0.3", 10, 8, "policer", 5.0e6)
			f.flow("B", "10.0.0.4", 10, 8, "policer", 5.2e6)
			f.flow("A", "10.0.0.5", 10, 8, "policer", 4.9e6)
			f.flow("B", "10.0.0.1", 10, 8, "policer", 50e6)
		}, map[string]int{"same_rate_policing": 1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &feed{t: t, v: NewView(DefaultViewConfig()), off: map[string]int64{}, srcs: srcs}
			tc.fill(f)
			r := f.v.Report()
			if d := cmp.Diff(kinds(r.Findings), tc.want); d != "" {
				t.Errorf("finding kinds (-got +want):\n%s\n%+v", d, r.Findings)
			}
			if tc.sub != "" && (len(r.Findings) == 0 || !strings.Contains(r.Findings[0].Summary, tc.sub)) {
				t.Errorf("findings %+v, want %q", r.Findings, tc.sub)
			}
		})
	}
}

// TestViewDedupes: a record read again at an offset already applied (a
// redelivery) is counted once; Drop forgets a partition so its new
// owner's full re-read counts once too.
func TestViewDedupes(t *testing.T) {
	v := NewView(DefaultViewConfig())
	s := Source{Key: "10.9.9.9", KeyKind: "outer_src", OuterSrc: "10.9.9.9"}
	b, _ := json.Marshal(&FlowRecord{Header: Header{SchemaVersion: SchemaVersion, Type: TypeFlow, Target: "A", Seq: 1, Source: &s},
		Flow: &result.Flow{Proto: "udp", Packets: 1}})
	v.Apply("x.flows", 3, 10, b)
	v.Apply("x.flows", 3, 10, b)
	v.Apply("x.flows", 3, 9, b)
	v.Apply("x.flows", 3, 11, []byte("{not json"))
	r := v.Report()
	if len(r.Sources) != 1 || r.Sources[0].Total.Flows != 1 || r.Duplicates != 2 || r.Undecodable != 1 {
		t.Fatalf("report %+v", r)
	}
	v.Drop("x.flows", []int32{3})
	v.Apply("x.flows", 3, 10, b)
	if r := v.Report(); r.Sources[0].Total.Flows != 1 {
		t.Fatalf("after drop and re-read: %d flows", r.Sources[0].Total.Flows)
	}
}
