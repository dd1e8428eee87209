#!/usr/bin/env bash
# check.sh RUN.truth.json... - one line per run with the numbers that show
# whether a lab run is sane: iperf3 received rate against the cap (tbf rate,
# policer rate, link rate or app bitrate), the sender's retransmits (iperf3
# TCP_INFO of the data stream and nstat TcpRetransSegs), the drops at the
# impairment (tbf drops, labwire police/loss/fifo drops, early frames),
# labwire's send lateness on the data direction (mean/max: userspace timing
# suffers when the machine is loaded), tcpdump kernel drops, and whether the
# mirror copy (mon) agrees frame for frame with srv. Reads only the JSON.
set -Eeuo pipefail
[[ $# -ge 1 ]] || { echo "usage: check.sh RUN.truth.json..." >&2; exit 2; }
for t in "$@"; do
	[[ $(jq -r .schema "$t") == mklab-truth/1 ]] || continue
	jq -r '
	def r1: . * 10 | round / 10;
	def bps: ascii_downcase | capture("^(?<n>[0-9.]+)(?<u>[kmg]?)bit$") |
	  (.n | tonumber) * ({"": 1, k: 1e3, m: 1e6, g: 1e9}[.u]);
	.iperf3.cli_to_srv as $i |
	(.expect.rate_cap_bps // .expect.link_rate_bps // (.params.linkrate // null | if . then bps else null end)) as $cap |
	([.counters.rtr_qdisc[]? | "tbf \(.drops)/\(.packets)"] +
	 [.counters.labwire.directions[]? | select(.name == "a2b") | .stats |
	   "wire police \(.drop_police) loss \(.drop_loss) fifo \(.drop_queue) early \(.reorder_immediate) of \(.rx_frames)"]
	 | join("; ")) as $drops |
	([.counters.labwire.directions[]? | select(.name == "a2b") | .stats |
	   "late \(.send_lateness_mean_us | round)/\(.send_lateness_max_us | round) us"] | join("")) as $late |
	"\(.run): \(.scenario) \(.params | to_entries | map("\(.key)=\(.value)") | join(" "))\n" +
	"  recv \($i.receiver_bps / 1e6 | r1) Mbit/s" +
	(if $cap then " (cap \($cap / 1e6 | r1), payload share \($i.receiver_bps / $cap * 1000 | round / 1000))" else "" end) +
	"; retrans iperf3 \($i.retransmits) nstat \(.counters.nstat_delta.cli.TcpRetransSegs // 0) dsack \(.counters.nstat_delta.cli.TcpExtTCPDSACKRecvSegs // 0)" +
	"; rtt \($i.min_rtt_us / 1000 | r1)/\($i.mean_rtt_us / 1000 | r1) ms\n" +
	"  drops: \(if $drops == "" then "none (bridge)" else $drops end) \($late)" +
	"; kernel drops \([.captures[].tcpdump.dropped_by_kernel] | add)" +
	"; frames \([.captures[] | "\(.point) \(.tcpdump.captured)"] | join(" "))" +
	([.captures[] | select(.point == "mon") | .mirror.sessions[] | "; mirror agree \(.agree) (diff \(.diff))"] | join(""))
	' "$t"
done
