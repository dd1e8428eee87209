//go:build !linux

package diagnose

func newRecSlab(n int) []rec { return make([]rec, n) }
