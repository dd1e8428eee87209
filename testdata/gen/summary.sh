#!/usr/bin/env bash
# summary.sh TESTDATA - the markdown tables in README.md, from the committed
# truth and oracle JSON files (so the README can be checked against them).
set -Eeuo pipefail
cd "$1"
echo "| run | cause (truth) | recv Mbit/s | sender retransmits | drops at the impairment | sender RTT min/mean ms |"
echo "|---|---|---:|---:|---|---|"
for t in */*.truth.json; do
	[[ $(jq -r .schema "$t") == mklab-truth/1 ]] || continue
	jq -r '
	def drops:
	  ([.counters.rtr_qdisc[]? | "tbf \(.drops) of \(.packets)"] +
	   [.counters.labwire.directions[]? | select(.name == "a2b") | .stats |
	     ([if .drop_police > 0 then "police \(.drop_police)" else empty end,
	       if .drop_loss > 0 then "loss \(.drop_loss)" else empty end,
	       if .drop_queue > 0 then "fifo \(.drop_queue)" else empty end,
	       if .reorder_immediate > 0 then "early \(.reorder_immediate)" else empty end] | join(", ") | if . == "" then "none" else . end) +
	     " of \(.rx_frames) frames"]) | join("; ");
	"| \(.run) | \(.scenario) \(.params | to_entries | map("\(.key)=\(.value)") | join(" ")) | \(.iperf3.cli_to_srv.receiver_bps / 1e5 | round / 10) | \(.iperf3.cli_to_srv.retransmits) | \(drops) | \(.iperf3.cli_to_srv.min_rtt_us / 100 | round / 10) / \(.iperf3.cli_to_srv.mean_rtt_us / 100 | round / 10) |"' "$t"
done
echo
echo "tshark 4.0 expert counts (frames matching tcp.analysis.X; inner frames for mon):"
echo
echo "| capture | frames | retr | fast | spur | ooo | lost | ackl | dup | zw | wfull | wupd | ka | rst |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for o in */*.oracle.json; do
	[[ -e $o ]] || continue
	jq -r --arg f "$(basename "$o" .oracle.json)" '.tshark.expert as $e |
	"| \($f) | \($e.frame) | " + ([ "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
	  "lost_segment", "ack_lost_segment", "duplicate_ack", "zero_window", "window_full", "window_update", "keep_alive"] |
	  map($e["tcp.analysis." + .] | tostring) | join(" | ")) + " | \($e["tcp.flags.reset==1"]) |"' "$o"
done
