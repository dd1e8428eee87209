// Package capture provides mirrorscope's packet sources: capture files
// (pcap, pcapng, gzip-compressed or not), the VXLAN/GENEVE UDP listener
// that receives AWS Traffic Mirroring sessions, and live AF_PACKET capture.
//
// # Frame sources
//
// FileSource (OpenFiles) and LiveSource (OpenLive) share the Source
// contract: Next(*Frame) fills a caller-owned Frame and returns io.EOF at
// the end. Frame.Data points into the source's buffer (the read buffer,
// or the kernel ring for live capture) and is valid only until the next
// call to Next on the same source; the caller copies what it keeps. Next
// does not allocate. FileSource.Retain hands the buffers over instead:
// the source reads into buffers the caller supplies and never writes one
// again once it has moved on, so the frames stay valid, uncopied, until
// the caller reuses their buffer (engine.Parallel's blocks).
//
// # Files
//
// FileSource streams frames out of one fixed read buffer: memory stays
// flat whatever the file size. Classic pcap (micro- and nanosecond, both
// byte orders, the modified/Kuznetzov format), pcapng (either byte order,
// several sections, interfaces with different link types, if_tsresol in
// powers of 10 and 2, if_tsoffset, EPB, SPB, the obsolete PB; other blocks
// skipped) and gzip of either (detected by its magic) are read. Several
// files are read one after another and their frames numbered as one
// sequence (Frame.Index), the way mergecap -a would concatenate them;
// tshark reading the same files one at a time numbers each file from 1.
// Simple Packet Blocks carry no timestamp: their frames have TS 0.
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
//
// # UDP listener
//
// Listener (Listen, Run) receives the UDP datagrams of mirror sessions
// itself, as the mirror target, on several SO_REUSEPORT sockets read with
// recvmmsg into preallocated buffers (no allocation per batch). Each
// Datagram carries the UDP payload (VXLAN or GENEVE header onwards, for
// decode.DecodeVXLANPayload / DecodeGENEVEPayload), the kernel receive
// time (SO_TIMESTAMPNS), the outer source address and port and the outer
// destination address (IP_PKTINFO). Kernel drops are read from
// SO_RXQ_OVFL. Sockets use the runtime's poller (non-blocking recvmmsg,
// waiting for readability in between), so cancelling Run's context stops
// every reader at once, without a timeout loop.
//
// # GRE listener
//
// With ListenConfig.Kind GRE, Listen opens one raw IPPROTO_GRE socket
// instead (IPv4, or IPv6 for an IPv6 address; CAP_NET_RAW, a clear error
// without it): ERSPAN and GRE mirror streams from switches, other clouds
// and Linux erspan/gretap devices. A raw socket gets a copy of every GRE
// packet for the host, so one socket is enough; it is read with the same
// recvmmsg machinery, and the outer IPv4 header the kernel returns is
// removed (the outer destination taken from it). Datagram.Data is then
// the GRE header onwards, for decode.DecodeGREPayload. Kind GREUDP is GRE
// over UDP (RFC 8086, port 4754) on the UDP path. NewGRESender is the
// matching sender (a raw GRE socket with sendmmsg), for replay.
//
// # Live capture
//
// LiveSource captures from an interface with AF_PACKET TPACKET_V3 (via
// gopacket/afpacket), optionally in a PACKET_FANOUT_HASH group so that
// several sources, one per goroutine, share the load by flow.
package capture
