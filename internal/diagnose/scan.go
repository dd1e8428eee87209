package diagnose

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
// Nearly every record of a bulk flow is a live original that was not
// lost: each side's loop counts it inline, and hands any other record to
// s.count. (The loops are one per side so that neither tests the side
// per record; what each does with a record is the same as count's.)
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
	prevLost := false
	prevT, havePrev := uint32(0), false
	i := int32(-1)
	for _, c := range recs.chunks {
		for k := range c {
			i++
			r := &c[k]
			if r.flags&(recLost|recVoid) == 0 && r.kind != recHole {
				if r.kind == recOrig {
					s.originals++
				}
				prevLost = false
				s.passedB += uint64(r.flen)
			} else {
				prevLost = s.count(r, i, true, prevLost)
				if r.kind == recHole {
					continue
				}
			}
			if havePrev {
				if g := r.t - prevT; g > 0 && r.flen > 0 {
					s.dispersionHist.add(dispScale * 1000 * float64(g) / float64(r.flen))
				}
			}
			prevT, havePrev = r.t, true
		}
	}
}

// scanSend is scanRecs at a sender-side point: loss runs over the
// originals in sending order, and the dispersion samples are the gaps
// between ACK events.
func scanSend(recs *recBuf, s *recScan) {
	prevLost := false
	// the ACK event being summed and the one before it
	var cur, prev uint32
	var bytes float64
	haveCur, havePrevAck := false, false
	i := int32(-1)
	for _, c := range recs.chunks {
		for k := range c {
			i++
			r := &c[k]
			if r.flags&(recLost|recVoid) == 0 && r.kind == recOrig {
				s.originals++
				prevLost = false
				s.passedB += uint64(r.flen)
			} else {
				prevLost = s.count(r, i, false, prevLost)
				if r.kind != recOrig {
					continue
				}
			}
			// the gaps between ACK events: runs of originals
			// acknowledged at the same time belong to one ACK; the gap
			// to the previous ACK over the bytes this one covers is one
			// sample
			if r.rttA == 0 {
				continue
			}
			at := r.t + r.rttA - 1
			if haveCur && at == cur {
				bytes += float64(r.flen)
				continue
			}
			if haveCur && havePrevAck && cur > prev && bytes > 0 {
				s.dispersionHist.add(dispScale * 1000 * float64(cur-prev) / bytes)
			}
			if haveCur {
				prev, havePrevAck = cur, true
			}
			cur, bytes, haveCur = at, float64(r.flen), true
		}
	}
	if haveCur && havePrevAck && cur > prev && bytes > 0 {
		s.dispersionHist.add(dispScale * 1000 * float64(cur-prev) / bytes)
	}
}

// count adds record i, any kind and flags, to the originals, the lost
// holes, the loss runs (prevLost: the run's previous record was lost;
// it returns the new value) and flach's live losses or passed bytes.
func (s *recScan) count(r *rec, i int32, receiver, prevLost bool) bool {
	if r.kind == recOrig || r.kind == recHole && r.flags&recVoid == 0 {
		s.originals++
	}
	if r.kind == recHole && r.flags&recLost != 0 {
		s.lostHoles++
	}
	if receiver || r.kind == recOrig {
		isLost := r.flags&recLost != 0 && (!receiver || r.kind == recHole)
		if isLost && prevLost {
			s.lostRuns++
		}
		prevLost = isLost
	}
	if r.flags&recVoid == 0 {
		if r.flags&recLost != 0 {
			if s.nLost < flachScan {
				s.first[s.nLost], s.firstB[s.nLost] = i, s.passedB
			}
			s.last[s.nLost%flachScan], s.lastB[s.nLost%flachScan] = i, s.passedB
			s.nLost++
		} else {
			s.passedB += uint64(r.flen)
		}
	}
	return prevLost
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
