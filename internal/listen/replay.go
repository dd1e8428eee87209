package listen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/flow"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	Files []string
	// To is the target HOST:PORT.
	To string
	// VNI wraps plain captures' frames (VXLAN, or VXLAN inside GENEVE).
	VNI uint32
	// PPS paces the stream at a fixed rate (load tests); it overrides
	// Speed.
	PPS float64
	// Speed keeps the capture's own timing, sped up this many times (1:
	// as captured, the default of mirrorscope replay, so a replayed
	// capture gets the verdicts analyze gives on it). 0 with PPS 0 sends
	// as fast as possible.
	Speed float64
	// Loop sends the capture this many times (at least once).
	Loop int
	// LoopPorts adds the pass number (0, 1, 2, ...) to the inner TCP and
	// UDP ports of every frame, so that each pass of a looped capture is
	// new connections. Sent as captured, every pass is the same
	// connections again (same ports, same ISNs), which mirrorscope, like
	// tshark, counts as one connection with retransmitted SYNs. Plain
	// captures only; the inner checksums are not updated.
	LoopPorts bool
	// Encap is "vxlan" or "geneve" (GENEVE with the AWS GWLB options
	// around IPv4/UDP/VXLAN, as a GWLB delivers mirror traffic), or a GRE
	// encapsulation: "erspan2", "erspan3" (ERSPAN type II, III; VNI is
	// the session id, at most 1023) or "gre" (GRE with VNI as key around
	// Ethernet). GRE goes over IP when To has no port (a raw socket:
	// CAP_NET_RAW), over UDP (RFC 8086) when it has one.
	Encap string
	// Sources is the number of UDP source sockets (source ports); each
	// frame goes out of one chosen by a hash of its inner flow and
	// direction, as AWS picks the outer source port.
	Sources int
	// Decode gives the tunnel ports that mark a capture as a mirror
	// capture (whose frames are sent as their UDP payloads).
	Decode decode.Config
	// NoRealtime paces a timed replay (Speed > 0) from an ordinary
	// thread. By default, when the kernel allows it (root or
	// CAP_SYS_NICE), the pacing runs on a SCHED_FIFO thread: on a busy
	// machine an ordinary thread wakes up late and the stream loses the
	// capture's spacing (see realtimePacer).
	NoRealtime bool
	// NoRaw sends through the source UDP sockets even when a raw socket
	// could be opened (see sendSys).
	NoRaw bool
	// GSO coalesces consecutive datagrams of one inner connection and
	// source into UDP GSO sends (see capture.Sender.EnableGSO): far less
	// CPU per datagram for the sender, the same datagrams for the
	// receiver. Uses the UDP sockets (no raw socket).
	GSO bool
}

// ReplayStats counts what Replay did.
type ReplayStats struct {
	Frames   uint64 // frames read (all loops)
	Sent     uint64 // datagrams sent
	Bytes    uint64 // payload bytes sent
	Skipped  uint64 // frames that could not be sent (not IP/Ethernet, undecodable; no receiver yet)
	Batches  uint64 // sendmmsg batches
	Raw      bool   // batches went through a raw socket
	GSO      bool   // runs of datagrams went as UDP GSO sends
	GSOSends uint64 // how many GSO sends (each several datagrams)
	Realtime bool   // a timed replay was paced from a real-time (SCHED_FIFO) thread
	// Late counts the frames of a timed replay that were queued more
	// than LateAfter after their due time, MaxLate the latest: the
	// timing the target saw is off by that much (a sender descheduled
	// on a busy machine or VM), and so may be what it reads from it.
	Late    uint64
	MaxLate time.Duration
	Elapsed time.Duration
}

// LateAfter is how late a timed replay's frame may leave before
// ReplayStats counts it: a millisecond moves RTT samples of a LAN-scale
// path by a tenth and more.
const LateAfter = time.Millisecond

// GWLB ids put in replayed GENEVE packets.
const (
	replayGWLBEndpoint   = 0x0123456789abcdef
	replayGWLBAttachment = 0x0fedcba987654321
)

// Replay sends capture files as a mirror stream.
func Replay(ctx context.Context, cfg ReplayConfig) (ReplayStats, error) {
	var st ReplayStats
	if cfg.Loop < 1 {
		cfg.Loop = 1
	}
	if cfg.Sources < 1 {
		cfg.Sources = 1
	}
	gre := greEncap(cfg.Encap)
	if cfg.Encap != "vxlan" && cfg.Encap != "geneve" && !gre {
		return st, fmt.Errorf("replay: encap %q: want vxlan, geneve, erspan2, erspan3 or gre", cfg.Encap)
	}
	if cfg.VNI > 0xffffff {
		return st, fmt.Errorf("replay: VNI %d has more than 24 bits", cfg.VNI)
	}
	if (cfg.Encap == encapERSPAN2 || cfg.Encap == encapERSPAN3) && cfg.VNI > 1023 {
		return st, fmt.Errorf("replay: ERSPAN session id %d has more than 10 bits", cfg.VNI)
	}
	var q *capture.Sender
	if gre {
		var err error
		if q, err = newGRESender(&cfg); err != nil {
			return st, err
		}
	} else {
		to, err := net.ResolveUDPAddr("udp", cfg.To)
		if err != nil {
			return st, fmt.Errorf("replay: --to %q: %w", cfg.To, err)
		}
		if q, err = capture.NewSender(to, cfg.Sources, 4<<20, cfg.NoRaw); err != nil {
			return st, fmt.Errorf("replay: %w", err)
		}
	}
	defer q.Close()
	if cfg.GSO {
		if err := q.EnableGSO(); err != nil {
			return st, fmt.Errorf("replay: --gso: %w", err)
		}
	}
	st.Raw, st.GSO = q.Raw(), q.GSO()
	outer := cfg.Decode
	outer.NoDecap = true
	odec := decode.New(outer)
	idec := decode.New(cfg.Decode)
	var op, ip decode.Packet
	var key flow.Key
	var gw greWrap
	// Pacing is per batch: a batch holds about a millisecond of the rate
	// (at most maxQueued datagrams) and leaves when the schedule, counted
	// from the start so that it does not drift, says so. The sender
	// sleeps between batches rather than spinning: on a small machine
	// the receiver needs the CPU.
	batch := capture.SendBatch
	if cfg.PPS > 0 {
		batch = min(capture.SendBatch, max(1, int(cfg.PPS/1000)))
	}
	start := time.Now()
	// Capture timing: frame ts is due at clock + (ts - t0)/Speed, counted
	// per pass over the captures.
	timed := cfg.PPS <= 0 && cfg.Speed > 0
	var t0 int64
	var clock time.Time
	var flush func() error
	rt := &realtimePacer{}
	if timed && !cfg.NoRealtime {
		rt = startRealtime()
		defer rt.stop()
		st.Realtime = rt.ok
	}
	// noteLate measures a frame's lateness when it is queued; the queue
	// leaves at the next wait or when full, within a batch's worth of
	// the capture's time (about a millisecond at the rates paced here)
	noteLate := func(due time.Time) {
		l := time.Since(due)
		st.MaxLate = max(st.MaxLate, l)
		if l > LateAfter {
			st.Late++
		}
	}
	pace := func(ts int64) error {
		if t0 == 0 {
			t0, clock = ts, time.Now()
			return nil
		}
		due := clock.Add(time.Duration(float64(ts-t0) / cfg.Speed))
		if d := time.Until(due); d > 20*time.Microsecond {
			// Send what is queued on time, then wait for this frame:
			// sleep for most of the wait, spin the last stretch (timers
			// are late by tens of microseconds to a millisecond, and the
			// diagnosis reads sub-millisecond spacing).
			if q.Len() > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			if rt.ok {
				if ctx.Err() == nil {
					rt.sleepUntil(due)
				}
				noteLate(due)
				return nil
			}
			if d = time.Until(due); d > 2*time.Millisecond {
				select {
				case <-time.After(d - 2*time.Millisecond):
				case <-ctx.Done():
					return nil
				}
			}
			for time.Now().Before(due) {
				runtime.Gosched()
			}
		}
		noteLate(due)
		return nil
	}
	flush = func() error {
		if cfg.PPS > 0 {
			due := start.Add(time.Duration(float64(st.Sent+st.Skipped) / cfg.PPS * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		sent, bytes, skipped, err := q.Flush()
		st.Sent += sent
		st.Bytes += bytes
		st.Skipped += skipped
		st.Batches, st.GSOSends = q.Batches(), q.GSOSends()
		if err != nil {
			return fmt.Errorf("replay: send: %w", err)
		}
		return nil
	}
	done := func(err error) (ReplayStats, error) {
		if err == nil {
			err = flush()
		}
		st.Elapsed = time.Since(start)
		return st, err
	}
	// wrap turns one frame into the datagram to send (appended to dst),
	// its source socket and its GSO group.
	// (A timed replay paces before wrap: pacing may flush the queue, and
	// dst, from q.Begin, must be taken after that. Taken before, the
	// datagram was written past the emptied queue's end while the queue
	// committed, and sent, the stale bytes at its start: frames of one
	// flow went out as copies of another's.)
	// po is the offset in d of the inner TCP/UDP ports (LoopPorts), 0
	// when the frame has none; an error stops the replay.
	var loopErr error
	wrap := func(f *capture.Frame, dst []byte) (d []byte, si int, g uint32, po int, ok bool) {
		if gre {
			d, ok = gw.datagram(dst, f.Data, f.Link, f.TS, odec, &op, &cfg)
		} else {
			d, ok = datagramOf(dst, f.Data, f.Link, f.OrigLen, odec, &op, &cfg)
		}
		if !ok {
			return d, 0, 0, 0, false
		}
		// The source socket is chosen per inner flow and direction;
		// GSO runs stay within one inner connection.
		h := uint32(0)
		if err := idec.Decode(f.Data, f.Link, f.OrigLen, &ip); err == nil && ip.IPVersion != 0 {
			h = dirHash(ip.Src, ip.Dst, ip.SrcPort, ip.DstPort)
			flow.MakeKey(&ip, &key)
			g = uint32(key.Hash()) | 1
			if cfg.LoopPorts {
				po, loopErr = loopPortsOffset(d, f.Data, &ip)
			}
		}
		return d, int(h % uint32(cfg.Sources)), g, po, loopErr == nil
	}
	// With --loop, a capture whose datagrams fit in replayCacheMax is
	// read and wrapped before the first datagram leaves, and every loop
	// is sent from memory: reading the files would slow the first loop
	// down and the schedule would then catch up in a burst.
	var mem *replayCache
	if cfg.Loop > 1 && !timed {
		mem = &replayCache{}
		fits, err := mem.fill(ctx, cfg.Files, wrap)
		if err == nil {
			err = loopErr
		}
		if err != nil {
			return st, fmt.Errorf("replay: %w", err)
		}
		if !fits {
			mem = nil // too large: read the files on every loop
		}
		start = time.Now()
	}
	for loop := 0; loop < cfg.Loop; loop++ {
		t0 = 0 // each pass keeps the capture's timing from its own start
		if mem != nil {
			if err := mem.replay(ctx, q, batch, flush, &st, loop); err != nil {
				return done(err)
			}
			if ctx.Err() != nil {
				return done(nil)
			}
			continue
		}
		src, err := capture.OpenFiles(cfg.Files, capture.Options{})
		if err != nil {
			return done(fmt.Errorf("replay: %w", err))
		}
		var f capture.Frame
		for {
			if st.Frames&1023 == 0 && ctx.Err() != nil {
				src.Close()
				return done(nil)
			}
			err := src.Next(&f)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				return done(fmt.Errorf("replay: %w", err))
			}
			st.Frames++
			if timed {
				if err := pace(f.TS); err != nil {
					src.Close()
					return done(err)
				}
			}
			d, si, g, po, ok := wrap(&f, q.Begin())
			if loopErr != nil {
				src.Close()
				return done(loopErr)
			}
			if !ok {
				st.Skipped++
				continue
			}
			if po > 0 {
				shiftPorts(d[po:], loop)
			}
			q.CommitGroup(si, g, d)
			if q.Len() >= batch || q.Full() {
				if err := flush(); err != nil {
					src.Close()
					return done(err)
				}
			}
		}
		src.Close()
	}
	return done(nil)
}

// fill reads the files into c, wrapped; false when they do not fit in
// replayCacheMax.
func (c *replayCache) fill(ctx context.Context, files []string,
	wrap func(*capture.Frame, []byte) ([]byte, int, uint32, int, bool)) (bool, error) {
	src, err := capture.OpenFiles(files, capture.Options{})
	if err != nil {
		return false, err
	}
	defer src.Close()
	var f capture.Frame
	buf := make([]byte, 0, 65536+128)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return true, nil // the send loop stops at once
		}
		err := src.Next(&f)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		d, si, g, po, ok := wrap(&f, buf[:0])
		if !ok {
			c.skipped++
			continue
		}
		if !c.add(d, si, g, po) {
			return false, nil
		}
	}
}

// loopPortsOffset returns where the inner TCP or UDP ports of frame (whose
// innermost packet is ip) are in its datagram d, which ends with the
// frame as captured; 0 when there are none to shift (other protocols,
// later fragments).
func loopPortsOffset(d, frame []byte, ip *decode.Packet) (int, error) {
	if ip.Encap != decode.EncapNone {
		return 0, errors.New("replay: --loop-ports rewrites plain captures only, and this one is a mirror capture")
	}
	if !ip.L4 || ip.Proto != 6 && ip.Proto != 17 {
		return 0, nil
	}
	po := len(d) - len(frame) + int(ip.L2Len) + int(ip.IPHdrLen)
	if po <= 0 || po+4 > len(d) || binary.BigEndian.Uint16(d[po:]) != ip.SrcPort || binary.BigEndian.Uint16(d[po+2:]) != ip.DstPort {
		return 0, errors.New("replay: --loop-ports: cannot find a frame's ports in its datagram")
	}
	return po, nil
}

// shiftPorts adds n to the two ports at the start of b, staying in
// 1..65535.
func shiftPorts(b []byte, n int) {
	if n == 0 {
		return
	}
	for i := 0; i < 4; i += 2 {
		p := int(binary.BigEndian.Uint16(b[i:]))
		binary.BigEndian.PutUint16(b[i:], uint16((p-1+n)%65535+1))
	}
}

// replayCacheMax bounds the memory replay keeps a looped capture in.
const replayCacheMax = 256 << 20

// replayCache holds one pass over the captures as the datagrams to send.
type replayCache struct {
	data    []byte
	end     []uint32 // end of datagram i in data
	src     []uint16 // its source socket
	group   []uint32 // its GSO group (inner connection)
	ports   []uint16 // offset of its inner ports (LoopPorts), 0 none
	skipped uint64   // frames of one pass that could not be sent
}

func (c *replayCache) add(d []byte, src int, g uint32, po int) bool {
	if len(c.data)+len(d) > replayCacheMax {
		return false
	}
	c.ports = append(c.ports, uint16(po))
	c.data = append(c.data, d...)
	c.end = append(c.end, uint32(len(c.data)))
	c.src = append(c.src, uint16(src))
	c.group = append(c.group, g)
	return true
}

// replay sends pass number loop from memory.
func (c *replayCache) replay(ctx context.Context, q *capture.Sender, batch int, flush func() error, st *ReplayStats, loop int) error {
	st.Frames += c.skipped
	st.Skipped += c.skipped
	start := uint32(0)
	for i, end := range c.end {
		if i&1023 == 0 && ctx.Err() != nil {
			return nil
		}
		st.Frames++
		d := append(q.Begin(), c.data[start:end]...)
		start = end
		if po := c.ports[i]; po > 0 {
			shiftPorts(d[po:], loop)
		}
		q.CommitGroup(int(c.src[i]), c.group[i], d)
		if q.Len() >= batch || q.Full() {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func dirHash(a, b netip.Addr, pa, pb uint16) uint32 {
	h := uint32(2166136261)
	// As16, not AsSlice: no allocation per frame.
	for _, x := range a.As16() {
		h = (h ^ uint32(x)) * 16777619
	}
	for _, x := range b.As16() {
		h = (h ^ uint32(x)) * 31
	}
	h = (h ^ uint32(pa)) * 16777619
	h = (h ^ uint32(pb)<<3) * 16777619
	return h
}

// datagramOf appends to dst the UDP payload to send for one captured
// frame: a mirror capture's own VXLAN/GENEVE payload, or the frame
// wrapped in VXLAN (and GENEVE).
func datagramOf(dst, data []byte, link decode.LinkType, origLen uint32, odec *decode.Decoder, p *decode.Packet, cfg *ReplayConfig) ([]byte, bool) {
	err := odec.Decode(data, link, origLen, p)
	if err == nil && p.L4 && p.Proto == 17 && !p.Fragment &&
		(p.DstPort == cfg.Decode.VXLANPort || p.DstPort == cfg.Decode.GENEVEPort) {
		// A mirror capture: send the tunnel payload as captured.
		off := int(p.L2Len) + int(p.IPHdrLen) + 8
		end := int(p.L2Len) + int(p.IPLen)
		if end > len(data) {
			end = len(data)
		}
		if off > end {
			return dst, false
		}
		pay := data[off:end]
		if p.DstPort == cfg.Decode.VXLANPort && cfg.Encap == "geneve" {
			b := append(dst, make([]byte, genevePrefix)...)
			b = append(b, pay...)
			putGENEVE(b[len(dst):], p.Src, p.Dst)
			return b, true
		}
		return append(dst, pay...), true
	}
	// A plain frame: VXLAN carries Ethernet (and GENEVE VXLAN: its
	// headers are written in front once the length is known).
	v := dst
	if cfg.Encap == "geneve" {
		v = append(v, make([]byte, genevePrefix)...)
	}
	v = appendVXLANHeader(v, cfg.VNI)
	// A non-Ethernet capture (raw IP, Linux SLL) gets an Ethernet header.
	v, ok := appendEthernet(v, dst, data, link, p, err)
	if !ok {
		return dst, false
	}
	if cfg.Encap == "geneve" {
		putGENEVE(v[len(dst):], netip.AddrFrom4([4]byte{198, 18, 0, 1}), netip.AddrFrom4([4]byte{198, 18, 0, 2}))
	}
	return v, true
}

func appendVXLANHeader(b []byte, vni uint32) []byte {
	return append(b, 0x08, 0, 0, 0, byte(vni>>16), byte(vni>>8), byte(vni), 0)
}

// genevePrefix is the length of what putGENEVE writes: GENEVE with the
// three AWS GWLB options (8 + 32 bytes), IPv4 (20) and UDP (8).
const genevePrefix = 68

// putGENEVE writes into b[:genevePrefix] a GENEVE header with the three
// AWS GWLB options, then an IPv4/UDP header to port 4789 from src to dst,
// for the VXLAN datagram in b[genevePrefix:], as a Gateway Load Balancer
// delivers a mirror packet. (Written in place so that wrapping allocates
// nothing.)
func putGENEVE(b []byte, src, dst netip.Addr) {
	const optWords = 3 + 3 + 2
	vxlanLen := len(b) - genevePrefix
	h := b[:0]
	h = append(h, optWords, 0, 0x08, 0x00, 0, 0, 0, 0) // ver 0, opt len, proto IPv4, VNI 0
	h = append(h, 0x01, 0x08, 1, 2)
	h = binary.BigEndian.AppendUint64(h, replayGWLBEndpoint)
	h = append(h, 0x01, 0x08, 2, 2)
	h = binary.BigEndian.AppendUint64(h, replayGWLBAttachment)
	h = append(h, 0x01, 0x08, 3, 1)
	h = binary.BigEndian.AppendUint32(h, 0x5eed)
	s4, d4 := src.As4(), dst.As4()
	if !src.Is4() || !dst.Is4() {
		s4, d4 = [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	}
	total := 20 + 8 + vxlanLen
	ip := len(h)
	h = append(h, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0, 0, 64, 17, 0, 0)
	h = append(h, s4[:]...)
	h = append(h, d4[:]...)
	binary.BigEndian.PutUint16(h[ip+10:], ipChecksum(h[ip:ip+20]))
	ul := 8 + vxlanLen
	_ = append(h, 0xc0, 0x01, 0x12, 0xb5, byte(ul>>8), byte(ul), 0, 0) // 49153 -> 4789, no checksum
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
