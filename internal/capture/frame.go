package capture

import (
	"errors"
	"fmt"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// Frame is one captured frame.
//
// Data is owned by the source that filled the Frame and is valid only until
// the next call to Next on the same source (the source reuses its buffer);
// copy it to keep it longer. A FileSource after Retain is the exception:
// its frames stay valid until the caller reuses the buffer they lie in.
type Frame struct {
	Data    []byte
	TS      int64 // Unix time in nanoseconds, as recorded (never reordered or clamped)
	CapLen  uint32
	OrigLen uint32
	Link    decode.LinkType
	// Iface is the index of the frame's interface in Interfaces(): a single
	// list across all files and pcapng sections, numbered in the order the
	// interface description blocks appear. For the first section of the
	// first file it is the interface ID the packet block carries; in later
	// sections Interfaces()[Iface].ID is that section-local ID, which is
	// what Wireshark 4.0 shows as frame.interface_id. For a classic pcap
	// file it is the file's one pseudo-interface (0 for the first file).
	Iface uint32
	// Index is the 1-based frame number across the whole input: the files
	// are numbered as if concatenated. It equals Wireshark's frame.number
	// for a single file; tshark reading several files one at a time
	// restarts at 1 for each.
	Index uint64
	// File is the index of the frame's file in the path list.
	File int
}

// Source is what the file and live sources have in common.
type Source interface {
	// Next fills f with the next frame; io.EOF at the end. f.Data is
	// valid until the next call to Next.
	Next(f *Frame) error
	// Interfaces describes the interfaces seen so far, indexed by
	// Frame.Iface.
	Interfaces() []Interface
	Close() error
}

// Interface describes a capture interface: a pcapng Interface Description
// Block, or the header of a classic pcap file.
type Interface struct {
	Link        decode.LinkType
	SnapLen     uint32
	Name        string // if_name, empty if absent
	Description string // if_description, empty if absent
	// TSResol is the raw if_tsresol value: bit 7 clear means units of
	// 10^-v seconds, set means 2^-(v&0x7f) seconds. It is 6 (microseconds)
	// when the option is absent and for microsecond pcap, 9 for nanosecond
	// pcap.
	TSResol uint8
	// TSOffset is if_tsoffset, seconds added to every timestamp.
	TSOffset int64
	File     int    // index of the file in the path list
	Section  int    // 0-based pcapng section within the file (0 for pcap)
	ID       uint32 // interface ID within its section, as packet blocks refer to it
}

// Sentinel error kinds, for errors.Is on the *Error values the sources
// return.
var (
	// ErrNotCapture: the file is neither pcap nor pcapng (nor a gzip of one).
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrTruncated: the file ends in the middle of a header, record or block.
	ErrTruncated = errors.New("truncated capture file")
	// ErrMalformed: a header, record or block is invalid (hostile or corrupt).
	ErrMalformed = errors.New("malformed capture file")
	// ErrRead: the underlying read (or gzip decompression) failed.
	ErrRead = errors.New("capture read error")
)

// Error is a final error from a file source. It names the file, the byte
// offset of the record or block at fault (in the decompressed stream for
// gzip files) and the frame being read.
type Error struct {
	File   string // path as given ("stdin" for "-")
	Offset int64  // byte offset of the faulty header/record/block
	// Frame is the 1-based index the faulty record would have had, or 0
	// when the fault is not in a packet record.
	Frame uint64
	// After is the number of frames read before the fault (used in the
	// message when Frame is 0).
	After  uint64
	What   string // e.g. "truncated record", "bad block"
	Detail string // the cause
	Kind   error  // one of ErrNotCapture, ErrTruncated, ErrMalformed, ErrRead
	Err    error  // underlying error, if any (I/O, gzip)
}

func (e *Error) Error() string {
	if e.Kind == ErrNotCapture {
		return fmt.Sprintf("capture: %s: not a pcap or pcapng file (%s)", e.File, e.Detail)
	}
	where := ""
	switch {
	case e.Frame > 0:
		where = fmt.Sprintf(" (frame %d)", e.Frame)
	case e.After > 0:
		where = fmt.Sprintf(" (after frame %d)", e.After)
	}
	return fmt.Sprintf("capture: %s: %s at byte %d%s: %s", e.File, e.What, e.Offset, where, e.Detail)
}

// Unwrap returns the kind and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}
