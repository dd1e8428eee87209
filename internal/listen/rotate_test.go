package listen

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRotatingFileRotates: past MaxSize, FILE moves to FILE.1 (and on),
// between whole lines, keeping Keep old files.
func TestRotatingFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.jsonl")
	r, err := NewRotatingFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := append(bytes.Repeat([]byte("x"), 39), '\n') // 40 bytes
	for range 7 {
		if _, err := r.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// 7 lines, at most 2 per file: FILE has 1, FILE.1 and FILE.2 have 2,
	// the oldest 2 lines were dropped with FILE.3.
	for name, want := range map[string]int64{path: 40, path + ".1": 80, path + ".2": 80} {
		st, err := os.Stat(name)
		if err != nil || st.Size() != want {
			t.Errorf("%s: %v, size %d, want %d", filepath.Base(name), err, st.Size(), want)
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("more old files kept than Keep")
	}
}

// TestRotatingFileNeverRenamesDevices: --out /dev/null (or a FIFO) must
// never be rotated: renaming it would replace a device node with a
// regular file. A FIFO stands in for /dev/null here.
func TestRotatingFileNeverRenamesDevices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	// An open reader, so that opening the FIFO for writing does not
	// block; the 400 bytes written fit in the pipe's buffer.
	rd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	r, err := NewRotatingFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := append(bytes.Repeat([]byte("y"), 39), '\n')
	for range 10 {
		if _, err := r.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is no longer the FIFO: %v %v", path, err, st.Mode())
	}
	if _, err := os.Lstat(path + ".1"); err == nil {
		t.Fatal("the FIFO was rotated")
	}
}

// TestReopen: after logrotate moves --out and the pcap files away,
// Reopen (SIGHUP) makes the listener write to a new --out file at the
// same path and start a new pcapng file; nothing is lost.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "flows.jsonl")
	rf, err := NewRotatingFile(out, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, "pcap")
	r := startListener(t, func(c *Config) {
		c.Out = rf
		c.Pcap.Dir = pdir
		c.FlushInterval = 10 * time.Millisecond
	})
	vx := r.l.VXLANAddr().String()
	sendUDP(t, vx, vxlanSYN(100, 1, nil))
	r.waitFor(t, 1)
	time.Sleep(50 * time.Millisecond)
	if err := os.Rename(out, out+".1"); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(pdir, "*.pcapng"))
	r.l.Reopen()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new --out file after Reopen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sendUDP(t, vx, vxlanSYN(100, 2, nil))
	r.waitFor(t, 2)
	r.stop(t)
	if err := rf.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	_, _, sum := parseLines(t, string(b))
	if sum == nil || sum.Capture.FlowCounts.Total != 2 {
		t.Errorf("the new --out file has no summary of both flows:\n%s", b)
	}
	now, _ := filepath.Glob(filepath.Join(pdir, "*.pcapng"))
	if len(old) != 1 || len(now) != 2 {
		t.Errorf("pcapng files: %d before Reopen, %d after; want 1 and 2", len(old), len(now))
	}
}
