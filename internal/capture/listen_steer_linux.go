//go:build linux

package capture

import (
	"fmt"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Symmetric flow steering across the SO_REUSEPORT group.
//
// By default the kernel picks the socket of a reuseport group by a hash
// of the datagram's 4-tuple. AWS (and the kernel's own vxlan device)
// derive the outer source port from the inner flow per direction, so the
// two directions of one connection would land on different sockets, be
// read by different goroutines and reach their shard in an order that is
// not the order they arrived in: an ACK could be analysed before the data
// it acknowledges. A classic BPF program attached with
// SO_ATTACH_REUSEPORT_CBPF instead picks the socket by a direction-free
// hash of the inner addresses and ports (the program sees the datagram
// from the UDP payload on), so a connection stays on one socket and in
// order. Packets it cannot parse (non-IP, IPv4 with options) go by inner
// addresses only or to socket 0.

type steerAsm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fix    []steerFixup
}

type steerFixup struct {
	at        int
	tr, fl, j string
}

func (a *steerAsm) add(i ...bpf.Instruction) { a.ins = append(a.ins, i...) }
func (a *steerAsm) label(n string)           { a.labels[n] = len(a.ins) }
func (a *steerAsm) jeq(v uint32, tr, fl string) {
	a.fix = append(a.fix, steerFixup{at: len(a.ins), tr: tr, fl: fl})
	a.ins = append(a.ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: v})
}
func (a *steerAsm) ja(to string) {
	a.fix = append(a.fix, steerFixup{at: len(a.ins), j: to})
	a.ins = append(a.ins, bpf.Jump{})
}

func (a *steerAsm) resolve() ([]bpf.Instruction, error) {
	for _, f := range a.fix {
		skip := func(l string) (uint8, error) {
			if l == "" {
				return 0, nil
			}
			t, ok := a.labels[l]
			if !ok || t <= f.at || t-f.at-1 > 255 {
				return 0, fmt.Errorf("bpf label %q", l)
			}
			return uint8(t - f.at - 1), nil
		}
		if f.j != "" {
			t, ok := a.labels[f.j]
			if !ok || t <= f.at {
				return nil, fmt.Errorf("bpf label %q", f.j)
			}
			a.ins[f.at] = bpf.Jump{Skip: uint32(t - f.at - 1)}
			continue
		}
		st, err := skip(f.tr)
		if err != nil {
			return nil, err
		}
		sf, err := skip(f.fl)
		if err != nil {
			return nil, err
		}
		j := a.ins[f.at].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = st, sf
		a.ins[f.at] = j
	}
	return a.ins, nil
}

// Scratch slots.
const (
	steerMHash  = 0
	steerMPorts = 1
	steerMTmp   = 2
	steerMBase  = 15
)

// steerProgram returns the program for a group of n sockets. geneve says
// the datagrams are GENEVE carrying IPv4/UDP/VXLAN (AWS GWLB); otherwise
// they are VXLAN. The Ethernet frame inside VXLAN starts at base+8.
func steerProgram(n int, geneve bool) ([]bpf.RawInstruction, error) {
	a := &steerAsm{labels: map[string]int{}}
	if geneve {
		// base = GENEVE header (8 + options) + inner IPv4 (20) + UDP (8).
		a.add(bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3f},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2},
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 36})
	} else {
		a.add(bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
	}
	a.add(bpf.StoreScratch{Src: bpf.RegA, N: steerMBase},
		bpf.LoadConstant{Dst: bpf.RegA, Val: 0},
		bpf.StoreScratch{Src: bpf.RegA, N: steerMHash},
		bpf.StoreScratch{Src: bpf.RegA, N: steerMPorts},
		bpf.LoadScratch{Dst: bpf.RegX, N: steerMBase})
	const eth = 8 // VXLAN header
	const ip = eth + 14
	// xorWord folds the 32-bit word at base+off into the hash.
	xorWord := func(off uint32) {
		a.add(bpf.LoadScratch{Dst: bpf.RegX, N: steerMBase},
			bpf.LoadIndirect{Off: off, Size: 4},
			bpf.LoadScratch{Dst: bpf.RegX, N: steerMHash},
			bpf.ALUOpX{Op: bpf.ALUOpXor},
			bpf.StoreScratch{Src: bpf.RegA, N: steerMHash})
	}
	loadPorts := func(off uint32) {
		a.add(bpf.LoadScratch{Dst: bpf.RegX, N: steerMBase},
			bpf.LoadIndirect{Off: off, Size: 4},
			bpf.StoreScratch{Src: bpf.RegA, N: steerMPorts})
	}
	a.add(bpf.LoadIndirect{Off: eth + 12, Size: 2})
	a.jeq(0x0800, "v4", "")
	a.jeq(0x86dd, "v6", "")
	a.add(bpf.RetConstant{Val: 0})

	a.label("v4")
	xorWord(ip + 12)
	xorWord(ip + 16)
	a.add(bpf.LoadScratch{Dst: bpf.RegX, N: steerMBase}, bpf.LoadIndirect{Off: ip, Size: 1})
	a.jeq(0x45, "", "mix")
	a.add(bpf.LoadIndirect{Off: ip + 9, Size: 1})
	a.jeq(6, "v4p", "")
	a.jeq(17, "v4p", "mix")
	a.label("v4p")
	loadPorts(ip + 20)
	a.ja("mix")

	a.label("v6")
	for off := uint32(ip + 8); off < ip+40; off += 4 {
		xorWord(off)
	}
	a.add(bpf.LoadScratch{Dst: bpf.RegX, N: steerMBase}, bpf.LoadIndirect{Off: ip + 6, Size: 1})
	a.jeq(6, "v6p", "")
	a.jeq(17, "v6p", "mix")
	a.label("v6p")
	loadPorts(ip + 40)

	a.label("mix")
	// hash ^= sport ^ dport, then fold the high bits down.
	a.add(bpf.LoadScratch{Dst: bpf.RegA, N: steerMPorts},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.StoreScratch{Src: bpf.RegA, N: steerMTmp},
		bpf.LoadScratch{Dst: bpf.RegA, N: steerMPorts},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff},
		bpf.LoadScratch{Dst: bpf.RegX, N: steerMTmp},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		bpf.LoadScratch{Dst: bpf.RegX, N: steerMHash},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		bpf.StoreScratch{Src: bpf.RegA, N: steerMHash},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.LoadScratch{Dst: bpf.RegX, N: steerMHash},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		bpf.StoreScratch{Src: bpf.RegA, N: steerMHash},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 8},
		bpf.LoadScratch{Dst: bpf.RegX, N: steerMHash},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},
		bpf.RetA{})
	ins, err := a.resolve()
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(ins)
}

// attachSteering installs the program on the group through its first
// socket: it applies to every socket of the group, indexed in bind order,
// so it must come after all of them are bound.
func (l *Listener) attachSteering() error {
	if len(l.socks) < 2 {
		return nil
	}
	raw, err := steerProgram(len(l.socks), l.cfg.Kind == GENEVE)
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
	var serr error
	if err := l.socks[0].raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}
