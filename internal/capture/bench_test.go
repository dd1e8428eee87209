package capture

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time; benchmarks report CPU
// ns/frame besides wall ns/op because shared CI machines are often loaded.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFileSource reads a 300 000-packet file of 128-byte records
// (warm page cache), one Next per iteration. The file is listed many times
// so that the source moves from one copy to the next like a multi-file
// input, reusing its buffer.
func BenchmarkFileSource(b *testing.B) {
	const n = 300000
	cis, datas := synthPackets(n, 128, 9)
	for _, tc := range []struct {
		name string
		gen  func() []byte
	}{
		{"pcap", func() []byte { return genPcap(b, false, cis, datas, 128) }},
		{"pcapng", func() []byte { return genNg(b, cis, datas) }},
		{"pcap.gz", func() []byte { return gz(b, genPcap(b, false, cis, datas, 128)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := writeFile(b, "bench", tc.gen())
			paths := make([]string, 1000)
			for i := range paths {
				paths[i] = p
			}
			s, err := OpenFiles(paths, Options{})
			if err != nil {
				b.Fatal(err)
			}
			var f Frame
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				err := s.Next(&f)
				if err == io.EOF {
					s.Close()
					if s, err = OpenFiles(paths, Options{}); err != nil {
						b.Fatal(err)
					}
					err = s.Next(&f)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mframes/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/frame")
			s.Close()
		})
	}
}
