// Package capture provides mirrorscope's packet sources: capture files
// (pcap, pcapng, gzip-compressed or not), the VXLAN/GENEVE UDP listener
// that receives AWS Traffic Mirroring sessions, and live AF_PACKET capture.
//
// # File sources
//
// FileSource streams frames out of one fixed read buffer: memory stays flat
// whatever the file size, and Next does not allocate. Frame.Data points into
// that buffer and is valid only until the next call to Next; the caller
// copies what it keeps. Several files are read one after another and their
// frames numbered as one sequence (Frame.Index), the way mergecap -a would
// concatenate them; tshark reading the same files one at a time numbers each
// file from 1.
//
// Timestamps are reported exactly as recorded. A capture made on several
// CPUs can step backwards by ~150 µs; the source does not reorder or clamp
// them, the analysis does.
//
// Damaged input never panics, hangs or makes the reader allocate according
// to a length read from the file: record and block lengths above a sane
// limit (Options.MaxRecord), block lengths that are not multiples of 4 or
// shorter than their header, and files ending mid-record stop reading with
// an *Error that names the file, the byte offset and the frame (frames
// already returned stay valid). Unknown link types are passed through; the
// decoder reports them.
package capture
