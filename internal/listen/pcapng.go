package listen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// pcapRec is one frame in a pcapBatch: buf[off:off+capLen].
type pcapRec struct {
	off, capLen, origLen uint32
	ts                   int64
	sess                 uint32
	link                 decode.LinkType
}

// pcapBatch carries copies of decapsulated frames (cut to the snaplen)
// from a receiver to the pcap writer. Like analysis batches they are
// recycled: a receiver owns one until it sends it.
type pcapBatch struct {
	n    int
	buf  []byte
	recs []pcapRec
}

const pcapBatchBytes = 1 << 20

// pcapWriter writes --write-pcap files: pcapng, one interface (IDB) per
// mirror session and link type, named after the session, so Wireshark
// shows which session each frame came through.
type pcapWriter struct {
	cfg  PcapConfig
	reg  *registry
	log  *slog.Logger
	full chan *pcapBatch
	free chan *pcapBatch

	f       *os.File
	w       *bufio.Writer
	size    int64
	opened  time.Time
	seq     int
	ifaces  map[uint64]uint32
	scratch []byte

	mu       sync.Mutex
	firstErr error
	files    []string

	// reopen asks the writing goroutine to end the current file; the next
	// frame starts a new one (SIGHUP).
	reopen atomic.Bool
}

func newPcapWriter(cfg PcapConfig, reg *registry, log *slog.Logger) (*pcapWriter, error) {
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("--write-pcap: %w", err)
	}
	// Probe that the directory is writable now rather than at the first
	// packet.
	f, err := os.CreateTemp(cfg.Dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("--write-pcap: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	w := &pcapWriter{cfg: cfg, reg: reg, log: log, full: make(chan *pcapBatch, 64), free: make(chan *pcapBatch, 128)}
	for i := 0; i < cap(w.free); i++ {
		w.free <- &pcapBatch{buf: make([]byte, 0, pcapBatchBytes), recs: make([]pcapRec, 0, 1024)}
	}
	return w, nil
}

func (w *pcapWriter) getBatch() *pcapBatch { return <-w.free }

// send queues b for writing (an empty b goes straight back).
func (w *pcapWriter) send(b *pcapBatch) {
	if b == nil {
		return
	}
	if b.n == 0 {
		w.free <- b
		return
	}
	w.full <- b
}

func (w *pcapWriter) close() { close(w.full) }

// abort closes the file if run never ran (New failed later on).
func (w *pcapWriter) abort() {
	if w.f != nil && w.w == nil {
		w.f.Close()
	}
}

func (w *pcapWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstErr
}

// Files returns the files written so far.
func (w *pcapWriter) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.files...)
}

func (w *pcapWriter) setErr(err error) {
	w.mu.Lock()
	if w.firstErr == nil {
		w.firstErr = err
		w.log.Error("writing pcap; further frames are not saved", "err", err)
	}
	w.mu.Unlock()
}

func (w *pcapWriter) run() {
	for b := range w.full {
		if w.err() == nil {
			for i := 0; i < b.n; i++ {
				if err := w.write(&b.recs[i], b.buf); err != nil {
					w.setErr(err)
					break
				}
			}
		}
		b.n, b.buf, b.recs = 0, b.buf[:0], b.recs[:0]
		w.free <- b
	}
	if w.f != nil {
		if err := w.finishFile(); err != nil {
			w.setErr(err)
		}
	}
}

func (w *pcapWriter) write(r *pcapRec, buf []byte) error {
	now := time.Now()
	if w.f != nil && (w.reopen.Swap(false) || (w.cfg.RotateSize > 0 && w.size >= w.cfg.RotateSize) ||
		(w.cfg.RotateInterval > 0 && now.Sub(w.opened) >= w.cfg.RotateInterval)) {
		if err := w.finishFile(); err != nil {
			return err
		}
	}
	if w.f == nil {
		if err := w.openFile(now); err != nil {
			return err
		}
	}
	key := uint64(r.sess)<<16 | uint64(r.link)
	id, ok := w.ifaces[key]
	if !ok {
		id = uint32(len(w.ifaces))
		w.ifaces[key] = id
		if err := w.idb(r.sess, r.link); err != nil {
			return err
		}
	}
	data := buf[r.off : r.off+r.capLen]
	pad := (4 - len(data)%4) % 4
	total := 32 + len(data) + pad
	b := w.scratch[:0]
	b = binary.LittleEndian.AppendUint32(b, 6) // Enhanced Packet Block
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(uint64(r.ts)>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(uint64(r.ts)))
	b = binary.LittleEndian.AppendUint32(b, r.capLen)
	b = binary.LittleEndian.AppendUint32(b, r.origLen)
	b = append(b, data...)
	b = append(b, make([]byte, pad)...)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	w.scratch = b
	_, err := w.w.Write(b)
	w.size += int64(len(b))
	return err
}

func (w *pcapWriter) openFile(now time.Time) error {
	w.seq++
	name := filepath.Join(w.cfg.Dir, fmt.Sprintf("mirrorscope-%s-%04d.pcapng", now.UTC().Format("20060102T150405Z"), w.seq))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	w.f, w.w, w.size, w.opened = f, bufio.NewWriterSize(f, 1<<20), 0, now
	w.ifaces = map[uint64]uint32{}
	w.mu.Lock()
	w.files = append(w.files, name)
	w.mu.Unlock()
	// Section Header Block with shb_userappl.
	var opts []byte
	opts = appendOpt(opts, 4, []byte("mirrorscope listen"))
	opts = appendOpt(opts, 0, nil)
	return w.block(0x0A0D0D0A, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint32(b, 0x1A2B3C4D)
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length unknown
		return append(b, opts...)
	})
}

// idb writes the Interface Description Block of a session: if_name is the
// session ("198.51.100.7 vni 42"), if_description every identifier.
func (w *pcapWriter) idb(sessID uint32, link decode.LinkType) error {
	name, desc := "unknown", ""
	if s := w.reg.byID(sessID); s != nil {
		name, desc = s.name(), s.description()
	}
	snap := uint32(w.cfg.Snaplen)
	if snap == 0 {
		snap = maxDatagram
	}
	if w.cfg.KeepPayload {
		desc += "; frames kept whole"
	} else {
		desc += "; payload cut: IP frames end after their innermost transport header (TCP incl. options, UDP, ICMP) or IP header, original length kept"
	}
	if w.cfg.Snaplen > 0 {
		desc += fmt.Sprintf("; at most %d bytes per frame", w.cfg.Snaplen)
	}
	var opts []byte
	opts = appendOpt(opts, 2, []byte(name))
	opts = appendOpt(opts, 3, []byte(desc))
	opts = appendOpt(opts, 9, []byte{9}) // if_tsresol: nanoseconds
	opts = appendOpt(opts, 0, nil)
	return w.block(1, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint16(b, uint16(link))
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint32(b, snap)
		return append(b, opts...)
	})
}

func (w *pcapWriter) block(typ uint32, body func([]byte) []byte) error {
	bb := body(nil)
	total := 12 + len(bb)
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = append(b, bb...)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	_, err := w.w.Write(b)
	w.size += int64(len(b))
	return err
}

func appendOpt(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(v)%4 != 0 {
		b = append(b, 0)
		v = append(v, 0)
	}
	return b
}

func (w *pcapWriter) finishFile() error {
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f, w.w = nil, nil
	return err
}

// pcapAdd copies the decapsulated frame of the datagram just decoded into
// the receiver's pcap batch, cut to the snaplen.
func (r *receiver) pcapAdd(data []byte, wire int, p *decode.Packet, s *session, ts int64) {
	off, link, ok := r.innerOffset(data, p)
	if !ok || s == nil {
		return
	}
	n := len(data) - off
	if p.CapLen > 0 && int(p.CapLen) < n {
		n = int(p.CapLen)
	}
	orig := max(uint32(n), p.FrameLen)
	if !r.l.cfg.Pcap.KeepPayload {
		if h := headersLen(p); h > 0 && n > h {
			n = h
		}
	}
	if snap := r.l.cfg.Pcap.Snaplen; snap > 0 && n > snap {
		n = snap
	}
	b := r.pc
	if len(b.buf)+n > cap(b.buf) {
		r.l.pcap.send(b)
		b = r.l.pcap.getBatch()
		r.pc = b
	}
	o := len(b.buf)
	b.buf = append(b.buf, data[off:off+n]...)
	b.recs = append(b.recs, pcapRec{off: uint32(o), capLen: uint32(n), origLen: orig, ts: ts, sess: s.id, link: link})
	b.n++
}

// headersLen is the length of p's headers from its link header to the
// end of its innermost transport header (TCP with options, UDP, ICMP), or
// to the end of the IP header when there is none (fragments, other
// protocols); 0 for frames that are not IP (kept whole up to the
// snaplen: ARP and the like carry no payload).
func headersLen(p *decode.Packet) int {
	if p.IPVersion == 0 {
		return 0
	}
	n := int(p.L2Len) + int(p.IPHdrLen)
	if p.L4 {
		switch p.Proto {
		case 6:
			n += int(p.TCP.HdrLen)
		case 17, 1, 58:
			n += 8
		}
	}
	return n
}

// innerOffset finds where the innermost frame starts in a received
// datagram (or frame, for --iface) and its link type.
func (r *receiver) innerOffset(data []byte, p *decode.Packet) (int, decode.LinkType, bool) {
	switch r.kind {
	case "vxlan":
		return 8, decode.LinkEthernet, len(data) >= 8
	case "geneve":
		return geneveInner(data, p)
	case "erspan", "gre-udp":
		return greInner(data, p)
	}
	if p.Encap == decode.EncapNone {
		return 0, decode.LinkEthernet, true
	}
	// A mirror stream captured on an interface: find the outer UDP
	// payload with a decoder that does not decapsulate.
	if r.outer == nil {
		c := r.l.cfg.Engine.Decode
		c.NoDecap = true
		r.outer = decode.New(c)
	}
	var op decode.Packet
	if err := r.outer.Decode(data, decode.LinkEthernet, uint32(len(data)), &op); err != nil || !op.L4 {
		return 0, 0, false
	}
	start := int(op.L2Len) + int(op.IPHdrLen) + 8
	if start > len(data) {
		return 0, 0, false
	}
	pay := data[start:]
	if p.Encap == decode.EncapVXLAN {
		return start + 8, decode.LinkEthernet, len(pay) >= 8
	}
	o, l, ok := geneveInner(pay, p)
	return start + o, l, ok
}

func geneveInner(b []byte, p *decode.Packet) (int, decode.LinkType, bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	hdr := 8 + int(b[0]&0x3f)*4
	if len(b) < hdr {
		return 0, 0, false
	}
	if binary.BigEndian.Uint16(b[2:4]) == 0x6558 {
		return hdr, decode.LinkEthernet, true
	}
	if p.Encap != decode.EncapGENEVEVXLAN {
		return hdr, decode.LinkRaw, true
	}
	// GENEVE carrying IP/UDP/VXLAN: skip the inner IP and UDP headers.
	ip := b[hdr:]
	if len(ip) < 1 {
		return 0, 0, false
	}
	var ihl int
	switch ip[0] >> 4 {
	case 4:
		ihl = int(ip[0]&0xf) * 4
	case 6:
		ihl = 40
		if len(ip) < 40 || ip[6] != 17 {
			// Extension headers: the inner frame is what the decoder
			// measured, at the end of the datagram.
			if int(p.CapLen) > len(b) {
				return 0, 0, false
			}
			return len(b) - int(p.CapLen), decode.LinkEthernet, true
		}
	default:
		return 0, 0, false
	}
	off := hdr + ihl + 8 + 8
	return off, decode.LinkEthernet, off <= len(b)
}
