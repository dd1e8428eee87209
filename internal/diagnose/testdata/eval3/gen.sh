#!/usr/bin/env bash
# gen.sh - remake the held-out set 2 (eval3_*) of the diagnosis accuracy suite.
# Needs root and a writable copy of the namespace lab (mklab.sh, labwire).
# After the runs, each OUT/NAME/NAME.POINT.pcap is gzipped (gzip -9n) into
# eval/NAME/ with NAME.truth.json and raw/commands.log as NAME.commands.log.
set -Eeuo pipefail
LAB=${LAB:?set LAB to a writable copy of the namespace lab (mklab.sh)}
OUT=${OUT:-/tmp/evalout}
RUNS=(
	"eval3_shaper|-s shaper -t 3 -c cli,srv -m 4242 rate=20mbit burst=32kb latency=15ms"
	"eval3_policer|-s policer -t 3 -c cli,srv -m 4242 rate=15mbit burst=64kb delay=15ms"
	"eval3_loss|-s loss -t 3 -c cli,srv -m 4242 loss=1 delay=25ms linkrate=30mbit"
	"eval3_reorder|-s reorder -t 3 -c cli,srv -m 4242 reorder=15 delay=5ms linkrate=30mbit"
	"eval3_rwnd|-s rwnd -t 3 -c cli,srv -m 4242 rmem=65536 delay=10ms"
	"eval3_applimited|-s applimited -t 3 -c cli,srv -m 4242 bitrate=3M"
	"eval3_delay|-s delay -t 3 -c cli,srv -m 4242 delay=10ms linkrate=10mbit limit=50"
	"eval3_shaper_delay|-s shaper+delay -t 3 -c cli,srv -m 4242 rate=10mbit latency=25ms delay=30ms"
)
for r in "${RUNS[@]}"; do
	name=${r%%|*}; args=${r#*|}
	echo "== $name: mklab.sh $args" >&2
	# shellcheck disable=SC2086
	"$LAB/mklab.sh" -o "$OUT" -f -n "$name" $args >"$OUT/$name.log" 2>&1 || { echo "FAILED $name" >&2; tail -5 "$OUT/$name.log" >&2; }
done
dst=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for d in "$OUT"/eval3_*/; do
	n=$(basename "$d")
	[[ -f $d/$n.truth.json ]] || continue
	mkdir -p "$dst/$n"
	for p in "$d"/*.pcap; do gzip -9n -c "$p" >"$dst/$n/$(basename "$p").gz"; done
	cp "$d/$n.truth.json" "$dst/$n/"
	cp "$d/raw/commands.log" "$dst/$n/$n.commands.log"
done
echo done >&2
