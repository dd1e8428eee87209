package htmlreport

import (
	"encoding/json"
	"testing"
)

func TestCollectorPolicer(t *testing.T) {
	rep, cd := analyze(t, CollectorConfig{}, testdata("policer", "policer.cli.pcap"))
	b, _ := json.Marshal(cd)
	t.Logf("json %d bytes, flows %d, tcp %d", len(b), len(cd.Flows), cd.TCPFlows)
	for _, f := range cd.Flows {
		t.Logf("flow %d bytes %d dir %s bins %d (%.3fs) seg %d retx %d ooo %d lost %d ack %d flight %d rttack %d rttecho %d",
			f.ID, f.Bytes, f.DataDir, len(f.C2S), f.BinS, len(f.Seg.T), len(f.Retx.T), len(f.OOO.T), len(f.Lost.T), len(f.Ack.T), len(f.Flight.T), len(f.RTTAck.T), len(f.RTTEcho.T))
	}
	d, _ := json.Marshal(rep.Flows[0].Diagnosis)
	t.Logf("%s", d[:min(len(d), 600)])
}
