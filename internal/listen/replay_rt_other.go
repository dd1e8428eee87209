//go:build !linux

package listen

import "time"

// realtimePacer needs Linux's SCHED_FIFO; elsewhere it is never on.
type realtimePacer struct{ ok bool }

func startRealtime() *realtimePacer             { return &realtimePacer{} }
func (r *realtimePacer) stop()                  {}
func (r *realtimePacer) sleepUntil(_ time.Time) {}
