package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/listen"
)

func newReplayCmd() *cobra.Command {
	var (
		cfg      = listen.ReplayConfig{Decode: decode.DefaultConfig()}
		vni      uint
		quiet    bool
		topspeed bool
	)
	cmd := &cobra.Command{
		Use:   "replay [flags] CAPTURE... --to HOST:PORT",
		Short: "Send a capture to a mirror target as a VXLAN (or GENEVE) mirror stream, for tests and load tests",
		Long: `Send capture files to a traffic-mirror target (mirrorscope listen, or any
other) as AWS would.

Plain captures are wrapped: each frame in VXLAN with --vni (frames of
non-Ethernet captures get an Ethernet header). Mirror captures (VXLAN on UDP
4789 or GENEVE on 6081) are sent as their UDP payloads, keeping their VNIs.
With --encap geneve, VXLAN is further wrapped as a Gateway Load Balancer
delivers it: GENEVE with the AWS options (class 0x0108) around IPv4/UDP/VXLAN;
send it to the target's GENEVE port.

--encap erspan2, erspan3 or gre sends the frames as a switch or a Linux
erspan/gretap device mirrors them: ERSPAN type II or III (--vni is the
session id, at most 1023) or GRE with --vni as key, around the Ethernet
frame (of a VXLAN mirror capture: its inner frame, its VNI as the session).
With --to HOST (no port) they go over IP (protocol 47, a raw socket: run as
root), with --to HOST:PORT over UDP (RFC 8086, port 4754): point it at
listen --erspan or --gre-udp.

Each frame leaves from one of --sources UDP source ports, chosen by its inner
flow and direction, as AWS derives the outer source port from the inner
5-tuple. Datagrams are sent in batches with sendmmsg, in capture order; when
run as root (CAP_NET_RAW) towards an IPv4 target, a batch goes out of one raw
socket whatever its source ports (--no-raw: through the UDP sockets, one
sendmmsg per run of datagrams from one port).

Timing: by default the capture's own timing is kept (--speed 1), so that
listen gives the verdicts analyze gives on the same capture (rates,
pacing and idle gaps are what the diagnosis reads). --speed 10 plays it
ten times faster. As root (or with CAP_SYS_NICE) the pacing runs on a
real-time (SCHED_FIFO) thread, which wakes up on time on a busy machine
(--no-realtime: an ordinary thread). The summary counts the frames that
left more than a millisecond late: the target saw their timing off by that
much, and when they are many its verdicts may differ from analyze's. For
load tests, --topspeed sends as fast as possible and
--pps at a fixed rate (whole batches of about a millisecond each).

--gso sends each run of consecutive datagrams of one inner connection and
source port (equal sizes, the last may be shorter) as one UDP GSO send: the
receiving host splits it into the same datagrams before any socket sees
them, and the sender pays its network stack once per run instead of once per
datagram. For load tests on one machine, where the sender's kernel work
would otherwise be the limit (Linux 4.18 or later; UDP sockets only).`,
		Example: `  mirrorscope replay policer.srv.pcap --to 127.0.0.1:4789 --vni 4242
  mirrorscope replay big.pcap --to 10.0.1.5:4789 --vni 7 --pps 200000 --loop 10
  mirrorscope replay big.pcap --to 10.0.1.5:4789 --vni 7 --topspeed
  mirrorscope replay mon.pcap --to 127.0.0.1:6081 --encap geneve
  mirrorscope replay lab.pcap --to 127.0.0.1 --encap erspan2 --vni 100
  mirrorscope replay lab.pcap --to 127.0.0.1:4789 --vni 1 --loop 500 --gso --sources 1 --topspeed`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("replay needs at least one capture file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.To == "" {
				return usageErr("replay needs --to HOST:PORT")
			}
			if vni > 0xffffff {
				return usageErr("--vni %d: a VNI has 24 bits (at most 16777215)", vni)
			}
			switch cfg.Encap {
			case "vxlan", "geneve", "gre":
			case "erspan2", "erspan3":
				if vni > 1023 {
					return usageErr("--vni %d: an ERSPAN session id has 10 bits (at most 1023)", vni)
				}
			default:
				return usageErr("--encap %q: use vxlan, geneve, erspan2, erspan3 or gre", cfg.Encap)
			}
			if cfg.PPS < 0 || cfg.Speed <= 0 || cfg.Loop < 1 || cfg.Sources < 1 {
				return usageErr("--pps must not be negative, --speed must be positive, --loop and --sources at least 1")
			}
			if topspeed || cfg.PPS > 0 {
				cfg.Speed = 0 // no capture timing
			}
			cfg.VNI = uint32(vni)
			cfg.Files = args
			st, err := listen.Replay(cmd.Context(), cfg)
			if !quiet {
				rate := 0.0
				if s := st.Elapsed.Seconds(); s > 0 {
					rate = float64(st.Sent) / s
				}
				via := "UDP sockets"
				if st.Raw {
					via = "a raw socket"
				}
				if st.GSO {
					via = fmt.Sprintf("UDP sockets with %d GSO sends", st.GSOSends)
				}
				if st.Realtime {
					via += ", paced from a real-time thread"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "replay: %d frames read, %d datagrams (%d bytes) sent in %s (%.0f pps) in %d sendmmsg batches through %s, %d skipped\n",
					st.Frames, st.Sent, st.Bytes, st.Elapsed.Round(1e6), rate, st.Batches, via, st.Skipped)
				if cfg.Speed > 0 {
					// what the target saw of the capture's timing
					fmt.Fprintf(cmd.ErrOrStderr(), "replay: timing: %d frames left more than %v after their due time (latest %s)\n",
						st.Late, listen.LateAfter, st.MaxLate.Round(time.Microsecond))
				}
			}
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.To, "to", "", "target HOST:PORT (4789 for VXLAN, 6081 for GENEVE, 4754 for GRE over UDP), or HOST for GRE over IP")
	fs.UintVar(&vni, "vni", 0, "VNI for the frames of plain captures (ERSPAN session id, GRE key)")
	fs.Float64Var(&cfg.Speed, "speed", 1, "keep the capture's timing, this many times faster (1 = as captured)")
	fs.BoolVar(&topspeed, "topspeed", false, "send as fast as possible, ignoring the capture's timing (load tests)")
	fs.Float64Var(&cfg.PPS, "pps", 0, "send at this many datagrams per second, ignoring the capture's timing (load tests)")
	fs.IntVar(&cfg.Loop, "loop", 1, "send the captures this many times")
	fs.BoolVar(&cfg.LoopPorts, "loop-ports", false, "with --loop, add the pass number (0, 1, ...) to the inner TCP/UDP ports so that every pass is new connections (as sent, a pass repeats the same connections, which mirrorscope and tshark count once); plain captures only, inner checksums not updated")
	fs.StringVar(&cfg.Encap, "encap", "vxlan", "vxlan, geneve (GWLB: GENEVE around VXLAN), erspan2, erspan3 or gre")
	fs.IntVar(&cfg.Sources, "sources", 8, "UDP source sockets (outer source ports) to spread flows over")
	fs.Uint16Var(&cfg.Decode.VXLANPort, "vxlan-port", cfg.Decode.VXLANPort, "UDP port that marks a capture's packets as VXLAN mirror traffic")
	fs.Uint16Var(&cfg.Decode.GENEVEPort, "geneve-port", cfg.Decode.GENEVEPort, "UDP port that marks a capture's packets as GENEVE")
	fs.BoolVar(&cfg.NoRealtime, "no-realtime", false, "pace the capture's timing from an ordinary thread, not a real-time (SCHED_FIFO) one")
	fs.BoolVar(&cfg.NoRaw, "no-raw", false, "send through the UDP source sockets even when a raw socket is allowed")
	fs.BoolVar(&cfg.GSO, "gso", false, "coalesce runs of one inner connection's datagrams into UDP GSO sends (load tests)")
	fs.BoolVarP(&quiet, "quiet", "q", false, "no summary on standard error")
	return cmd
}
