package diagnose

import (
	"syscall"
	"unsafe"
)

// newRecSlab maps n records outside the Go heap, 2 MiB-aligned and
// marked MADV_HUGEPAGE. Records hold no pointers, so the garbage
// collector need not see them. The mapping is never unmapped: the pool
// keeps its slabs for its lifetime (see RecordPool). If mapping fails
// the slab is an ordinary Go allocation.
func newRecSlab(n int) []rec {
	const huge = 2 << 20
	size := n * int(unsafe.Sizeof(rec{}))
	m, err := syscall.Mmap(-1, 0, size+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]rec, n)
	}
	off := 0
	if r := uintptr(unsafe.Pointer(&m[0])) % huge; r != 0 {
		off = int(huge - r)
	}
	m = m[off : off+size]
	_ = syscall.Madvise(m, 14) // MADV_HUGEPAGE: a hint; without THP the pages are 4 KiB
	return unsafe.Slice((*rec)(unsafe.Pointer(&m[0])), n)
}
