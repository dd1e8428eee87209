package annotate

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// Options choose how the capture is written.
type Options struct {
	// Decap writes mirror packets as their inner frames (Ethernet, or raw
	// IP for GENEVE without VXLAN), without the outer headers; other
	// frames are written as received.
	Decap bool
	// Tool is the shb_userappl of the section; default "mirrorscope".
	Tool string
	// Interfaces describes the input's interfaces, indexed by
	// PacketEvent.Iface (capture.FileSource.Interfaces); nil names them
	// "interface N".
	Interfaces func() []capture.Interface
	// SpoolDir holds the spool file while the analysis runs; default the
	// output file's directory (Create) or the system's temporary one.
	SpoolDir string
}

// Stats tell what was written.
type Stats struct {
	Frames     uint64
	Commented  uint64
	Interfaces int
}

// Writer writes the annotated capture of one analysis: the engine hands
// it every frame (OnPacket, as engine.Config.OnPacket), and Finish, given
// the analysis' report, writes the pcapng with each flow's verdict on
// its packets. Frames are spooled to a temporary file in between, since
// the verdicts exist only at the end: the input is read once.
type Writer struct {
	opts  Options
	out   io.Writer
	file  *os.File // the output, when Create opened it
	spool *os.File
	sw    *bufio.Writer
	err   error // first spool error; the events after it are dropped

	inIf   []capture.Interface
	ifaces map[ifaceKey]uint32
	st     Stats

	rec     []byte // scratch: one spool record
	comment []byte // scratch: the flags comment of the frame
}

// Spool records: an interface, or a frame with what its comment needs
// besides the report.
const (
	recIface byte = 'I'
	recFrame byte = 'F'
)

// Create creates the output file out now (so that a bad path fails before
// the analysis) and returns a Writer for it.
func Create(out string, opts Options) (*Writer, error) {
	f, err := os.Create(out)
	if err != nil {
		return nil, fmt.Errorf("annotate: %w", err)
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = filepath.Dir(out)
	}
	a, err := New(f, opts)
	if err != nil {
		f.Close()
		os.Remove(out)
		return nil, err
	}
	a.file = f
	return a, nil
}

// New returns a Writer that writes the annotated capture to w at Finish.
func New(w io.Writer, opts Options) (*Writer, error) {
	if opts.Tool == "" {
		opts.Tool = "mirrorscope"
	}
	sp, err := os.CreateTemp(opts.SpoolDir, ".mirrorscope-annotate-*.spool")
	if err != nil {
		return nil, fmt.Errorf("annotate: spool: %w", err)
	}
	// The spool is unlinked at once where the system allows: nothing is
	// left behind if the process dies.
	_ = os.Remove(sp.Name())
	return &Writer{
		opts:   opts,
		out:    w,
		spool:  sp,
		sw:     bufio.NewWriterSize(sp, 1<<16),
		ifaces: map[ifaceKey]uint32{},
	}, nil
}

// OnPacket takes one frame from the engine (engine.Config.OnPacket): its
// raw bytes, its session and its TCP flags go to the spool. Frames handed
// over decoded, without their raw bytes, are not written.
func (a *Writer) OnPacket(ev *result.PacketEvent) {
	if a.err != nil || ev.Data == nil {
		return
	}
	key := ifaceKey{in: ev.Iface}
	data, orig := ev.Data, ev.OrigLen
	link := uint16(ev.Link)
	p := ev.Packet
	if ev.Err == nil && p != nil && p.Encap != decode.EncapNone && p.CapLen > 0 {
		s := &p.Session
		key.encap, key.src, key.vni, key.hasVNI, key.gwlb, key.hasGWLB = p.Encap, s.OuterSrc, s.VNI, s.HasVNI, s.GWLBEndpointID, s.HasGWLB
		if a.opts.Decap && int(p.CapLen) <= len(data) {
			key.decap = true
			// The tunnel payload runs to the end of the outer frame
			// (mirror packets are never short enough to be padded), so
			// the inner frame is the last CapLen bytes; the bytes the
			// capture cut are cut from the inner frame too.
			cut := uint32(0)
			if orig > uint32(len(data)) {
				cut = orig - uint32(len(data))
			}
			data = data[len(data)-int(p.CapLen):]
			orig = uint32(len(data)) + cut
			link = uint16(decode.LinkEthernet)
			if p.Encap == decode.EncapGENEVE {
				link = uint16(decode.LinkRaw)
			}
		}
	}
	id, ok := a.ifaces[key]
	if !ok {
		id = a.newIface(key, link)
	}
	var flowID uint64
	var first bool
	c := a.comment[:0]
	if f := ev.Flow; f != nil {
		flowID, first = f.ID, f.Packets() == 1
		if r := ev.TCP; r != nil && r.Flags&commentFlags != 0 {
			for _, o := range flagOrder {
				if r.Flags&o.f != 0 && r.Flags&o.skip == 0 {
					if len(c) > 0 {
						c = append(c, ", "...)
					}
					c = append(c, o.name...)
				}
			}
		}
	}
	a.comment = c
	b := append(a.rec[:0], recFrame)
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint64(b, uint64(ev.TS))
	b = binary.LittleEndian.AppendUint32(b, orig)
	b = binary.LittleEndian.AppendUint64(b, flowID)
	if first {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c)))
	a.rec = b
	a.write(b)
	a.write(data)
	a.write(c)
	a.st.Frames++
}

func (a *Writer) write(b []byte) {
	if a.err == nil {
		if _, err := a.sw.Write(b); err != nil {
			a.err = fmt.Errorf("annotate: spool: %w", err)
		}
	}
}

func appendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// newIface numbers a new output interface and spools its description.
func (a *Writer) newIface(k ifaceKey, link uint16) uint32 {
	if int(k.in) >= len(a.inIf) && a.opts.Interfaces != nil {
		a.inIf = a.opts.Interfaces()
	}
	var in capture.Interface
	if int(k.in) < len(a.inIf) {
		in = a.inIf[k.in]
	}
	from := in.Name
	if from == "" {
		from = fmt.Sprintf("interface %d", k.in)
	}
	snap := in.SnapLen
	if snap == 0 {
		snap = 262144
	}
	name, desc := from, in.Description
	if k.src.IsValid() {
		sess := "outer source " + k.src.String()
		if k.hasVNI {
			sess += fmt.Sprintf(" VNI %d", k.vni)
		}
		if k.hasGWLB {
			sess += fmt.Sprintf(" GWLB endpoint %016x", k.gwlb)
		}
		name = fmt.Sprintf("mirror %s vni %d", k.src, k.vni)
		how := "as received, outer headers kept"
		if k.decap {
			how = "decapsulated: inner frames"
		}
		desc = fmt.Sprintf("AWS traffic mirror session: %s (%s; %s; from %s)", sess, k.encap, how, from)
	}
	id := uint32(len(a.ifaces))
	a.ifaces[k] = id
	b := []byte{recIface}
	b = binary.LittleEndian.AppendUint16(b, link)
	b = binary.LittleEndian.AppendUint32(b, snap)
	b = appendStr(b, name)
	b = appendStr(b, desc)
	a.write(b)
	return id
}

// Finish writes the annotated capture: every spooled frame, with its
// flags and its flow's verdict (from rep, the report of the analysis
// that fed OnPacket) as comments. rep may be nil (flags only). The
// output file of Create is closed. What was written is a valid pcapng
// file even when the analysis stopped early at a read error.
func (a *Writer) Finish(rep *result.Report) (Stats, error) {
	defer a.Close()
	if a.err != nil {
		return a.st, a.err
	}
	notes := map[uint64]*flowNote{}
	if rep != nil {
		var err error
		if notes, err = flowNotes(rep); err != nil {
			return a.st, err
		}
	}
	if err := a.sw.Flush(); err != nil {
		return a.st, fmt.Errorf("annotate: spool: %w", err)
	}
	if _, err := a.spool.Seek(0, io.SeekStart); err != nil {
		return a.st, fmt.Errorf("annotate: spool: %w", err)
	}
	ng := &ngWriter{w: bufio.NewWriterSize(a.out, 1<<16)}
	if err := ng.section(a.opts.Tool); err != nil {
		return a.st, fmt.Errorf("annotate: %w", err)
	}
	if err := a.replay(bufio.NewReaderSize(a.spool, 1<<16), ng, notes); err != nil {
		return a.st, err
	}
	if err := ng.w.Flush(); err != nil {
		return a.st, fmt.Errorf("annotate: writing: %w", err)
	}
	a.st.Interfaces = int(ng.nIfaces)
	if a.file != nil {
		f := a.file
		a.file = nil
		if err := f.Close(); err != nil {
			return a.st, fmt.Errorf("annotate: %s: %w", f.Name(), err)
		}
	}
	return a.st, nil
}

// replay reads the spool and writes the pcapng.
func (a *Writer) replay(r *bufio.Reader, ng *ngWriter, notes map[uint64]*flowNote) error {
	var hdr [33]byte
	var data, flags, c []byte
	bad := func(err error) error { return fmt.Errorf("annotate: spool: %w", err) }
	readStr := func() (string, error) {
		if _, err := io.ReadFull(r, hdr[:4]); err != nil {
			return "", err
		}
		b := make([]byte, binary.LittleEndian.Uint32(hdr[:4]))
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	for {
		kind, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad(err)
		}
		switch kind {
		case recIface:
			if _, err := io.ReadFull(r, hdr[:6]); err != nil {
				return bad(err)
			}
			link, snap := binary.LittleEndian.Uint16(hdr[:2]), binary.LittleEndian.Uint32(hdr[2:6])
			name, err := readStr()
			if err != nil {
				return bad(err)
			}
			desc, err := readStr()
			if err != nil {
				return bad(err)
			}
			if _, err := ng.iface(link, snap, name, desc); err != nil {
				return fmt.Errorf("annotate: writing: %w", err)
			}
		case recFrame:
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return bad(err)
			}
			le := binary.LittleEndian
			id, ts, orig := le.Uint32(hdr[0:]), int64(le.Uint64(hdr[4:])), le.Uint32(hdr[12:])
			flowID, first := le.Uint64(hdr[16:]), hdr[24] == 1
			data = grow(data, int(le.Uint32(hdr[25:])))
			flags = grow(flags, int(le.Uint32(hdr[29:])))
			if _, err := io.ReadFull(r, data); err != nil {
				return bad(err)
			}
			if _, err := io.ReadFull(r, flags); err != nil {
				return bad(err)
			}
			c = c[:0]
			n := notes[flowID]
			if n != nil && first {
				for _, s := range n.first {
					c = appendSep(c, s)
				}
			}
			if len(flags) > 0 {
				if n != nil && n.verdict {
					c = appendSep(c, string(flags)+"; "+n.short)
				} else {
					c = appendSep(c, string(flags))
				}
			}
			if len(c) > 0 {
				a.st.Commented++
			}
			if err := ng.packet(id, ts, data, orig, c); err != nil {
				return fmt.Errorf("annotate: writing: %w", err)
			}
		default:
			return bad(errors.New("corrupt record"))
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// Close releases the spool. The output file of Create is removed if
// Finish did not write it (nothing could be analysed, or it failed). It is
// safe to call more than once.
func (a *Writer) Close() {
	if a.spool != nil {
		name := a.spool.Name()
		a.spool.Close()
		os.Remove(name) // where the early unlink was not allowed
		a.spool = nil
	}
	if a.file != nil {
		a.file.Close()
		os.Remove(a.file.Name())
		a.file = nil
	}
}

// flowNote is what the report says about one flow.
type flowNote struct {
	short   string   // "flow 1: policer at 5.0 Mbit/s"
	first   []string // for the flow's first packet
	verdict bool
}

type ifaceKey struct {
	in      uint32 // input interface (PacketEvent.Iface)
	decap   bool
	encap   decode.Encap
	src     netip.Addr
	vni     uint32
	hasVNI  bool
	gwlb    uint64
	hasGWLB bool
}

func limiter(v string) bool {
	switch v {
	case "", "unconstrained", "insufficient_data":
		return false
	}
	return true
}

// flowNotes turns the report's verdicts and findings into per-flow
// comments.
func flowNotes(rep *result.Report) (map[uint64]*flowNote, error) {
	notes := map[uint64]*flowNote{}
	summaries := map[uint64]string{}
	for i := range rep.Flows {
		f := &rep.Flows[i]
		if f.Diagnosis == nil {
			continue
		}
		b, err := json.Marshal(f.Diagnosis)
		if err != nil {
			return nil, fmt.Errorf("annotate: flow %d diagnosis: %w", f.ID, err)
		}
		var d struct {
			Verdict string  `json:"verdict"`
			RateBps float64 `json:"rate_bps"`
			Summary string  `json:"summary"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("annotate: flow %d diagnosis: %w", f.ID, err)
		}
		if !limiter(d.Verdict) {
			continue
		}
		n := &flowNote{verdict: true}
		summaries[f.ID] = d.Summary
		n.short = fmt.Sprintf("flow %d: %s", f.ID, strings.ReplaceAll(d.Verdict, "_", " "))
		if d.RateBps > 0 {
			n.short += fmt.Sprintf(" at %.1f Mbit/s", d.RateBps/1e6)
		}
		n.first = append(n.first, fmt.Sprintf("flow %d %s -> %s: %s: %s", f.ID, f.Client, f.Server, d.Verdict, d.Summary))
		notes[f.ID] = n
	}
	for _, fd := range rep.Findings {
		for _, id := range fd.Flows {
			n := notes[id]
			if n == nil {
				n = &flowNote{}
				notes[id] = n
			}
			s := fmt.Sprintf("finding (%s): %s", fd.Severity, fd.Summary)
			if sum := summaries[id]; !slices.Contains(n.first, s) && (sum == "" || !strings.Contains(fd.Summary, sum)) {
				n.first = append(n.first, s)
			}
		}
	}
	return notes, nil
}

var flagOrder = []struct {
	f    tcpseq.Flag
	name string
	skip tcpseq.Flag // a more specific flag already said it
}{
	{tcpseq.SpuriousRetransmission, "spurious retransmission", 0},
	{tcpseq.FastRetransmission, "fast retransmission", 0},
	{tcpseq.Retransmission, "retransmission", tcpseq.SpuriousRetransmission | tcpseq.FastRetransmission},
	{tcpseq.LostSegment, "previous segment not captured (lost)", 0},
	{tcpseq.AckLostSegment, "ACKed unseen segment", 0},
	{tcpseq.OutOfOrder, "out of order", 0},
	{tcpseq.DuplicateAck, "duplicate ACK", 0},
	{tcpseq.ZeroWindow, "zero window", 0},
	{tcpseq.ZeroWindowProbe, "zero window probe", 0},
	{tcpseq.ZeroWindowProbeAck, "zero window probe ACK", 0},
	{tcpseq.WindowFull, "window full", 0},
	{tcpseq.KeepAlive, "keep-alive", 0},
	{tcpseq.KeepAliveAck, "keep-alive ACK", 0},
	{tcpseq.ReusedPorts, "reused ports", 0},
	{tcpseq.Reset, "reset", 0},
}

// commentFlags are the flags that earn a comment (window updates are
// routine and Wireshark shows them anyway).
const commentFlags = ^tcpseq.WindowUpdate

func appendSep(c []byte, s string) []byte {
	if len(c) == 0 {
		c = append(c, "mirrorscope: "...)
	} else {
		c = append(c, "\nmirrorscope: "...)
	}
	return append(c, s...)
}
