package listen

import (
	"bufio"
	"fmt"
	"os"
)

// RotatingFile is the --out file: JSON lines with size rotation. When a
// line would take the file past MaxSize, FILE is renamed FILE.1 (FILE.1
// to FILE.2 ..., keeping Keep old files) and a new FILE is started.
// Rotation happens only between lines: every Write must be whole lines.
// It is not safe for concurrent use (the listener serialises its lines).
type RotatingFile struct {
	path    string
	maxSize int64
	keep    int
	f       *os.File
	w       *bufio.Writer
	size    int64
}

// NewRotatingFile opens (appends to) path. maxSize 0 never rotates, and
// neither does a path that is not a regular file (--out /dev/null).
func NewRotatingFile(path string, maxSize int64, keep int) (*RotatingFile, error) {
	r := &RotatingFile{path: path, maxSize: maxSize, keep: max(keep, 1)}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.w, r.size = f, bufio.NewWriterSize(f, 256<<10), st.Size()
	if !st.Mode().IsRegular() {
		// /dev/null, a FIFO, a terminal: renaming it would replace a
		// device node with a regular file. Never rotate those.
		r.maxSize = 0
	}
	return nil
}

// Write writes whole lines, rotating first when they would not fit.
func (r *RotatingFile) Write(p []byte) (int, error) {
	if r.maxSize > 0 && r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.w.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *RotatingFile) rotate() error {
	if err := r.Close(); err != nil {
		return err
	}
	for i := r.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return fmt.Errorf("rotate %s: %w", r.path, err)
	}
	return r.open()
}

// Reopen closes the file and opens path again (SIGHUP, after logrotate
// moved the file away): later lines go to a new file at path.
func (r *RotatingFile) Reopen() error {
	if err := r.Close(); err != nil {
		return err
	}
	return r.open()
}

// Flush writes buffered lines to the file.
func (r *RotatingFile) Flush() error { return r.w.Flush() }

// Close flushes and closes the file.
func (r *RotatingFile) Close() error {
	err := r.w.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}
