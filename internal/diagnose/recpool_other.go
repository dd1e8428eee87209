//go:build !linux

package diagnose

func newRecSlab(n int) ([]rec, []byte) { return make([]rec, n), nil }

func unmapSlab([]byte) {}
