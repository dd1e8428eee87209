package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngBuilder assembles pcapng bytes block by block, in either byte order,
// for tests that need exact control over the file (hostile lengths, SPB,
// obsolete PB, power-of-2 resolutions, several sections).
type ngBuilder struct {
	bytes.Buffer
	bo byteOrder
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func (b *ngBuilder) u16(v uint16) []byte { return b.bo.AppendUint16(nil, v) }
func (b *ngBuilder) u32(v uint32) []byte { return b.bo.AppendUint32(nil, v) }

func pad4(p []byte) []byte {
	for len(p)%4 != 0 {
		p = append(p, 0)
	}
	return p
}

// block writes a block with the given body (padded to 4).
func (b *ngBuilder) block(typ uint32, body []byte) *ngBuilder {
	body = pad4(append([]byte(nil), body...))
	l := uint32(12 + len(body))
	b.Write(b.u32(typ))
	b.Write(b.u32(l))
	b.Write(body)
	b.Write(b.u32(l))
	return b
}

func (b *ngBuilder) shb() *ngBuilder {
	var body []byte
	body = append(body, b.u32(0x1A2B3C4D)...)
	body = append(body, b.u16(1)...)
	body = append(body, b.u16(0)...)
	body = append(body, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // section length unknown
	return b.block(ngSHB, body)
}

type ngOpt struct {
	code uint16
	val  []byte
}

func (b *ngBuilder) idb(link uint16, snap uint32, opts ...ngOpt) *ngBuilder {
	var body []byte
	body = append(body, b.u16(link)...)
	body = append(body, 0, 0)
	body = append(body, b.u32(snap)...)
	for _, o := range opts {
		body = append(body, b.u16(o.code)...)
		body = append(body, b.u16(uint16(len(o.val)))...)
		body = pad4(append(body, o.val...))
	}
	if len(opts) > 0 {
		body = append(body, 0, 0, 0, 0)
	}
	return b.block(ngIDB, body)
}

func (b *ngBuilder) epb(id uint32, ts uint64, orig uint32, data []byte) *ngBuilder {
	var body []byte
	body = append(body, b.u32(id)...)
	body = append(body, b.u32(uint32(ts>>32))...)
	body = append(body, b.u32(uint32(ts))...)
	body = append(body, b.u32(uint32(len(data)))...)
	body = append(body, b.u32(orig)...)
	body = append(body, data...)
	return b.block(ngEPB, body)
}

func (b *ngBuilder) pb(id uint16, ts uint64, orig uint32, data []byte) *ngBuilder {
	var body []byte
	body = append(body, b.u16(id)...)
	body = append(body, 0, 0) // drops
	body = append(body, b.u32(uint32(ts>>32))...)
	body = append(body, b.u32(uint32(ts))...)
	body = append(body, b.u32(uint32(len(data)))...)
	body = append(body, b.u32(orig)...)
	body = append(body, data...)
	return b.block(ngPB, body)
}

func (b *ngBuilder) spb(orig uint32, data []byte) *ngBuilder {
	return b.block(ngSPB, append(b.u32(orig), data...))
}

// pcapBytes builds a classic pcap file by hand.
func pcapBytes(bo byteOrder, magic uint32, link uint32, recs ...pcapRec) []byte {
	var p []byte
	p = bo.AppendUint32(p, magic)
	p = bo.AppendUint16(p, 2)
	p = bo.AppendUint16(p, 4)
	p = bo.AppendUint32(p, 0)
	p = bo.AppendUint32(p, 0)
	p = bo.AppendUint32(p, 65535)
	p = bo.AppendUint32(p, link)
	for _, r := range recs {
		p = bo.AppendUint32(p, r.sec)
		p = bo.AppendUint32(p, r.frac)
		capLen := uint32(len(r.data))
		if r.capLen != 0 {
			capLen = r.capLen
		}
		p = bo.AppendUint32(p, capLen)
		p = bo.AppendUint32(p, r.orig)
		if magic == 0xa1b2cd34 {
			p = append(p, 1, 2, 3, 4, 0, 8, 0, 0) // ifindex, protocol, pkt_type, pad
		}
		p = append(p, r.data...)
	}
	return p
}

type pcapRec struct {
	sec, frac uint32
	capLen    uint32 // overrides len(data) when non-zero
	orig      uint32
	data      []byte
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// synthPackets makes n packets of random sizes (some of them truncated by
// snap) with timestamps that mostly advance and sometimes step back, like
// a multi-CPU capture.
func synthPackets(n int, snap int, seed uint64) ([]gopacket.CaptureInfo, [][]byte) {
	rng := rand.New(rand.NewPCG(seed, 1))
	ts := time.Unix(1700000000, 123456000)
	cis := make([]gopacket.CaptureInfo, n)
	datas := make([][]byte, n)
	for i := range n {
		orig := 40 + rng.IntN(9000)
		capLen := min(orig, snap)
		d := make([]byte, capLen)
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		step := time.Duration(rng.IntN(2000)) * time.Microsecond
		if rng.IntN(20) == 0 {
			step = -150 * time.Microsecond
		}
		ts = ts.Add(step)
		cis[i] = gopacket.CaptureInfo{Timestamp: ts, CaptureLength: capLen, Length: orig}
		datas[i] = d
	}
	return cis, datas
}

// genPcap writes packets with pcapgo's writer (micro or nanosecond).
func genPcap(t testing.TB, nanos bool, cis []gopacket.CaptureInfo, datas [][]byte, snap uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if nanos {
		w = pcapgo.NewWriterNanos(&b)
	}
	if err := w.WriteFileHeader(snap, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range cis {
		if err := w.WritePacket(cis[i], datas[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// genNg writes packets with pcapgo's pcapng writer over two interfaces with
// different link types; odd packets go to the second interface.
func genNg(t testing.TB, cis []gopacket.CaptureInfo, datas [][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{
		Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{
		Name: "tun0", Description: "raw tunnel", LinkType: layers.LinkTypeRaw, SnapLength: 65535,
		TimestampResolution: 9,
	}); err != nil {
		t.Fatal(err)
	}
	for i := range cis {
		ci := cis[i]
		ci.InterfaceIndex = i % 2
		if err := w.WritePacket(ci, datas[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
