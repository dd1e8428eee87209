package diagnose

import (
	"testing"
	"unsafe"
)

func TestZZLayout(t *testing.T) {
	var d dirState
	t.Logf("size %d tsFirst %d ecrLast %d hasEcr %d sr %d rr %d minA %d bins %d active %d",
		unsafe.Sizeof(d), unsafe.Offsetof(d.tsFirst), unsafe.Offsetof(d.ecrLast), unsafe.Offsetof(d.hasEcr), unsafe.Offsetof(d.sr), unsafe.Offsetof(d.rr), unsafe.Offsetof(d.minA), unsafe.Offsetof(d.bins),
		unsafe.Offsetof(d.bins[0].active))
}
