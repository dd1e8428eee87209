package diagnose

import "unsafe"

// MemBytes estimates the heap bytes f holds: the fixed per-flow state and
// what its record buffers and throughput series have grown to. The engine
// counts it against --memory-limit; it changes nothing in the diagnosis.
func (f *Flow) MemBytes() int {
	n := int(unsafe.Sizeof(*f))
	for i := range f.d {
		d := &f.d[i]
		n += d.rb.lim * int(unsafe.Sizeof(rec{})) // the chunks' capacities
		n += cap(d.rb.chunks) * int(unsafe.Sizeof([]rec{}))
		n += (cap(d.s100.pts) + cap(d.s1s.pts) + cap(d.sAck.pts)) * 8
		if c := d.ackEv; c != nil { // an ACK-only view's rebuilt drops
			n += int(unsafe.Sizeof(*c)) + cap(c.ev)*int(unsafe.Sizeof(DropEvent{})) + cap(c.holes)*int(unsafe.Sizeof(seqRange{}))
		}
	}
	return n
}
