package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Options tunes the file sources. The zero value selects the defaults.
type Options struct {
	// MaxRecord is the largest captured length accepted for one packet
	// (default 256 KiB, libpcap's maximum snaplen). A larger length is
	// treated as corruption: reading stops with an ErrMalformed error
	// instead of allocating or skipping an attacker-chosen amount.
	MaxRecord int
	// BufferSize is the size of the read buffer (default 1 MiB). It is
	// raised if needed to hold the largest accepted pcapng block.
	BufferSize int
	// NoReadahead reads regular files on the caller's goroutine instead of
	// reading ahead on another one.
	NoReadahead bool
	// noPcapShortcut turns Next's pcap shortcut off (tests compare the
	// two).
	noPcapShortcut bool
}

const (
	defaultMaxRecord  = 256 << 10
	defaultBufferSize = 1 << 20
	// blockSlack is what a pcapng block may hold beyond its packet bytes
	// (block header and options, interface names, comments).
	blockSlack = 64 << 10
)

type format uint8

const (
	fmtNone format = iota
	fmtPcap
	fmtPcapNG
)

// FileSource reads frames from pcap and pcapng files (optionally gzip
// compressed), one file after another, streaming through one fixed buffer:
// memory does not grow with file size and Next does not allocate.
//
// A FileSource is not safe for concurrent use, except BytesRead and
// TotalBytes, which may be called from any goroutine.
type FileSource struct {
	paths []string
	opt   Options
	total int64
	read  atomic.Int64 // bytes read from disk/stdin (compressed for gzip)
	// fileRead is read per file (the report's inputs[].bytes).
	fileRead []atomic.Int64

	fileIdx int // index of the open file, -1 before the first
	name    string
	file    *os.File // nil for stdin
	src     io.Reader

	// Read buffer: buf[r:w] holds unread bytes; base is the stream offset
	// of buf[0].
	buf  []byte
	r, w int
	base int64

	// Readahead (regular files): buf is then the current chunk's data,
	// fixed the source's own buffer, and raErr the outcome of the last
	// chunk taken (io.EOF at the end).
	ra    *readahead
	spare []*chunk // the last file's read-ahead chunks, for the next one
	cur   *chunk
	fixed []byte
	raErr error

	// Retain (see there): get supplies the buffers, gen counts them.
	get func() []byte
	gen uint64

	format   format
	be       bool // big-endian file (pcap) or section (pcapng)
	maxRec   uint32
	maxBlock uint32

	// pcap
	pcapHdr   int // 16, or 24 for the modified (Kuznetzov) format
	pcapNano  bool
	pcapLink  decode.LinkType
	pcapIface uint32
	// fastPcap: a little-endian file with 16-byte record headers, read
	// by Next's shortcut; fracMul makes its fraction nanoseconds.
	fastPcap bool
	fracMul  int64

	// pcapng
	section  int       // section number within the file, -1 before the first SHB
	sectIfcs []ngIface // interfaces of the current section

	ifaces []Interface // all interfaces seen, global numbering
	index  uint64      // frames returned so far
	cut    bool        // the compressed stream ended early
	err    error       // sticky final error
}

// ngIface is a pcapng interface with its timestamp conversion precomputed.
type ngIface struct {
	global  uint32
	link    decode.LinkType
	snaplen uint32
	tsMode  uint8 // tsMul, tsDiv, tsPow2
	tsK     uint64
	tsShift uint
	tsOff   int64 // nanoseconds
}

const (
	tsMul uint8 = iota
	tsDiv
	tsPow2
)

// countingReader counts the bytes read from the underlying file for the
// progress display.
type countingReader struct {
	r       io.Reader
	n, file *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	c.file.Add(int64(n))
	return n, err
}

// OpenFiles opens capture files to be read in order, one after another.
// "-" means standard input. Every path is checked (stat) now; the first
// file is opened and its header validated now, the others when reading
// reaches them.
func OpenFiles(paths []string, opt Options) (*FileSource, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no input files")
	}
	if opt.MaxRecord <= 0 {
		opt.MaxRecord = defaultMaxRecord
	}
	if opt.MaxRecord > 1<<30 {
		opt.MaxRecord = 1 << 30
	}
	if opt.BufferSize <= 0 {
		opt.BufferSize = defaultBufferSize
	}
	s := &FileSource{
		paths:    append([]string(nil), paths...),
		opt:      opt,
		fileIdx:  -1,
		fileRead: make([]atomic.Int64, len(paths)),
		maxRec:   uint32(opt.MaxRecord),
		maxBlock: uint32(opt.MaxRecord + blockSlack),
	}
	bufSize := opt.BufferSize
	if bufSize < int(s.maxBlock)+64 {
		bufSize = int(s.maxBlock) + 64
	}
	s.buf = make([]byte, bufSize)
	s.fixed = s.buf
	stdin := 0
	for _, p := range paths {
		if p == "-" {
			stdin++
			s.total = -1
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("capture: %s: is a directory", p)
		}
		if s.total >= 0 {
			if st.Mode().IsRegular() {
				s.total += st.Size()
			} else {
				s.total = -1
			}
		}
	}
	if stdin > 1 {
		return nil, errors.New("capture: standard input (-) given more than once")
	}
	if s.total < 0 {
		s.total = 0
	}
	if err := s.openNext(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Retain makes the frames the source returns stay valid after the next
// call to Next, until the caller reuses the buffer they lie in: from now
// on the source reads into buffers of size bytes that get returns (the
// caller must not write one until it is done with every frame in it),
// never writes one again once it has moved on, and moves the unread tail
// of a buffer (at most one partial record or block) into the next.
// BufferGen tells when it moved: the frames returned before then all lie
// in earlier buffers. Retain calls get once at once, for the bytes
// already read. It reports false, and changes nothing, when size cannot
// hold the largest record or block the source accepts (Options.MaxRecord
// and its block slack; MinRetainBuffer for the default) or the bytes
// read ahead of the next frame so far (up to Options.BufferSize), or when the
// source is reading ahead on its own goroutine (Options.NoReadahead unset
// and a regular file open), whose chunks are its own; after Retain no
// file is read ahead. Call it before the first Next.
func (s *FileSource) Retain(size int, get func() []byte) bool {
	if s.ra != nil || s.err != nil || size < int(s.maxBlock)+64 || size < s.w-s.r {
		return false
	}
	s.get = get
	s.swapBuffer()
	s.base += int64(s.r)
	s.w -= s.r
	s.r = 0
	return true
}

// MinRetainBuffer is the smallest buffer size Retain takes with the
// default Options.MaxRecord: the largest record or block the source
// accepts, and room to spare.
const MinRetainBuffer = defaultMaxRecord + blockSlack + 64

// BufferGen counts the buffers of Retain the source has moved to: when it
// changes between two frames, the earlier frames lie in buffers the
// source will not read into again.
func (s *FileSource) BufferGen() uint64 { return s.gen }

// swapBuffer moves buf[r:w] to the start of a buffer from get; r and w
// are then the caller's to adjust.
func (s *FileSource) swapBuffer() {
	nb := s.get()
	if len(nb) < int(s.maxBlock)+64 {
		panic(fmt.Sprintf("capture: Retain buffer of %d bytes, need %d", len(nb), int(s.maxBlock)+64))
	}
	copy(nb, s.buf[s.r:s.w])
	s.buf = nb
	s.gen++
}

// BytesRead returns the number of bytes read so far from the files (the
// compressed bytes for gzip files), comparable to TotalBytes. Safe to call
// from any goroutine.
func (s *FileSource) BytesRead() int64 { return s.read.Load() }

// FileBytesRead returns the bytes read so far from the i-th file of the
// path list (compressed bytes for gzip; the whole file once it was read to
// its end), 0 for an index out of range. Safe to call from any goroutine.
func (s *FileSource) FileBytesRead(i int) int64 {
	if i < 0 || i >= len(s.fileRead) {
		return 0
	}
	return s.fileRead[i].Load()
}

// TotalBytes is the sum of the file sizes on disk, or 0 when unknown (when
// standard input or a non-regular file is among the inputs). Safe to call
// from any goroutine.
func (s *FileSource) TotalBytes() int64 { return s.total }

// Interfaces returns the interfaces seen so far (pcapng IDBs across all
// sections and files; one per classic pcap file), indexed by Frame.Iface.
// The slice is a copy owned by the caller.
func (s *FileSource) Interfaces() []Interface {
	return append([]Interface(nil), s.ifaces...)
}

// Close closes the open file. It does not close standard input.
func (s *FileSource) Close() error {
	s.stopReadahead()
	var err error
	if s.file != nil {
		err = s.file.Close()
		s.file = nil
	}
	s.src = nil
	if s.err == nil {
		s.err = errors.New("capture: source closed")
	}
	return err
}

// Next fills f with the next frame. It returns io.EOF after the last frame
// of the last file. Any other error is an *Error naming the file, cause
// and offset; it is final (Next keeps returning it) and the frames already
// returned remain valid results.
//
// Timestamps are passed through as recorded: captures taken on several
// CPUs can step backwards by a few hundred microseconds, and it is the
// analysis that decides how to treat that.
func (s *FileSource) Next(f *Frame) error {
	if s.fastPcap && s.err == nil {
		// A little-endian pcap record with the classic 16-byte header,
		// whole in the buffer and within MaxRecord: nextPcap's work
		// without its byte-order tests and refills. Anything else
		// (a record to read in or to refuse) takes nextPcap.
		r := s.r
		if s.w-r >= 16 {
			h := s.buf[r : r+16 : r+16]
			capLen := binary.LittleEndian.Uint32(h[8:12])
			if end := r + 16 + int(capLen); capLen <= s.maxRec && end <= s.w {
				s.index++
				f.TS = int64(binary.LittleEndian.Uint32(h[0:4]))*1e9 + int64(binary.LittleEndian.Uint32(h[4:8]))*s.fracMul
				f.CapLen = capLen
				f.OrigLen = binary.LittleEndian.Uint32(h[12:16])
				f.Link = s.pcapLink
				f.Iface = s.pcapIface
				f.Index = s.index
				f.File = s.fileIdx
				f.Data = s.buf[r+16 : end : end]
				s.r = end
				return nil
			}
		}
	}
	for {
		if s.err != nil {
			return s.err
		}
		var err error
		switch s.format {
		case fmtPcap:
			err = s.nextPcap(f)
		case fmtPcapNG:
			err = s.nextNG(f)
		default:
			err = io.EOF
		}
		if err == nil {
			return nil
		}
		if err != io.EOF {
			s.err = err
			return err
		}
		if err := s.openNext(); err != nil {
			s.err = err
			return err
		}
	}
}

// openNext closes the current file and opens the next one, reading its
// header. It returns io.EOF when there is no next file.
func (s *FileSource) openNext() error {
	s.stopReadahead()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.src = nil
	s.format = fmtNone
	s.fastPcap = false
	s.fileIdx++
	if s.fileIdx >= len(s.paths) {
		return io.EOF
	}
	p := s.paths[s.fileIdx]
	var raw io.Reader
	if p == "-" {
		s.name = "stdin"
		raw = os.Stdin
	} else {
		s.name = p
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		s.file = f
		raw = f
	}
	s.src = countingReader{r: raw, n: &s.read, file: &s.fileRead[s.fileIdx]}
	if s.get != nil {
		// The last file's frames stay valid in their buffer.
		s.r = s.w
		s.swapBuffer()
	}
	s.r, s.w, s.base = 0, 0, 0
	s.cut = false

	// Peek at the magic; a gzip stream is decompressed transparently (the
	// bytes already read are replayed into the decompressor).
	if err := s.fill(4); err != nil && err != io.EOF {
		return err
	}
	if s.w >= 2 && s.buf[0] == 0x1f && s.buf[1] == 0x8b {
		head := append([]byte(nil), s.buf[:s.w]...)
		zr, err := gzip.NewReader(io.MultiReader(bytes.NewReader(head), s.src))
		if err != nil {
			return s.errorf(ErrRead, 0, 0, "bad gzip header", err, "%v", err)
		}
		s.src = zr
		s.r, s.w = 0, 0
		if err := s.fill(4); err != nil && err != io.EOF {
			return err
		}
	}
	if s.w < 4 {
		return &Error{File: s.name, Kind: ErrNotCapture, Detail: fmt.Sprintf("file has only %d bytes", s.w)}
	}
	if s.file != nil && !s.opt.NoReadahead && s.get == nil {
		// Regular files (plain or gzip) are read ahead on another
		// goroutine; standard input is read in place, since a pipe may
		// block forever and its reader could not be stopped.
		s.ra = startReadahead(s.src, int(s.maxBlock)+64, s.spare)
		s.spare = s.spare[:0]
	}
	magicLE := binary.LittleEndian.Uint32(s.buf)
	switch magicLE {
	case 0x0A0D0D0A:
		s.format = fmtPcapNG
		s.section = -1
		s.sectIfcs = s.sectIfcs[:0]
		// The SHB is read by nextNG like any other block.
		return nil
	case 0xa1b2c3d4, 0xa1b23c4d, 0xa1b2cd34:
		s.be = false
	case 0xd4c3b2a1, 0x4d3cb2a1, 0x34cdb2a1:
		s.be = true
	default:
		return &Error{File: s.name, Kind: ErrNotCapture, Detail: fmt.Sprintf("magic 0x%08x", binary.BigEndian.Uint32(s.buf))}
	}
	return s.pcapHeader()
}

// fill makes at least n bytes available in buf[r:w], moving the unread
// bytes to the front of the buffer when needed (which invalidates slices
// handed out earlier: hence Frame.Data's lifetime). n must not exceed
// len(buf). It returns io.EOF if the stream ends first (buf[r:w] then
// holds what was left) or an *Error for a read failure.
func (s *FileSource) fill(n int) error {
	if s.w-s.r >= n {
		return nil
	}
	if s.ra != nil {
		return s.fillReadahead(n)
	}
	if len(s.buf)-s.r < n {
		if s.get != nil {
			// The frames returned so far stay where they are: the
			// unread tail moves to a fresh buffer.
			s.swapBuffer()
		} else {
			copy(s.buf, s.buf[s.r:s.w])
		}
		s.base += int64(s.r)
		s.w -= s.r
		s.r = 0
	}
	zero := 0
	for s.w-s.r < n {
		m, err := s.src.Read(s.buf[s.w:])
		s.w += m
		if err != nil {
			if s.w-s.r >= n {
				return nil
			}
			if err == io.EOF {
				return io.EOF
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				// A gzip stream cut short: to the capture parser this is an
				// end of file, but never a clean one (see cleanEOF).
				s.cut = true
				return io.EOF
			}
			return s.errorf(ErrRead, s.base+int64(s.w), 0, "read error", err, "%v", err)
		}
		if m == 0 {
			// A reader returning 0, nil forever would hang us; io.Reader
			// discourages it, so a long run of them is an error.
			if zero++; zero >= 100 {
				return s.errorf(ErrRead, s.base+int64(s.w), 0, "read error", io.ErrNoProgress, "%v", io.ErrNoProgress)
			}
		} else {
			zero = 0
		}
	}
	return nil
}

// errorf builds an *Error for the current file. frame is the index of the
// record at fault (0 if none).
func (s *FileSource) errorf(kind error, off int64, frame uint64, what string, cause error, format string, args ...any) *Error {
	return &Error{
		File:   s.name,
		Offset: off,
		Frame:  frame,
		After:  s.index,
		What:   what,
		Detail: fmt.Sprintf(format, args...),
		Kind:   kind,
		Err:    cause,
	}
}

// cleanEOF reports whether the file ended exactly at a record boundary.
func (s *FileSource) cleanEOF() bool { return s.w == s.r && !s.cut }

// truncated reports a record or block cut short by the end of the file.
func (s *FileSource) truncated(what string, frame uint64, need int) error {
	have := s.w - s.r
	detail := "file ends mid-packet"
	if frame == 0 {
		detail = "file ends mid-block"
	}
	if s.cut {
		detail = "compressed stream is cut short"
	}
	return s.errorf(ErrTruncated, s.off(), frame, "truncated "+what, io.ErrUnexpectedEOF,
		"%s (%d of %d bytes present)", detail, have, need)
}

// off is the stream offset of buf[r].
func (s *FileSource) off() int64 { return s.base + int64(s.r) }

func (s *FileSource) u16(b []byte) uint16 {
	if s.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (s *FileSource) u32(b []byte) uint32 {
	if s.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// pcapHeader parses the 24-byte classic pcap file header.
func (s *FileSource) pcapHeader() error {
	if err := s.fill(24); err != nil {
		if err == io.EOF {
			return s.errorf(ErrTruncated, 0, 0, "truncated file header", io.ErrUnexpectedEOF,
				"file ends after %d bytes", s.base+int64(s.w))
		}
		return err
	}
	h := s.buf[s.r : s.r+24]
	magic := s.u32(h)
	s.pcapNano = magic == 0xa1b23c4d
	s.pcapHdr = 16
	if magic == 0xa1b2cd34 {
		s.pcapHdr = 24
	}
	if major := s.u16(h[4:]); major != 2 {
		return s.errorf(ErrMalformed, 0, 0, "bad file header", nil, "unsupported pcap version %d.%d", major, s.u16(h[6:]))
	}
	snap := s.u32(h[16:])
	s.pcapLink = decode.LinkType(s.u32(h[20:]) & 0xffff)
	resol := uint8(6)
	if s.pcapNano {
		resol = 9
	}
	s.pcapIface = uint32(len(s.ifaces))
	s.ifaces = append(s.ifaces, Interface{Link: s.pcapLink, SnapLen: snap, TSResol: resol, File: s.fileIdx})
	s.r += 24
	s.format = fmtPcap
	s.fracMul = 1000
	if s.pcapNano {
		s.fracMul = 1
	}
	s.fastPcap = !s.be && s.pcapHdr == 16 && !s.opt.noPcapShortcut
	return nil
}

// nextPcap reads one classic pcap record. io.EOF means a clean end of file.
func (s *FileSource) nextPcap(f *Frame) error {
	hl := s.pcapHdr
	if s.w-s.r < hl {
		if err := s.fill(hl); err != nil {
			if err == io.EOF {
				if s.cleanEOF() {
					return io.EOF
				}
				return s.truncated("record header", s.index+1, hl)
			}
			return err
		}
	}
	h := s.buf[s.r : s.r+hl]
	capLen := s.u32(h[8:])
	if capLen > s.maxRec {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad record", nil,
			"captured length %d exceeds limit %d", capLen, s.maxRec)
	}
	need := hl + int(capLen)
	if s.w-s.r < need {
		if err := s.fill(need); err != nil {
			if err == io.EOF {
				return s.truncated("record", s.index+1, need)
			}
			return err
		}
		h = s.buf[s.r : s.r+hl]
	}
	sec := int64(s.u32(h))
	frac := int64(s.u32(h[4:]))
	if !s.pcapNano {
		frac *= 1000
	}
	s.index++
	f.TS = sec*1e9 + frac
	f.CapLen = capLen
	f.OrigLen = s.u32(h[12:])
	f.Link = s.pcapLink
	f.Iface = s.pcapIface
	f.Index = s.index
	f.File = s.fileIdx
	start := s.r + hl
	f.Data = s.buf[start : s.r+need : s.r+need]
	s.r += need
	return nil
}

var _ Source = (*FileSource)(nil)

// fillReadahead is fill for read-ahead files: it moves to the next chunk,
// carrying the unread tail into the chunk's headroom.
func (s *FileSource) fillReadahead(n int) error {
	for s.w-s.r < n {
		if s.raErr != nil {
			if s.raErr == io.EOF {
				return io.EOF
			}
			if errors.Is(s.raErr, io.ErrUnexpectedEOF) {
				s.cut = true
				return io.EOF
			}
			return s.errorf(ErrRead, s.base+int64(s.w), 0, "read error", s.raErr, "%v", s.raErr)
		}
		c := s.ra.next()
		rem := s.w - s.r
		if rem > s.ra.headroom {
			return s.errorf(ErrMalformed, s.base+int64(s.r), 0, "record too long", nil, "%d bytes pending", rem)
		}
		start := s.ra.headroom - rem
		copy(c.data[start:s.ra.headroom], s.buf[s.r:s.w])
		s.base += int64(s.r) - int64(start)
		if s.cur != nil {
			s.ra.release(s.cur)
		}
		s.cur = c
		s.buf = c.data
		s.r, s.w = start, s.ra.headroom+c.n
		s.raErr = c.err
	}
	return nil
}

// stopReadahead ends the current file's read-ahead and returns to the
// source's own buffer.
func (s *FileSource) stopReadahead() {
	if s.ra == nil {
		return
	}
	// The frames handed out so far pointed into the chunks; Next's
	// contract ends their validity here (the next file starts).
	s.spare = append(s.spare[:0], s.ra.close()...)
	if s.cur != nil {
		s.spare = append(s.spare, s.cur)
	}
	s.ra, s.cur, s.raErr = nil, nil, nil
	s.buf = s.fixed
	s.r, s.w = 0, 0
}
