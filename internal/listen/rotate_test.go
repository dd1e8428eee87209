package listen

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
