package listen

// steerHash is what steerProgram computes, for tests: the socket index of
// an inner IPv4 TCP/UDP packet.
func steerHash(src, dst [4]byte, sport, dport uint16, n int) int {
	w := func(b [4]byte) uint32 { return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) }
	h := w(src) ^ w(dst)
	h ^= uint32(sport) ^ uint32(dport)
	h ^= h >> 16
	h ^= h >> 8
	return int(h % uint32(n))
}
