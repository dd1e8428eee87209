#!/usr/bin/env bash
# frames.sh CAPTURE > CAPTURE.frames.tsv
#
# Per-frame reference for the TCP analysis: one line per TCP frame with the
# fields tshark (Wireshark 4.0, single pass, the default) computes, and the
# tcp.analysis flags as a comma-separated list of names (the names of
# internal/tcpseq's Flag, "reset" for tcp.flags.reset==1).
#
# For a tunnelled capture (VXLAN 4789 / GENEVE 6081) the address and port
# columns are the innermost ones (tshark -E occurrence=l), and vni is the
# VXLAN network identifier; it is empty for plain captures.
set -Eeuo pipefail
[[ $# -eq 1 ]] || { echo "usage: frames.sh CAPTURE" >&2; exit 2; }
in=$1
flags=(retransmission fast_retransmission spurious_retransmission out_of_order
	lost_segment ack_lost_segment duplicate_ack zero_window zero_window_probe
	zero_window_probe_ack window_full window_update keep_alive keep_alive_ack
	reused_ports)
f=(-e frame.number -e vxlan.vni -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport
	-e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw -e tcp.len -e tcp.flags
	-e tcp.window_size_value -e tcp.window_size -e tcp.analysis.ack_rtt
	-e tcp.analysis.bytes_in_flight -e tcp.analysis.duplicate_ack_num)
for x in "${flags[@]}"; do f+=(-e "tcp.analysis.$x"); done
f+=(-e tcp.flags.reset)
printf 'frame\tvni\tstream\tsrc\tsport\tdst\tdport\tseq_raw\tack_raw\tlen\ttcp_flags\twin\twin_scaled\tack_rtt\tbytes_in_flight\tdup_ack_num\tflags\n'
tshark -n -r "$in" -d udp.port==4789,vxlan -Y tcp -T fields -E separator=/t -E occurrence=l "${f[@]}" 2>/dev/null |
	awk -F'\t' -v names="${flags[*]} reset" '
	BEGIN { OFS = "\t"; n = split(names, nm, " ") }
	{
		# an IPv6 address can only be the innermost one: mirror outers are IPv4
		src = $5 != "" ? $5 : $4; dst = $8 != "" ? $8 : $7
		fl = ""
		for (i = 1; i <= n; i++) {
			v = $(18 + i)
			if (nm[i] == "reset") { if (v != "1") continue }
			else if (v == "") continue
			fl = fl (fl == "" ? "" : ",") nm[i]
		}
		print $1, $2, $3, src, $6, dst, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, fl
	}'
