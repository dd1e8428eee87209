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

// TestFlowLayout keeps each direction's per-packet state on cache-line
// boundaries (Flow's comment on d): d 64 bytes into Flow, dirState a
// multiple of 64 bytes, and the fields Observe reads or writes for every
// segment in its first 6 lines. A failure here is no bug, a slowdown:
// move a new rarely used field below bins, or pad dirState to 64 bytes.
func TestFlowLayout(t *testing.T) {
	var f Flow
	if off := unsafe.Offsetof(f.d); off != 64 {
		t.Errorf("Flow.d at offset %d, want 64", off)
	}
	if n := unsafe.Sizeof(dirState{}); n%64 != 0 {
		t.Errorf("dirState is %d bytes, not a multiple of 64 (pad it)", n)
	}
	var d dirState
	if end := unsafe.Offsetof(d.bins) + unsafe.Offsetof(d.bins[0].active) + 1; end > 6*64 { // bins[0].add: curEnd, acc, active
		t.Errorf("per-packet fields end at byte %d of dirState, want <= %d", end, 6*64)
	}
}
