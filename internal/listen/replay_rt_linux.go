//go:build linux

package listen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// realtimePacer paces a timed replay from a real-time thread: the calling
// goroutine is locked to its thread, which gets SCHED_FIFO priority 1
// (root or CAP_SYS_NICE) and sleeps in clock_nanosleep itself. On a busy
// machine a normal thread woken from a sleep waits for a CPU behind every
// other runnable task (tens of milliseconds with a load of 8 on 2 cores:
// measured, replayed frames then left up to 98 ms late and listen's
// verdicts changed); a real-time thread runs as soon as its timer fires.
// The kernel stamps a datagram on loopback (and on a NIC) when it is
// sent, so the sender's punctuality is what listen's kernel timestamps
// show. ok is false (and nothing changed) when the kernel refuses.
type realtimePacer struct{ ok bool }

func startRealtime() *realtimePacer {
	runtime.LockOSThread()
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		runtime.UnlockOSThread()
		return &realtimePacer{}
	}
	return &realtimePacer{ok: true}
}

// stop gives the thread its normal policy back and unlocks it.
func (r *realtimePacer) stop() {
	if !r.ok {
		return
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: 0} // SCHED_OTHER
	if unix.SchedSetAttr(0, &attr, 0) == nil {
		runtime.UnlockOSThread()
	}
	// Otherwise the thread stays locked and exits with the goroutine.
	r.ok = false
}

// sleepUntil sleeps on this thread until due (the last 30 µs spinning:
// a real-time thread's wakeup is punctual to a few microseconds, the
// spin absorbs the rest).
func (r *realtimePacer) sleepUntil(due time.Time) {
	if d := time.Until(due) - 30*time.Microsecond; d > 0 {
		ts := unix.NsecToTimespec(int64(d))
		for unix.Nanosleep(&ts, &ts) == unix.EINTR {
		}
	}
	for time.Now().Before(due) {
	}
}
