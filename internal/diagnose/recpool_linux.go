package diagnose

import (
	"syscall"
	"unsafe"
)

// newRecSlab maps n records outside the Go heap, 2 MiB-aligned and
// marked MADV_HUGEPAGE, and returns them with the mapping to unmap when
// the pool is gone (unmapSlab). Records hold no pointers, so the garbage
// collector need not see them. If mapping fails the slab is an ordinary
// Go allocation (and the mapping nil).
func newRecSlab(n int) ([]rec, []byte) {
	const huge = 2 << 20
	size := n * int(unsafe.Sizeof(rec{}))
	m, err := syscall.Mmap(-1, 0, size+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]rec, n), nil
	}
	off := 0
	if r := uintptr(unsafe.Pointer(&m[0])) % huge; r != 0 {
		off = int(huge - r)
	}
	s := m[off : off+size]
	_ = syscall.Madvise(s, 14) // MADV_HUGEPAGE: a hint; without THP the pages are 4 KiB
	return unsafe.Slice((*rec)(unsafe.Pointer(&s[0])), n), m
}

func unmapSlab(m []byte) { _ = syscall.Munmap(m) }
