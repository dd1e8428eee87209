package tcpseq

// segment is one unacknowledged segment (Wireshark's tcp_unacked_t).
type segment struct {
	seq, next uint32
	ts        int64
	// retrans marks a segment that was sent more than once (or overlaps
	// one that was): its ACK gives no RTT sample under Karn's rule.
	retrans bool
}

// segList holds one direction's unacknowledged segments, oldest first,
// in buf[head:]. Wireshark keeps a linked list with the newest first; the
// operations below give the same results in either order. The slice grows
// by append up to MaxUnacked entries and is then reused, so the steady
// state does not allocate.
//
// sorted records that seq and next never decrease from oldest to newest
// (no retransmission or reordering since the list was last empty). It
// lets ack and span touch only the ends of the list instead of scanning
// it; the full scans give the same answer on any list.
type segList struct {
	buf      []segment
	head     int
	unsorted bool
}

func (l *segList) n() int           { return len(l.buf) - l.head }
func (l *segList) oldest() *segment { return &l.buf[l.head] }
func (l *segList) newest() *segment { return &l.buf[len(l.buf)-1] }
func (l *segList) live() []segment  { return l.buf[l.head:] }
func (l *segList) clear()           { l.buf, l.head, l.unsorted = l.buf[:0], 0, false }

func (l *segList) push(s segment) {
	if n := l.n(); n > 0 {
		last := l.newest()
		if ltSeq(s.seq, last.seq) || ltSeq(s.next, last.next) {
			l.unsorted = true
		}
		if s.retrans {
			// Karn: the earlier copies of these bytes are ambiguous too.
			live := l.live()
			for i := range live {
				if ltSeq(live[i].seq, s.next) && gtSeq(live[i].next, s.seq) {
					live[i].retrans = true
				}
			}
		}
	}
	if len(l.buf) == cap(l.buf) && l.head > 0 {
		n := copy(l.buf, l.buf[l.head:])
		l.buf = l.buf[:n]
		l.head = 0
	}
	l.buf = append(l.buf, s)
}

// ack applies an acknowledgement number as Wireshark 4.0 does: segments
// ending at or before a are removed, a segment a falls inside is trimmed
// to start at a. It reports the RTT to the oldest segment ending exactly
// at a (Wireshark's ack_rtt) and whether that segment was retransmitted.
func (l *segList) ack(a uint32, ts int64) (found bool, rtt int64, retr bool) {
	live := l.live()
	if !l.unsorted {
		i := 0
		for i < len(live) && !gtSeq(live[i].next, a) {
			if !found && live[i].next == a {
				found, rtt, retr = true, ts-live[i].ts, live[i].retrans
			}
			i++
		}
		for j := i; j < len(live); j++ {
			if !gtSeq(a, live[j].seq) {
				break
			}
			live[j].seq = a // next > a here, so a lies inside
		}
		l.head += i
		if l.n() == 0 {
			l.clear()
		}
		return found, rtt, retr
	}
	w := 0
	for i := range live {
		s := live[i]
		switch {
		case s.next == a:
			if !found {
				found, rtt, retr = true, ts-s.ts, s.retrans
			}
			continue
		case gtSeq(a, s.seq) && leSeq(a, s.next):
			s.seq = a
		case gtSeq(s.next, a):
		default:
			continue
		}
		live[w] = s
		w++
	}
	l.buf = l.buf[:l.head+w]
	if w == 0 {
		l.clear()
	}
	return found, rtt, retr
}

// span is Wireshark's bytes-in-flight base: the highest end minus the
// lowest start over the list, both taken relative to base as unsigned
// numbers.
func (l *segList) span(base uint32) uint32 {
	live := l.live()
	if !l.unsorted {
		return (live[len(live)-1].next - base) - (live[0].seq - base)
	}
	first, last := live[len(live)-1].seq-base, live[len(live)-1].next-base
	for i := range live {
		if v := live[i].next - base; v > last {
			last = v
		}
		if v := live[i].seq - base; v < first {
			first = v
		}
	}
	return last - first
}
