package annotate

import (
	"bufio"
	"encoding/binary"
	"fmt"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	optEnd      = 0
	optComment  = 1
	optShbAppl  = 4
	optIfName   = 2
	optIfDesc   = 3
	optIfTSResl = 9
)

// ngWriter writes one pcapng section. It owns scratch buffers reused for
// every block; the caller's data is only read during a call.
type ngWriter struct {
	w       *bufio.Writer
	scratch []byte
	nIfaces uint32
}

func pad4(n int) int { return (4 - n%4) % 4 }

func appendOpt(b []byte, code uint16, val []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for i := pad4(len(val)); i > 0; i-- {
		b = append(b, 0)
	}
	return b
}

func (n *ngWriter) block(typ uint32, body []byte) error {
	total := uint32(12 + len(body))
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], total)
	n.w.Write(h[:])
	n.w.Write(body)
	_, err := n.w.Write(h[4:8])
	return err
}

func (n *ngWriter) section(app string) error {
	b := n.scratch[:0]
	b = binary.LittleEndian.AppendUint32(b, 0x1A2B3C4D)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length unknown
	b = appendOpt(b, optShbAppl, []byte(app))
	b = appendOpt(b, optEnd, nil)
	n.scratch = b
	return n.block(blockSHB, b)
}

// iface writes an IDB and returns its interface id.
func (n *ngWriter) iface(link uint16, snaplen uint32, name, desc string) (uint32, error) {
	if len(name) > 0xffff || len(desc) > 0xffff {
		return 0, fmt.Errorf("annotate: interface name or description too long")
	}
	b := n.scratch[:0]
	b = binary.LittleEndian.AppendUint16(b, link)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	if name != "" {
		b = appendOpt(b, optIfName, []byte(name))
	}
	if desc != "" {
		b = appendOpt(b, optIfDesc, []byte(desc))
	}
	b = appendOpt(b, optIfTSResl, []byte{9}) // nanoseconds
	b = appendOpt(b, optEnd, nil)
	n.scratch = b
	id := n.nIfaces
	n.nIfaces++
	return id, n.block(blockIDB, b)
}

// packet writes an EPB; comment may be empty.
func (n *ngWriter) packet(iface uint32, ts int64, data []byte, origLen uint32, comment []byte) error {
	b := n.scratch[:0]
	b = binary.LittleEndian.AppendUint32(b, iface)
	u := uint64(ts)
	b = binary.LittleEndian.AppendUint32(b, uint32(u>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(u))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	if origLen < uint32(len(data)) {
		origLen = uint32(len(data))
	}
	b = binary.LittleEndian.AppendUint32(b, origLen)
	b = append(b, data...)
	for i := pad4(len(data)); i > 0; i-- {
		b = append(b, 0)
	}
	if len(comment) > 0 {
		if len(comment) > 0xffff {
			comment = comment[:0xffff]
		}
		b = appendOpt(b, optComment, comment)
		b = appendOpt(b, optEnd, nil)
	}
	n.scratch = b
	return n.block(blockEPB, b)
}
