package diagnose

import (
	"testing"
	"unsafe"
)

// TestFlowSize pins the fixed per-flow memory (records and series come on
// top, bounded by Config).
func TestFlowSize(t *testing.T) {
	if n := unsafe.Sizeof(Flow{}); n > 64<<10 {
		t.Errorf("Flow is %d bytes, want <= 64 KiB", n)
	} else {
		t.Logf("Flow is %d bytes", n)
	}
}
