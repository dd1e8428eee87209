package diagnose

import (
	"encoding/json"
	"os"
	"testing"
)

// TestDebugDump prints one capture's diagnosis (set MS_DEBUG=path).
func TestDebugDump(t *testing.T) {
	path := os.Getenv("MS_DEBUG")
	if path == "" {
		t.Skip("MS_DEBUG not set")
	}
	fl := largest(readFlows(t, path))
	d := diagnoseFlow(DefaultConfig(), fl)
	m := d.Measurements
	for _, dm := range []*DirMeasurements{&m.ClientToServer, &m.ServerToClient} {
		dm.Series100ms.Bps = nil
		dm.Series1s.Bps = nil
	}
	b, _ := json.MarshalIndent(struct {
		V, S string
		E    []string
		Det  Detectors
		P    string
		C2S  DirMeasurements
	}{d.Verdict, d.Summary, d.Evidence, d.Detectors, d.CapturePoint, m.ClientToServer}, "", " ")
	t.Log(string(b))
}
