#!/usr/bin/env bash
# gen.sh - remake the held-out set 2 (eval2_*) of the diagnosis accuracy suite.
# Needs root and a writable copy of the namespace lab (mklab.sh, labwire).
# After the runs, each OUT/NAME/NAME.POINT.pcap is gzipped (gzip -9n) into
# eval/NAME/ with NAME.truth.json and raw/commands.log as NAME.commands.log.
set -Eeuo pipefail
LAB=${LAB:?set LAB to a writable copy of the namespace lab (mklab.sh)}
OUT=${OUT:-/tmp/evalout}
RUNS=(
	"eval2_shaper|-s shaper -t 4 -c cli,srv -m 4242 rate=12mbit burst=16kb latency=30ms"
	"eval2_policer|-s policer -t 4 -c cli,srv -m 4242 rate=8mbit burst=24kb delay=20ms"
	"eval2_loss|-s loss -t 4 -c cli,srv -m 4242 loss=2 delay=15ms"
	"eval2_reorder|-s reorder -t 4 -c cli,srv -m 4242 reorder=5 delay=8ms"
	"eval2_rwnd|-s rwnd -t 4 -c cli,srv -m 4242 rmem=98304 delay=30ms"
	"eval2_applimited|-s applimited -t 4 -c cli,srv -m 4242 bitrate=6M"
	"eval2_delay|-s delay -t 4 -c cli,srv -m 4242 delay=35ms linkrate=20mbit limit=100"
	"eval2_shaper_delay|-s shaper+delay -t 4 -c cli,srv -m 4242 rate=30mbit latency=40ms delay=15ms"
)
for r in "${RUNS[@]}"; do
	name=${r%%|*}; args=${r#*|}
	echo "== $name: mklab.sh $args" >&2
	# shellcheck disable=SC2086
	"$LAB/mklab.sh" -o "$OUT" -f -n "$name" $args >"$OUT/$name.log" 2>&1 || { echo "FAILED $name" >&2; tail -5 "$OUT/$name.log" >&2; }
done
dst=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for d in "$OUT"/eval2_*/; do
	n=$(basename "$d")
	[[ -f $d/$n.truth.json ]] || continue
	mkdir -p "$dst/$n"
	for p in "$d"/*.pcap; do gzip -9n -c "$p" >"$dst/$n/$(basename "$p").gz"; done
	cp "$d/$n.truth.json" "$dst/$n/"
	cp "$d/raw/commands.log" "$dst/$n/$n.commands.log"
done
echo done >&2
