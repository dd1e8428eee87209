package listen

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// vxlanSYN returns a VXLAN datagram (VNI vni) carrying one TCP SYN of
// flow i: 10.x.y.z:1024+(i>>24) -> 192.0.2.1:80, with payload bytes of
// payload after the header.
func vxlanSYN(vni uint32, i int, payload []byte) []byte {
	b := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	b = append(b, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(40+len(payload)))
	b = append(b, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, byte(i>>16), byte(i>>8), byte(i), 192, 0, 2, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(1024+(i>>24)))
	b = binary.BigEndian.AppendUint16(b, 80)
	b = append(b, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 5<<4, 0x02, 0xff, 0xff, 0, 0, 0, 0)
	return append(b, payload...)
}

// TestInterimReportsBounded: a report tick over many open flows builds
// and writes at most the report cap per shard, not an entry per live flow
// (a flood made RSS jump by gigabytes at the first tick).
func TestInterimReportsBounded(t *testing.T) {
	const flows, maxReport = 3000, 20
	r := startListener(t, func(c *Config) {
		c.ReportInterval = 300 * time.Millisecond
		c.Engine.MaxReportFlows = maxReport
	})
	vx := r.l.VXLANAddr().String()
	for i := 0; i < flows; i += 100 {
		var batch [][]byte
		for j := i; j < i+100; j++ {
			batch = append(batch, vxlanSYN(100, j, nil))
		}
		sendUDP(t, vx, batch...)
	}
	r.waitFor(t, flows)
	time.Sleep(1100 * time.Millisecond) // two or three ticks after the flows are old enough
	r.stop(t)
	out := r.out.String()
	got, _, sum := parseLines(t, out)
	interim, final := strings.Count(out, `"interim":true`), len(got)
	shards := len(r.l.shards)
	if limit := 4 * shards * maxReport; interim == 0 || interim > limit {
		t.Errorf("%d interim flow lines over %d shards, want 1..%d", interim, shards, limit)
	}
	if final != flows || sum.Capture.FlowCounts.Total != flows {
		t.Errorf("%d flows ended, summary %+v, want %d", final, sum.Capture.FlowCounts, flows)
	}
}
