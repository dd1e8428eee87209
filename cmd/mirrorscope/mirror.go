package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrorscope/mirrorscope/internal/mirror"
)

func newMirrorCmd() *cobra.Command {
	var (
		spec      mirrorSpec
		iface     string
		target    string
		vni       int
		pktLen    int
		sessNum   int
		outerSrc  string
		portRange string
		count     uint64
		duration  time.Duration
		statsIvl  time.Duration
		noCsum    bool
	)
	cmd := &cobra.Command{
		Use:   "mirror --iface IF --target HOST[:PORT] --vni N (--filter F | --rule R...) [flags]",
		Short: "Be an AWS-style traffic mirror source: send an interface's traffic as VXLAN to a target",
		Long: `Capture both directions of a local interface, as AWS mirrors a source ENI,
apply traffic mirror filter rules with interface-relative direction
(received = ingress, sent = egress), choose the session by AWS's priority
(lowest session number whose filter accepts the packet; each packet is
mirrored once), cut each frame to PacketLength, and send it to the target
in VXLAN (UDP 4789, flags 0x08, the session's VNI) with the interface's
IPv4 address as outer source and an outer UDP source port hashed from the
inner 5-tuple (3-tuple for protocols other than TCP, UDP and ICMP).

One session comes from --vni, --session-number and --packet-length with
--filter or --rule; several come from --session (describe-traffic-mirror-
sessions JSON) with --filter for their filters. Our own VXLAN output to
the target is never mirrored. Counters are printed at exit (SIGINT or
SIGTERM stop cleanly) and every --stats-interval. Needs CAP_NET_RAW.`,
		Example: `  mirrorscope mirror --iface eth0 --target 10.0.0.99 --vni 42 --rule 'ingress 100 accept tcp dst-port 443' --rule 'egress 100 accept tcp src-port 443'
  mirrorscope mirror --iface eth0 --target 10.0.0.99 --filter filters.json --session sessions.json --eni-id eni-0a471a5cf3EXAMPLE`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iface == "" || target == "" {
				return usageErr("mirror needs --iface and --target")
			}
			ss, err := spec.load()
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			if len(spec.sessions) > 0 {
				for _, n := range []string{"vni", "packet-length", "session-number"} {
					if fl.Changed(n) {
						return usageErr("--%s cannot be combined with --session: the session JSON sets it", n)
					}
				}
			} else {
				if !fl.Changed("vni") {
					return usageErr("mirror needs --vni (the session's VirtualNetworkId) or --session")
				}
				if vni < 0 || vni > 1<<24-1 {
					return usageErr("--vni %d: out of range 0-16777215", vni)
				}
				if fl.Changed("packet-length") && (pktLen < mirror.MinPacketLength || pktLen > mirror.MaxPacketLength) {
					return usageErr("--packet-length %d: out of range %d-%d", pktLen, mirror.MinPacketLength, mirror.MaxPacketLength)
				}
				if sessNum < mirror.MinSessionNumber || sessNum > mirror.MaxSessionNumber {
					return usageErr("--session-number %d: out of range %d-%d", sessNum, mirror.MinSessionNumber, mirror.MaxSessionNumber)
				}
				s := ss[0]
				s.Number, s.VNI, s.HasVNI, s.PacketLength = sessNum, uint32(vni), true, pktLen
			}
			tgt, err := resolveTarget(target)
			if err != nil {
				return err
			}
			cfg := mirror.SourceConfig{
				Iface: iface, Target: tgt, Sessions: ss, NoUDPChecksum: noCsum,
				Count: count, Duration: duration, StatsInterval: statsIvl,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)),
			}
			if outerSrc != "" {
				a, err := netip.ParseAddr(outerSrc)
				if err != nil {
					return usageErr("--outer-src %q: not an IP address", outerSrc)
				}
				cfg.OuterSrc = a.Unmap()
			}
			if portRange != "" {
				lo, hi, ok := strings.Cut(portRange, "-")
				l, err1 := strconv.ParseUint(lo, 10, 16)
				h, err2 := strconv.ParseUint(hi, 10, 16)
				if !ok || err1 != nil || err2 != nil || l == 0 || h < l {
					return usageErr("--src-port-range %q: want LO-HI within 1-65535", portRange)
				}
				cfg.SrcPortLo, cfg.SrcPortHi = uint16(l), uint16(h)
			}
			w := cmd.OutOrStdout()
			cfg.OnStats = func(c mirror.SourceCounters, final bool) {
				if final {
					fmt.Fprintf(w, "mirror %s -> %s: %s\n", iface, tgt, c)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "mirror %s: %s\n", iface, c)
				}
			}
			src, err := mirror.NewSource(cfg)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = src.Run(cmd.Context())
			return err
		},
	}
	spec.bind(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&iface, "iface", "", "interface to mirror (both directions), like a source ENI")
	f.StringVar(&target, "target", "", "mirror target `HOST[:PORT]` (IPv4, port default 4789)")
	f.IntVar(&vni, "vni", 0, "VXLAN network identifier (the session's VirtualNetworkId)")
	f.IntVar(&pktLen, "packet-length", 0, "mirror at most this many bytes of each frame after the VXLAN header, inner Ethernet header included (AWS PacketLength, 1-8500; default whole frames)")
	f.IntVar(&sessNum, "session-number", 1, "the session's SessionNumber (1-32766)")
	f.StringVar(&outerSrc, "outer-src", "", "outer source `IP` (default: the interface's first IPv4 address)")
	f.StringVar(&portRange, "src-port-range", "", "outer UDP source port range `LO-HI` for the flow hash (default 49152-65535)")
	f.Uint64Var(&count, "count", 0, "stop after mirroring this many packets")
	f.DurationVar(&duration, "duration", 0, "stop after this long")
	f.DurationVar(&statsIvl, "stats-interval", 0, "print the counters to stderr this often")
	f.BoolVar(&noCsum, "no-udp-checksum", false, "send outer UDP checksum 0")
	return cmd
}

func resolveTarget(s string) (netip.AddrPort, error) {
	host, port := s, uint64(mirror.VXLANPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host = h
		if port, err = strconv.ParseUint(p, 10, 16); err != nil || port == 0 {
			return netip.AddrPort{}, usageErr("--target %q: bad port", s)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Unmap().Is4() {
			return netip.AddrPort{}, usageErr("--target %q: only IPv4 targets (AWS sends mirror traffic over IPv4)", s)
		}
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return netip.AddrPort{}, usageErr("--target %q: %v", s, err)
	}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			a, _ := netip.AddrFromSlice(v4)
			return netip.AddrPortFrom(a, uint16(port)), nil
		}
	}
	return netip.AddrPort{}, usageErr("--target %q: no IPv4 address", s)
}
