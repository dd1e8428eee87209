package annotate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/flow"
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
}

// Stats tell what was written.
type Stats struct {
	Frames     uint64
	Commented  uint64
	Interfaces int
	// TwoPass is false when the inputs could be read only once (stdin):
	// comments then carry the packet flags but no flow verdicts.
	TwoPass bool
}

// ErrInputsChanged: pass 2 did not see what pass 1 reported.
var ErrInputsChanged = errors.New("annotate: the inputs changed between the analysis and the annotation pass")

// WriteFile writes the annotated capture to the file out (created or
// truncated). See Write.
func WriteFile(out string, inputs []string, cfg engine.Config, rep *result.Report, opts Options) (*result.Report, Stats, error) {
	f, err := os.Create(out)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("annotate: %w", err)
	}
	r, st, err := Write(f, inputs, cfg, rep, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("annotate: %s: %w", out, cerr)
	}
	return r, st, err
}

// Write reads inputs (the same files, in the same order, that produced
// rep with the engine configuration cfg) and writes them as pcapng to w
// with comments. rep is pass 1's report; with rep nil, or with "-" among
// the inputs, Write makes the only pass itself and comments flags only.
// It returns the report of the pass it made.
//
// A read error ends the output after the last whole frame and is
// returned (a *capture.Error); what was written is a valid pcapng file.
func Write(w io.Writer, inputs []string, cfg engine.Config, rep *result.Report, opts Options) (*result.Report, Stats, error) {
	if opts.Tool == "" {
		opts.Tool = "mirrorscope"
	}
	a := &annotator{
		opts:    opts,
		ng:      &ngWriter{w: bufio.NewWriterSize(w, 1<<16)},
		ifaces:  map[ifaceKey]uint32{},
		verdict: map[uint64]*flowNote{},
	}
	a.st.TwoPass = rep != nil && !slices.Contains(inputs, "-")
	if a.st.TwoPass {
		if err := a.notes(rep); err != nil {
			return nil, a.st, err
		}
	}
	if err := a.ng.section(opts.Tool); err != nil {
		return nil, a.st, fmt.Errorf("annotate: %w", err)
	}
	src, err := capture.OpenFiles(inputs, capture.Options{})
	if err != nil {
		return nil, a.st, fmt.Errorf("annotate: %w", err)
	}
	defer src.Close()
	a.src = src

	user := cfg.OnPacket
	cfg.OnPacket = func(ev *result.PacketEvent) {
		a.onPacket(ev.Packet, ev.Flow, ev.TCP, ev.Err)
		if user != nil {
			user(ev)
		}
	}
	cfg.OnFlowEnd = nil
	eng := engine.New(cfg)
	var fr capture.Frame
	var readErr error
	for {
		if err := src.Next(&fr); err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		a.reset()
		eng.Packet(fr.Data, fr.TS, fr.OrigLen, fr.Link)
		if err := a.write(&fr); err != nil {
			return nil, a.st, err
		}
	}
	if err := a.ng.w.Flush(); err != nil {
		return nil, a.st, fmt.Errorf("annotate: writing: %w", err)
	}
	a.st.Interfaces = int(a.ng.nIfaces)
	got := eng.Finish()
	if a.st.TwoPass && readErr == nil && !sameFlows(rep, got) {
		return got, a.st, ErrInputsChanged
	}
	if readErr != nil {
		return got, a.st, readErr
	}
	return got, a.st, nil
}

func sameFlows(a, b *result.Report) bool {
	if a.Capture.Packets != b.Capture.Packets || len(a.Flows) != len(b.Flows) {
		return false
	}
	for i := range a.Flows {
		if a.Flows[i].ID != b.Flows[i].ID || a.Flows[i].Bytes != b.Flows[i].Bytes {
			return false
		}
	}
	return true
}

// flowNote is what pass 1 says about one flow.
type flowNote struct {
	short   string   // "flow 1: policer at 5.0 Mbit/s"
	summary string   // the diagnosis summary
	first   []string // for the flow's first packet
	seen    bool
	verdict bool
}

type ifaceKey struct {
	in      uint32 // input interface (Frame.Iface)
	decap   bool
	encap   decode.Encap
	src     netip.Addr
	vni     uint32
	hasVNI  bool
	gwlb    uint64
	hasGWLB bool
}

type annotator struct {
	opts    Options
	ng      *ngWriter
	src     *capture.FileSource
	inIf    []capture.Interface
	ifaces  map[ifaceKey]uint32
	verdict map[uint64]*flowNote
	st      Stats

	// the current frame, filled by onPacket
	key     ifaceKey
	inner   int // bytes of outer headers to skip (decap), -1 = as received
	comment []byte
}

func (a *annotator) reset() {
	a.key = ifaceKey{}
	a.inner = -1
	a.comment = a.comment[:0]
}

func limiter(v string) bool {
	switch v {
	case "", "unconstrained", "insufficient_data":
		return false
	}
	return true
}

// notes turns pass 1's verdicts and findings into per-flow comments.
func (a *annotator) notes(rep *result.Report) error {
	for i := range rep.Flows {
		f := &rep.Flows[i]
		if f.Diagnosis == nil {
			continue
		}
		b, err := json.Marshal(f.Diagnosis)
		if err != nil {
			return fmt.Errorf("annotate: flow %d diagnosis: %w", f.ID, err)
		}
		var d struct {
			Verdict string  `json:"verdict"`
			RateBps float64 `json:"rate_bps"`
			Summary string  `json:"summary"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("annotate: flow %d diagnosis: %w", f.ID, err)
		}
		if !limiter(d.Verdict) {
			continue
		}
		n := &flowNote{verdict: true, summary: d.Summary}
		n.short = fmt.Sprintf("flow %d: %s", f.ID, strings.ReplaceAll(d.Verdict, "_", " "))
		if d.RateBps > 0 {
			n.short += fmt.Sprintf(" at %.1f Mbit/s", d.RateBps/1e6)
		}
		n.first = append(n.first, fmt.Sprintf("flow %d %s -> %s: %s: %s", f.ID, f.Client, f.Server, d.Verdict, d.Summary))
		a.verdict[f.ID] = n
	}
	for _, fd := range rep.Findings {
		for _, id := range fd.Flows {
			n := a.verdict[id]
			if n == nil {
				n = &flowNote{}
				a.verdict[id] = n
			}
			s := fmt.Sprintf("finding (%s): %s", fd.Severity, fd.Summary)
			if !slices.Contains(n.first, s) && (n.summary == "" || !strings.Contains(fd.Summary, n.summary)) {
				n.first = append(n.first, s)
			}
		}
	}
	return nil
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

func (a *annotator) onPacket(p *decode.Packet, f *flow.Flow, r *tcpseq.Result, err error) {
	if err == nil && p.Encap != decode.EncapNone && p.CapLen > 0 {
		s := &p.Session
		a.key = ifaceKey{encap: p.Encap, src: s.OuterSrc, vni: s.VNI, hasVNI: s.HasVNI, gwlb: s.GWLBEndpointID, hasGWLB: s.HasGWLB}
		if a.opts.Decap {
			a.key.decap = true
			a.inner = int(p.CapLen)
		}
	}
	if f == nil {
		return
	}
	c := a.comment
	var n *flowNote
	if a.st.TwoPass {
		n = a.verdict[f.ID]
	}
	if n != nil && !n.seen {
		n.seen = true
		for _, s := range n.first {
			c = appendSep(c, s)
		}
	}
	if r != nil && r.Flags&commentFlags != 0 {
		var fl []byte
		for _, o := range flagOrder {
			if r.Flags&o.f != 0 && r.Flags&o.skip == 0 {
				if len(fl) > 0 {
					fl = append(fl, ", "...)
				}
				fl = append(fl, o.name...)
			}
		}
		if n != nil && n.verdict {
			fl = append(fl, "; "...)
			fl = append(fl, n.short...)
		}
		c = appendSep(c, string(fl))
	}
	a.comment = c
}

func appendSep(c []byte, s string) []byte {
	if len(c) == 0 {
		c = append(c, "mirrorscope: "...)
	} else {
		c = append(c, "\nmirrorscope: "...)
	}
	return append(c, s...)
}

func (a *annotator) write(fr *capture.Frame) error {
	k := a.key
	k.in = fr.Iface
	data, orig := fr.Data, fr.OrigLen
	link := uint16(fr.Link)
	if a.inner >= 0 && a.inner <= len(data) {
		// The tunnel payload runs to the end of the outer frame (mirror
		// packets are never short enough to be padded), so the inner
		// frame is the last CapLen bytes; the bytes the capture cut are
		// cut from the inner frame too.
		cut := uint32(0)
		if orig > uint32(len(data)) {
			cut = orig - uint32(len(data))
		}
		data = data[len(data)-a.inner:]
		orig = uint32(len(data)) + cut
		link = uint16(decode.LinkEthernet)
		if k.encap == decode.EncapGENEVE {
			link = uint16(decode.LinkRaw)
		}
	}
	id, ok := a.ifaces[k]
	if !ok {
		var err error
		if id, err = a.newIface(k, fr, link); err != nil {
			return err
		}
	}
	if len(a.comment) > 0 {
		a.st.Commented++
	}
	a.st.Frames++
	if err := a.ng.packet(id, fr.TS, data, orig, a.comment); err != nil {
		return fmt.Errorf("annotate: writing: %w", err)
	}
	return nil
}

func (a *annotator) newIface(k ifaceKey, fr *capture.Frame, link uint16) (uint32, error) {
	if int(fr.Iface) >= len(a.inIf) {
		a.inIf = a.src.Interfaces()
	}
	var in capture.Interface
	if int(fr.Iface) < len(a.inIf) {
		in = a.inIf[fr.Iface]
	}
	from := in.Name
	if from == "" {
		from = fmt.Sprintf("interface %d", fr.Iface)
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
	id, err := a.ng.iface(link, snap, name, desc)
	if err != nil {
		return 0, err
	}
	a.ifaces[k] = id
	return id, nil
}
