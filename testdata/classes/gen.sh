#!/usr/bin/env bash
# gen.sh LABDIR OUTDIR - remake the regression captures of issue 11
# (testdata/classes/README.md). Needs root and the namespace lab
# (/work/shared/lab: mklab.sh). Runs are sequential. Each run NAME ends up
# as OUTDIR/NAME.POINT.pcap plus OUTDIR/NAME.truth.json.
set -Eeuo pipefail
[[ $# -eq 2 ]] || { echo "usage: gen.sh LABDIR OUTDIR" >&2; exit 2; }
LAB=$(cd "$1" && pwd)
OUT=$(cd "$2" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# name | mklab.sh arguments (after -o/-f/-n)
RUNS=(
	"c1_appcbr|-s applimited -t 5 -c cli,srv bitrate=10M"
	"c2_policer_shared|-s policer -t 4 -P 4 -c cli,srv rate=40mbit delay=10ms"
	"c3_policer_fast|-s policer -t 4 -C cubic -c cli,srv rate=40mbit delay=10ms"
	"c4_shaper_delay|-s shaper+delay -t 5 -c cli,srv rate=20mbit latency=50ms delay=40ms"
	"c5_bidir_shaper|-s shaper -t 4 -d bidir -c cli,srv rate=20mbit"
	"c6_oneway_shaper|-s shaper -t 4 -c cli,srv -m 4242 rate=20mbit"
	# the sweep's tune run t039_fifo (seed 11001); only its cli capture is kept
	"c7_fifo_shared|-s delay -t 7 -C cubic -P 5 -c cli linkrate=17mbit limit=92 delay=138ms"
)
only=${ONLY:-}
for r in "${RUNS[@]}"; do
	name=${r%%|*}
	args=${r#*|}
	[[ -z $only || " $only " == *" $name "* ]] || continue
	echo "== $name: mklab.sh $args" >&2
	# shellcheck disable=SC2086
	"$LAB/mklab.sh" -o "$TMP" -f -n "$name" $args >"$TMP/$name.log" 2>&1 || { cat "$TMP/$name.log" >&2; exit 1; }
	for p in "$TMP/$name/$name".*.pcap; do gzip -9n <"$p" >"$OUT/$(basename "$p").gz"; done
	cp "$TMP/$name/$name.truth.json" "$OUT/"
	cp "$TMP/$name/raw/commands.log" "$OUT/$name.commands.log" 2>/dev/null || true
done
