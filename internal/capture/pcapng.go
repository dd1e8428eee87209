package capture

import (
	"encoding/binary"
	"io"
	"math/bits"

	"github.com/mirrorscope/mirrorscope/internal/decode"
)

// pcapng block types.
const (
	ngSHB = 0x0A0D0D0A
	ngIDB = 0x00000001
	ngPB  = 0x00000002 // obsolete Packet Block
	ngSPB = 0x00000003
	ngEPB = 0x00000006
)

// pcapng option codes.
const (
	optEnd         = 0
	optIfName      = 2
	optIfDesc      = 3
	optIfTSResol   = 9
	optIfTSOffset  = 14
	ngByteOrderLE  = 0x1A2B3C4D
	ngMinBlock     = 12
	ngMinSHB       = 28
	ngMinIDB       = 20
	ngMinEPB       = 32
	ngMinSPB       = 16
	ngMinPB        = 32
	ngPacketOffset = 28 // EPB and PB packet data offset from block start
)

// nextNG reads pcapng blocks until a packet block, handling SHB and IDB and
// skipping the rest. io.EOF means a clean end of file.
func (s *FileSource) nextNG(f *Frame) error {
	for {
		if s.w-s.r < ngMinBlock {
			if err := s.fill(ngMinBlock); err != nil {
				if err == io.EOF {
					if s.cleanEOF() {
						return io.EOF
					}
					return s.truncated("block header", 0, ngMinBlock)
				}
				return err
			}
		}
		h := s.buf[s.r:]
		typ := s.u32(h)
		if typ == ngSHB {
			// The byte-order magic decides how to read everything else,
			// including this block's length.
			switch binary.LittleEndian.Uint32(h[8:]) {
			case ngByteOrderLE:
				s.be = false
			case 0x4D3C2B1A:
				s.be = true
			default:
				return s.errorf(ErrMalformed, s.off(), 0, "bad section header block", nil,
					"byte-order magic 0x%08x", binary.BigEndian.Uint32(h[8:]))
			}
		} else if s.section < 0 {
			return s.errorf(ErrMalformed, s.off(), 0, "bad block", nil, "pcapng file does not start with a section header block")
		}
		blen := s.u32(h[4:])
		if blen < ngMinBlock || blen%4 != 0 {
			return s.errorf(ErrMalformed, s.off(), 0, "bad block", nil,
				"block type 0x%08x: length %d is not a multiple of 4 of at least 12", typ, blen)
		}
		if blen > s.maxBlock {
			return s.errorf(ErrMalformed, s.off(), 0, "bad block", nil,
				"block type 0x%08x: length %d exceeds limit %d", typ, blen, s.maxBlock)
		}
		n := int(blen)
		if s.w-s.r < n {
			if err := s.fill(n); err != nil {
				if err == io.EOF {
					frame := uint64(0)
					if typ == ngEPB || typ == ngSPB || typ == ngPB {
						frame = s.index + 1
						return s.truncated("record", frame, n)
					}
					return s.truncated("block", 0, n)
				}
				return err
			}
		}
		b := s.buf[s.r : s.r+n : s.r+n]
		if t := s.u32(b[n-4:]); t != blen {
			return s.errorf(ErrMalformed, s.off(), 0, "bad block", nil,
				"block type 0x%08x: trailing length %d differs from leading length %d", typ, t, blen)
		}
		switch typ {
		case ngEPB, ngPB:
			if err := s.ngPacket(f, b, typ); err != nil {
				return err
			}
			s.r += n
			return nil
		case ngSPB:
			if err := s.ngSimplePacket(f, b); err != nil {
				return err
			}
			s.r += n
			return nil
		case ngSHB:
			if err := s.ngSection(b); err != nil {
				return err
			}
		case ngIDB:
			if err := s.ngInterface(b); err != nil {
				return err
			}
		}
		s.r += n
	}
}

func (s *FileSource) ngSection(b []byte) error {
	if len(b) < ngMinSHB {
		return s.errorf(ErrMalformed, s.off(), 0, "bad section header block", nil, "length %d shorter than %d", len(b), ngMinSHB)
	}
	if major := s.u16(b[12:]); major != 1 {
		return s.errorf(ErrMalformed, s.off(), 0, "bad section header block", nil, "unsupported pcapng version %d.%d", major, s.u16(b[14:]))
	}
	s.section++
	s.sectIfcs = s.sectIfcs[:0]
	return nil
}

func (s *FileSource) ngInterface(b []byte) error {
	if len(b) < ngMinIDB {
		return s.errorf(ErrMalformed, s.off(), 0, "bad interface description block", nil, "length %d shorter than %d", len(b), ngMinIDB)
	}
	ifc := Interface{
		Link:    decode.LinkType(s.u16(b[8:])),
		SnapLen: s.u32(b[12:]),
		TSResol: 6,
		File:    s.fileIdx,
		Section: s.section,
		ID:      uint32(len(s.sectIfcs)),
	}
	// Options: malformed trailing options are ignored rather than fatal,
	// since nothing in them is needed to read the packets correctly
	// except if_tsresol/if_tsoffset, which come first in practice.
	opts := b[16 : len(b)-4]
	for len(opts) >= 4 {
		code, olen := s.u16(opts), int(s.u16(opts[2:]))
		if code == optEnd || 4+olen > len(opts) {
			break
		}
		v := opts[4 : 4+olen]
		switch code {
		case optIfName:
			ifc.Name = string(v)
		case optIfDesc:
			ifc.Description = string(v)
		case optIfTSResol:
			if olen == 1 {
				ifc.TSResol = v[0]
			}
		case optIfTSOffset:
			if olen == 8 {
				if s.be {
					ifc.TSOffset = int64(binary.BigEndian.Uint64(v))
				} else {
					ifc.TSOffset = int64(binary.LittleEndian.Uint64(v))
				}
			}
		}
		adv := 4 + (olen+3)&^3
		if adv > len(opts) {
			break
		}
		opts = opts[adv:]
	}
	ni := ngIface{
		global:  uint32(len(s.ifaces)),
		link:    ifc.Link,
		snaplen: ifc.SnapLen,
		tsOff:   ifc.TSOffset * 1e9,
	}
	if ifc.TSResol&0x80 != 0 {
		k := uint(ifc.TSResol & 0x7f)
		if k > 63 {
			return s.errorf(ErrMalformed, s.off(), 0, "bad interface description block", nil, "timestamp resolution 2^-%d is not supported", k)
		}
		ni.tsMode, ni.tsShift = tsPow2, k
	} else {
		k := int(ifc.TSResol)
		switch {
		case k <= 9:
			ni.tsMode, ni.tsK = tsMul, pow10(9-k)
		case k <= 28:
			ni.tsMode, ni.tsK = tsDiv, pow10(k-9)
		default:
			return s.errorf(ErrMalformed, s.off(), 0, "bad interface description block", nil, "timestamp resolution 10^-%d is not supported", k)
		}
	}
	s.sectIfcs = append(s.sectIfcs, ni)
	s.ifaces = append(s.ifaces, ifc)
	return nil
}

func pow10(n int) uint64 {
	v := uint64(1)
	for ; n > 0; n-- {
		v *= 10
	}
	return v
}

// tsNanos converts a pcapng timestamp in interface units to Unix ns.
func (ni *ngIface) tsNanos(ts uint64) int64 {
	switch ni.tsMode {
	case tsMul:
		return int64(ts*ni.tsK) + ni.tsOff
	case tsDiv:
		return int64(ts/ni.tsK) + ni.tsOff
	}
	k := ni.tsShift
	if k == 0 {
		return int64(ts*1e9) + ni.tsOff
	}
	sec := ts >> k
	frac := ts & (1<<k - 1)
	hi, lo := bits.Mul64(frac, 1e9)
	// (hi:lo) >> k, exact floor of frac*1e9/2^k.
	ns := lo>>k | hi<<(64-k)
	return int64(sec*1e9+ns) + ni.tsOff
}

// ngPacket parses an Enhanced Packet Block or an obsolete Packet Block.
func (s *FileSource) ngPacket(f *Frame, b []byte, typ uint32) error {
	if len(b) < ngMinEPB {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad packet block", nil, "length %d shorter than %d", len(b), ngMinEPB)
	}
	var id uint32
	if typ == ngEPB {
		id = s.u32(b[8:])
	} else {
		id = uint32(s.u16(b[8:]))
	}
	if id >= uint32(len(s.sectIfcs)) {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad packet block", nil,
			"interface %d not defined (section has %d interfaces)", id, len(s.sectIfcs))
	}
	capLen := s.u32(b[20:])
	if capLen > s.maxRec {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad packet block", nil,
			"captured length %d exceeds limit %d", capLen, s.maxRec)
	}
	if capLen > uint32(len(b)-ngMinEPB) {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad packet block", nil,
			"captured length %d overruns block length %d", capLen, len(b))
	}
	ni := &s.sectIfcs[id]
	s.index++
	f.TS = ni.tsNanos(uint64(s.u32(b[12:]))<<32 | uint64(s.u32(b[16:])))
	f.CapLen = capLen
	f.OrigLen = s.u32(b[24:])
	f.Link = ni.link
	f.Iface = ni.global
	f.Index = s.index
	f.File = s.fileIdx
	end := ngPacketOffset + int(capLen)
	f.Data = b[ngPacketOffset:end:end]
	return nil
}

// ngSimplePacket parses a Simple Packet Block. It has no timestamp (TS is
// 0) and belongs to interface 0; its captured length is the original
// length limited by the interface snaplen and the block length.
func (s *FileSource) ngSimplePacket(f *Frame, b []byte) error {
	if len(s.sectIfcs) == 0 {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad simple packet block", nil, "no interface defined in section")
	}
	if len(b) < ngMinSPB {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad simple packet block", nil, "length %d shorter than %d", len(b), ngMinSPB)
	}
	ni := &s.sectIfcs[0]
	orig := s.u32(b[8:])
	capLen := orig
	if ni.snaplen != 0 && capLen > ni.snaplen {
		capLen = ni.snaplen
	}
	if room := uint32(len(b) - ngMinSPB); capLen > room {
		capLen = room
	}
	if capLen > s.maxRec {
		return s.errorf(ErrMalformed, s.off(), s.index+1, "bad simple packet block", nil,
			"captured length %d exceeds limit %d", capLen, s.maxRec)
	}
	s.index++
	f.TS = 0
	f.CapLen = capLen
	f.OrigLen = orig
	f.Link = ni.link
	f.Iface = ni.global
	f.Index = s.index
	f.File = s.fileIdx
	end := 12 + int(capLen)
	f.Data = b[12:end:end]
	return nil
}
