package diagnose

import "unsafe"

// recSize is a record's size in bytes.
const recSize = unsafe.Sizeof(rec{})

// recsOff returns c's first record and its length in bytes, for a loop
// over its records by byte offset, (*rec)(unsafe.Add(p, off)) for off
// from 0 to end in steps of recSize. go1.26 reads a byte or 16-bit field
// of &c[k] (24-byte records) through two LEAQs each (a scaled index has
// no byte or word load); by byte offset each field is one load.
func recsOff(c []rec) (p unsafe.Pointer, end uintptr) {
	return unsafe.Pointer(unsafe.SliceData(c)), uintptr(len(c)) * recSize
}

// flachScan: the live lost records flach needs at each end of the
// records, for its cutoffs 0 and 2.
const flachScan = 3

// recScan is what Finish reads from the records once their flags are
// final (after markLoss), gathered by scanRecs in one pass over them.
// A bulk flow's records are MaxRecords x 24 bytes (3 MiB), out of cache by
// the flow's end: a pass each for the originals, the loss runs, the
// dispersion and flach's first and last losses (twice) cost ~0.5 ms a
// pass per flow.
type recScan struct {
	done bool // filled by measure (tests may call the detectors without it)
	// originals: new-data records and the synthetic holes not voided
	// (the loss rate's denominator)
	originals uint64
	// lostHoles: hole records still marked lost (a receiver-side
	// point's lost segments)
	lostHoles uint64
	// lostRuns: lost records that follow a lost record (lossRunFrac's
	// numerator): at a sender-side point originals in sending order, at
	// a receiver-side point every record, an arrival breaking a run of
	// holes
	lostRuns uint64
	// The live lost records (marked lost, not voided), flach's losses:
	// how many, the indices of the first flachScan and of the last
	// flachScan (a ring: the k-th from the end is
	// last[(nLost-1-k)%flachScan]), and with each the wire bytes of the
	// live records not lost before it.
	nLost          int
	first, last    [flachScan]int32
	firstB, lastB  [flachScan]uint64
	passedB        uint64 // wire bytes of live records not lost, so far
	dispersionHist logHist
}

// scanRecs fills s from recs (see recScan); receiver: the capture point
// is on the receiver side of the bottleneck.
//
// The loops are one per side, so that neither tests the side per record,
// and call nothing (logHist.add inlines): a call in the loop had the
// compiler spill the loop's state to the stack on every record. Nearly
// every record of a bulk flow is live and not lost, which each loop
// counts first; lost and voided records take the general branch, which
// is the former single loop's logic for that side.
func scanRecs(recs *recBuf, receiver bool, s *recScan) {
	if receiver {
		scanRecv(recs, s)
	} else {
		scanSend(recs, s)
	}
}

// scanRecv is scanRecs at a receiver-side point: loss runs over every
// record, and the dispersion samples are the arrival gaps of consecutive
// data segments (hole records are no arrivals).
func scanRecv(recs *recBuf, s *recScan) {
	st := recvScan{prevT: -1}
	// the frame length the gap counts are for: the middle arrival's (a
	// bulk transfer's segments are nearly all full-sized; its first may
	// be a short request)
	// (any other but 0: the counts are of frames of a length > 0)
	st.dispFlen = 1
	for i := recs.n / 2; i < recs.n; i++ {
		if r := recs.at(i); r.kind != recHole {
			st.dispFlen = max(r.flen, 1)
			break
		}
	}
	base := int32(0)
	for _, c := range recs.chunks {
		st.chunk(c, base, s)
		base += int32(len(c))
	}
	s.originals += st.originals
	s.passedB += st.passedB
	// the counted samples, each gap's at once
	h := &s.dispersionHist
	for g, n := range st.disp {
		if n > 0 {
			h.addN(dispScale*1000*float64(uint32(g))/float64(st.dispFlen), n)
		}
	}
}

// dispGaps: recvScan counts the dispersion samples of gaps under
// dispGaps µs between frames of dispFlen bytes (the middle arrival's),
// rather than adding each to the histogram: at speed nearly all of them
// (bulk8.srv: 98.7 % of the gaps under 256 µs, 99 % of the frames 1514
// bytes). The histogram is a multiset (counts, n, minimum), so adding
// each gap's samples at the end gives it exactly.
const dispGaps = 256

// recvScan is scanRecv's state between chunks.
type recvScan struct {
	originals, passedB uint64
	prevLost           bool  // the last record was a lost hole
	base               int32 // (chunk's first record's index, for the rare records)
	prevT              int64 // the previous arrival, -1 none
	// disp[g]: dispersion samples of gap g µs over dispFlen bytes (> 0),
	// not yet in the histogram
	dispFlen uint16
	disp     [dispGaps]uint64
}

// chunk scans one chunk of records, the first of which is record base.
// (A function per chunk, with few values live in its loop, each
// record's fields read once and the rarely changed counts kept in s: with
// the chunks' loop around it and more state the compiler spilled the
// state to the stack on every record, and reloaded the fields after every
// store to s, which it cannot tell from the records.)
func (st *recvScan) chunk(c []rec, base int32, s *recScan) {
	originals, passedB, prevT := st.originals, st.passedB, st.prevT
	h := &s.dispersionHist
	disp, dispFlen := &st.disp, st.dispFlen
	// (the records by byte offset: see recsOff)
	p, end := recsOff(c)
	// lostAt: the offset after the last lost hole record, for the next
	// record's test of a run (the previous record was a lost hole when
	// its offset is lostAt): kept by the rare records alone, where a
	// flag was set by every record
	lostAt := ^uintptr(0)
	if st.prevLost {
		lostAt = 0
	}
	st.base = base
	for off := uintptr(0); off < end; off += recSize {
		r := (*rec)(unsafe.Add(p, off))
		kind, flags, flen := r.kind, r.flags, r.flen
		if flags&(recLost|recVoid) == 0 && kind == recOrig {
			// (nearly every record: new data, live, not lost)
			originals++
			passedB += uint64(flen)
		} else {
			if flags&(recLost|recVoid) == 0 {
				if kind == recHole {
					originals++
				}
				passedB += uint64(flen)
			} else {
				if kind == recOrig || kind == recHole && flags&recVoid == 0 {
					originals++
				}
				lost := flags&recLost != 0
				if kind == recHole && lost {
					s.lostHoles++
				}
				if isLost := lost && kind == recHole; isLost {
					if lostAt == off {
						s.lostRuns++
					}
					lostAt = off + recSize
				}
				if flags&recVoid == 0 { // lost
					s.liveLoss(st.base+int32(off/recSize), passedB)
				}
			}
			if kind == recHole {
				continue
			}
		}
		t := r.t
		if prevT >= 0 {
			// (g-1 < dispGaps-1: 0 < g < dispGaps, one test)
			if g := t - uint32(prevT); g-1 < dispGaps-1 && flen == dispFlen {
				disp[g]++
			} else if g > 0 && flen > 0 {
				h.add(dispScale * 1000 * float64(g) / float64(flen))
			}
		}
		prevT = int64(t)
	}
	st.originals, st.passedB, st.prevLost, st.prevT = originals, passedB, lostAt == end, prevT
}

// scanSend is scanRecs at a sender-side point: loss runs over the
// originals in sending order, and the dispersion samples are the gaps
// between ACK events.
func scanSend(recs *recBuf, s *recScan) {
	var originals, lostHoles, lostRuns, passedB uint64 // (as in scanRecv)
	prevLost := false
	// the ACK event being summed and the one before it
	var cur, prev uint32
	var bytes float64
	haveCur, havePrevAck := false, false
	h := &s.dispersionHist
	i := int32(-1)
	for _, c := range recs.chunks {
		for k := range c {
			i++
			r := &c[k]
			kind, flags, flen := r.kind, r.flags, r.flen
			if flags&(recLost|recVoid) == 0 {
				if kind == recOrig || kind == recHole {
					originals++
				}
				if kind == recOrig {
					prevLost = false
				}
				passedB += uint64(flen)
			} else {
				if kind == recOrig || kind == recHole && flags&recVoid == 0 {
					originals++
				}
				lost := flags&recLost != 0
				if kind == recHole && lost {
					lostHoles++
				}
				if kind == recOrig {
					if lost && prevLost {
						lostRuns++
					}
					prevLost = lost
				}
				if flags&recVoid == 0 { // lost
					s.liveLoss(i, passedB)
				}
			}
			// the gaps between ACK events: runs of originals
			// acknowledged at the same time belong to one ACK; the gap
			// to the previous ACK over the bytes this one covers is one
			// sample
			if kind != recOrig || r.rttA == 0 {
				continue
			}
			at := r.t + r.rttA - 1
			if haveCur && at == cur {
				bytes += float64(flen)
				continue
			}
			if haveCur && havePrevAck && cur > prev && bytes > 0 {
				h.add(dispScale * 1000 * float64(cur-prev) / bytes)
			}
			if haveCur {
				prev, havePrevAck = cur, true
			}
			cur, bytes, haveCur = at, float64(flen), true
		}
	}
	if haveCur && havePrevAck && cur > prev && bytes > 0 {
		h.add(dispScale * 1000 * float64(cur-prev) / bytes)
	}
	s.originals += originals
	s.lostHoles += lostHoles
	s.lostRuns += lostRuns
	s.passedB += passedB
}

// liveLoss notes record i, marked lost and not voided, as flach's next
// live loss, passed the wire bytes of the live records not lost before
// it (inlined: no call in the loops).
func (s *recScan) liveLoss(i int32, passed uint64) {
	if s.nLost < flachScan {
		s.first[s.nLost], s.firstB[s.nLost] = i, passed
	}
	s.last[s.nLost%flachScan], s.lastB[s.nLost%flachScan] = i, passed
	s.nLost++
}

// scanRecords fills a.scan from the data direction's records.
func (a *analysis) scanRecords() {
	a.scan = recScan{}
	scanRecs(&a.d.rb, a.receiver, &a.scan)
	a.scan.done = true
}

// recordScan is a.scan, or when measure has not filled it (a detector
// called alone), a scan of the records made now.
func (a *analysis) recordScan() *recScan {
	if a.scan.done {
		return &a.scan
	}
	s := new(recScan)
	scanRecs(&a.d.rb, a.receiver, s)
	return s
}

// lossAt returns flach's first and last loss for cutoff (skipping cutoff
// live lost records at each end), the wire bytes of the live records not
// lost between them, and ok false when there are not two such losses.
func (s *recScan) lossAt(cutoff int) (first, last int, bytes uint64, ok bool) {
	if cutoff >= flachScan || s.nLost <= cutoff {
		return -1, -1, 0, false
	}
	p := s.nLost - 1 - cutoff // position of the last among the live lost records
	if p <= cutoff {
		return int(s.first[cutoff]), -1, 0, false
	}
	l := p % flachScan
	return int(s.first[cutoff]), int(s.last[l]), s.lastB[l] - s.firstB[cutoff], true
}
