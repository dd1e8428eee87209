#!/usr/bin/env bash
# gen.sh - remake the held-out set 4 (eval4_*) of the diagnosis accuracy suite:
# the congestion and unconstrained classes, with other parameters than the
# tune runs testdata/congestion (-P 3, 10 Mbit/s, 15 ms, 60-frame FIFO) and
# testdata/unconstrained (1 s, 100 ms, 200 Mbit/s, 2000-frame FIFO).
# Needs root and the namespace lab (mklab.sh, labwire).
#   eval4_congestion: 4 cubic flows (iperf3 -P 4) through one 20 Mbit/s link
#     with a 100-frame drop-tail FIFO and 25 ms one-way delay: they keep the
#     FIFO full together and lose at it (FIFO drops = retransmits)
#   eval4_unconstrained: 1 s of one cubic flow over a 150 ms path with a
#     150 Mbit/s link and a 4000-frame FIFO: the transfer ends in slow start
#     (cwnd ~1000 segments < the 1900-segment BDP): no FIFO drop, no
#     retransmission, ~12 Mbit/s
# After the runs, each OUT/NAME/NAME.POINT.pcap is gzipped (gzip -9n) into
# eval4/NAME/ with NAME.truth.json and raw/commands.log as NAME.commands.log.
set -Eeuo pipefail
LAB=${LAB:?set LAB to the namespace lab (mklab.sh)}
OUT=${OUT:-/tmp/eval4out}
mkdir -p "$OUT"
RUNS=(
	"eval4_congestion|-s delay -t 3 -P 4 -c cli,srv delay=25ms linkrate=20mbit limit=100"
	"eval4_unconstrained|-s delay -t 1 -c cli,srv delay=150ms linkrate=150mbit limit=4000"
)
for r in "${RUNS[@]}"; do
	name=${r%%|*}; args=${r#*|}
	echo "== $name: mklab.sh $args" >&2
	# shellcheck disable=SC2086
	"$LAB/mklab.sh" -o "$OUT" -f -n "$name" $args >"$OUT/$name.log" 2>&1 || { echo "FAILED $name" >&2; tail -5 "$OUT/$name.log" >&2; }
done
dst=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for d in "$OUT"/eval4_*/; do
	n=$(basename "$d")
	[[ -f $d/$n.truth.json ]] || continue
	mkdir -p "$dst/$n"
	for p in "$d"/*.pcap; do gzip -9n -c "$p" >"$dst/$n/$(basename "$p").gz"; done
	cp "$d/$n.truth.json" "$dst/$n/"
	cp "$d/raw/commands.log" "$dst/$n/$n.commands.log"
done
echo done >&2
