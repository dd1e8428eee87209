package diagnose

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestRecordPoolUnmapped: a pool's slabs are unmapped once it is
// unreachable (analyze and tests make a pool per run in one process).
func TestRecordPoolUnmapped(t *testing.T) {
	p := NewRecordPool()
	c := append(p.get(), rec{t: 1})
	p.put([][]rec{c})
	start, size := uintptr(unsafe.Pointer(&p.maps.m[0][0])), len(p.maps.m[0])
	if !mappedAt(t, start, size) {
		t.Fatalf("slab at %#x (%d bytes) not found in /proc/self/maps", start, size)
	}
	// (the pool stays reachable until the slab was found: a collection
	// between the two, which other tests' garbage can start at any
	// time, unmapped it before the first look; test.sh under -race)
	runtime.KeepAlive(p)
	deadline := time.Now().Add(10 * time.Second)
	for mappedAt(t, start, size) {
		if time.Now().After(deadline) {
			t.Fatalf("slab at %#x still mapped 10 s after its pool became unreachable", start)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// mappedAt reports whether /proc/self/maps has a mapping that starts at
// start and is size bytes long (possibly split by madvise into several
// adjacent ones).
func mappedAt(t *testing.T, start uintptr, size int) bool {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer f.Close()
	end := start + uintptr(size)
	covered := uintptr(0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a, b uintptr
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x", &a, &b); err != nil {
			continue
		}
		if a >= start && b <= end {
			covered += b - a
		}
	}
	return covered == uintptr(size)
}
