package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// packetsTsharkCmd prints, from tshark 4.0, exactly the lines of
// `mirrorscope packets --no-header FILE` (TestPacketsMatchTshark runs it).
// The Source/Destination columns are the innermost IP addresses, IPv4 or
// IPv6 (ip.src is empty for IPv6); awk turns the flag columns into the
// comma-separated list of their names.
const packetsTsharkCmd = `tshark -n -r FILE -d udp.port==4789,vxlan -Y tcp -T fields -E separator=/t -E occurrence=l \
  -e frame.number -e vxlan.vni -e tcp.stream -e _ws.col.Source -e tcp.srcport -e _ws.col.Destination -e tcp.dstport \
  -e tcp.seq_raw -e tcp.ack_raw -e tcp.len -e tcp.flags -e tcp.window_size_value -e tcp.window_size \
  -e tcp.analysis.ack_rtt -e tcp.analysis.bytes_in_flight -e tcp.analysis.duplicate_ack_num \
  -e tcp.analysis.retransmission -e tcp.analysis.fast_retransmission -e tcp.analysis.spurious_retransmission \
  -e tcp.analysis.out_of_order -e tcp.analysis.lost_segment -e tcp.analysis.ack_lost_segment \
  -e tcp.analysis.duplicate_ack -e tcp.analysis.zero_window -e tcp.analysis.zero_window_probe \
  -e tcp.analysis.zero_window_probe_ack -e tcp.analysis.window_full -e tcp.analysis.window_update \
  -e tcp.analysis.keep_alive -e tcp.analysis.keep_alive_ack -e tcp.analysis.reused_ports -e tcp.flags.reset |
awk -F'\t' -v OFS='\t' 'BEGIN { n = split("retransmission fast_retransmission spurious_retransmission out_of_order lost_segment ack_lost_segment duplicate_ack zero_window zero_window_probe zero_window_probe_ack window_full window_update keep_alive keep_alive_ack reused_ports reset", N, " ") }
  { f = ""; for (i = 1; i <= n; i++) { v = $(16+i); if (v != "" && v != "0" && v != "False") f = f (f == "" ? "" : ",") N[i] }
    NF = 16; print $0, f }'`

func newPacketsCmd() *cobra.Command {
	var (
		af      analysisFlags
		flagged bool
		noHdr   bool
	)
	cmd := &cobra.Command{
		Use:   "packets [flags] CAPTURE...",
		Short: "Print the TCP analysis of every TCP packet, in a form that diffs against tshark",
		Long: `Print one tab-separated line per TCP packet: frame number, VNI, stream,
inner addresses and ports, raw sequence and acknowledgement numbers, payload
length, TCP flags, raw and scaled window, ack RTT (s), bytes in flight,
duplicate-ACK number, and the tcp.analysis flags mirrorscope set, by their
Wireshark names (plus "reset" for RST), comma-separated.

The lines are those of the following tshark command (tshark 4.0; awk
turns its flag columns into the same comma-separated list), so that anyone
can check mirrorscope against Wireshark 4.0 with diff against
"mirrorscope packets --no-header FILE":

  ` + packetsTsharkCmd + `

Streams are numbered per mirror session: a conversation mirrored by two
sessions has two streams here and one in tshark (see docs/wireshark-parity.md).`,
		Example: `  mirrorscope packets capture.pcap | less
  mirrorscope packets --flagged mirror.pcap`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("packets needs at least one capture file (or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if af.flowsOnly {
				return usageErr("packets prints the TCP analysis of each packet; --flows-only turns that analysis off (use it with analyze)")
			}
			if _, err := af.inferENI(args); err != nil {
				return err
			}
			cfg, err := af.config()
			if err != nil {
				return err
			}
			src, err := capture.OpenFiles(args, capture.Options{})
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			defer src.Close()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			if !noHdr {
				fmt.Fprintln(w, "frame\tvni\tstream\tsrc\tsport\tdst\tdport\tseq_raw\tack_raw\tlen\ttcp_flags\twin\twin_scaled\tack_rtt\tbytes_in_flight\tdup_ack_num\tflags")
			}
			var line []byte
			cfg.OnPacket = func(ev *result.PacketEvent) {
				r := ev.TCP
				if r == nil || (flagged && r.Flags == 0) {
					return
				}
				line = appendPacketLine(line[:0], ev.Frame, ev.Packet, r)
				w.Write(line)
			}
			eng := engine.New(cfg)
			readErr := readAll(cmd, src, eng, make([]uint64, len(args)))
			eng.Finish()
			if err := w.Flush(); err != nil {
				return err
			}
			if readErr != nil {
				var ce *capture.Error
				if errors.As(readErr, &ce) {
					return &exitError{code: exitUsage, err: readErr}
				}
				return readErr
			}
			return nil
		},
	}
	af.bind(cmd.Flags())
	_ = cmd.Flags().MarkHidden("flows-only") // refused: packets is the analysis
	cmd.Flags().BoolVar(&flagged, "flagged", false, "print only packets with at least one analysis flag")
	cmd.Flags().BoolVar(&noHdr, "no-header", false, "omit the header line")
	return cmd
}

// appendPacketLine formats one line as tshark prints the same fields.
func appendPacketLine(b []byte, frame uint64, p *decode.Packet, r *tcpseq.Result) []byte {
	tab := func() { b = append(b, '\t') }
	b = strconv.AppendUint(b, frame, 10)
	tab()
	if p.Session.HasVNI && (p.Encap == decode.EncapVXLAN || p.Encap == decode.EncapGENEVEVXLAN) {
		b = strconv.AppendUint(b, uint64(p.Session.VNI), 10) // tshark's vxlan.vni
	}
	tab()
	b = strconv.AppendUint(b, uint64(r.Stream), 10)
	tab()
	b = p.Src.AppendTo(b)
	tab()
	b = strconv.AppendUint(b, uint64(p.SrcPort), 10)
	tab()
	b = p.Dst.AppendTo(b)
	tab()
	b = strconv.AppendUint(b, uint64(p.DstPort), 10)
	tab()
	b = strconv.AppendUint(b, uint64(p.TCP.Seq), 10)
	tab()
	b = strconv.AppendUint(b, uint64(p.TCP.Ack), 10)
	tab()
	b = strconv.AppendUint(b, uint64(p.PayloadLen), 10)
	tab()
	b = fmt.Appendf(b, "0x%04x", uint16(p.TCP.Flags))
	tab()
	b = strconv.AppendUint(b, uint64(p.TCP.Window), 10)
	tab()
	b = strconv.AppendUint(b, uint64(r.Window), 10)
	tab()
	if r.HasAckRTT && r.AckRTT != 0 { // tshark does not print a zero ack_rtt
		b = appendSeconds(b, r.AckRTT)
	}
	tab()
	if r.BytesInFlight > 0 && p.PayloadLen > 0 {
		b = strconv.AppendInt(b, r.BytesInFlight, 10)
	}
	tab()
	if r.Flags&tcpseq.DuplicateAck != 0 {
		b = strconv.AppendUint(b, uint64(r.DupAckNum), 10)
	}
	tab()
	b = append(b, strings.Join(r.Flags.Names(), ",")...)
	b = append(b, '\n')
	return b
}

// appendSeconds appends ns as seconds with 9 decimals, exactly (no
// float rounding), as tshark prints a relative time.
func appendSeconds(b []byte, ns int64) []byte {
	if ns < 0 {
		b = append(b, '-')
		ns = -ns
	}
	b = strconv.AppendInt(b, ns/1e9, 10)
	b = append(b, '.')
	frac := ns % 1e9
	for d := int64(1e8); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return b
}

var _ io.Writer = (*bufio.Writer)(nil)
