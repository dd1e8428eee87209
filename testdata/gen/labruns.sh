#!/usr/bin/env bash
# labruns.sh LABDIR TESTDATA - remake the lab captures in testdata/.
#
# LABDIR is the namespace lab (mklab.sh, oracle.sh; see testdata/README.md),
# TESTDATA the testdata directory. Needs root, tshark, tcpdump, iperf3, jq,
# tcptrace. Every run makes its own namespaces and removes them at exit;
# nothing leaves them. Each run NAME ends up as TESTDATA/NAME/:
#   NAME.POINT.pcap           the capture (tcpdump, snaplen 128 (+50 at mon), ns timestamps)
#   NAME.truth.json           mklab.sh ground truth (cause, counters, iperf3 TCP_INFO)
#   NAME.POINT.oracle.json    oracle.sh: tshark expert counts, streams, tcptrace
#   NAME.POINT.frames.tsv.gz  frames.sh: tshark's per-frame TCP analysis
#   NAME.commands.log         every command mklab.sh ran
# Runs are sequential: the 2 vCPUs are the lab's "hardware".
#
# SET=eval selects the held-out evaluation set instead (other parameters than
# the tuning runs; see README.md "Held-out evaluation set"); give TESTDATA/eval
# as the second argument: `SET=eval gen/labruns.sh LAB eval`. ONLY="a b" makes
# a subset of either set. After each run the key ground truth is printed by
# gen/check.sh (to stderr) so a run spoilt by machine load can be spotted.
set -Eeuo pipefail
[[ $# -eq 2 ]] || { echo "usage: labruns.sh LABDIR TESTDATA" >&2; exit 2; }
LAB=$(cd "$1" && pwd)
TD=$(cd "$2" && pwd)
GEN=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# name | mklab.sh arguments (after -o/-f/-n)
RUNS=(
	"shaper|-s shaper -t 3 -c cli,srv -m 4242 rate=5mbit"
	"policer|-s policer -t 3 -c cli,srv -m 4242 rate=5mbit"
	"loss|-s loss -t 3 -c cli,srv loss=2 linkrate=10mbit limit=100"
	"reorder|-s reorder -t 3 -c cli,srv linkrate=10mbit limit=100"
	"delay|-s delay -t 3 -c cli,srv delay=20ms linkrate=5mbit limit=15"
	"rwnd|-s rwnd -t 3 -c cli,srv rmem=32768 delay=20ms"
	"applimited|-s applimited -t 3 -c cli,srv bitrate=5M"
	"twosessions|-s shaper -t 2 -c none -m 4242,4343 rate=5mbit"
)
# the held-out set: every parameter differs from the tuning runs above
EVAL_RUNS=(
	"eval_shaper|-s shaper -t 3 -c cli,srv -m 4242 rate=7mbit burst=16kb latency=30ms"
	"eval_policer|-s policer -t 3 -c cli,srv -m 4242 rate=6mbit burst=24kb delay=20ms"
	"eval_loss|-s loss -t 3 -c cli,srv -m 4242 loss=2 delay=15ms linkrate=20mbit"
	"eval_reorder|-s reorder -t 3 -c cli,srv -m 4242 reorder=5 delay=8ms linkrate=20mbit"
	"eval_rwnd|-s rwnd -t 3 -c cli,srv -m 4242 rmem=49152 delay=30ms"
	"eval_applimited|-s applimited -t 3 -c cli,srv -m 4242 bitrate=4M"
	"eval_delay|-s delay -t 3 -c cli,srv -m 4242 delay=35ms linkrate=8mbit limit=60"
	"eval_shaper_delay|-s shaper+delay -t 3 -c cli,srv -m 4242 rate=9mbit latency=40ms delay=15ms"
)
case ${SET:-tune} in
tune) ;;
eval) RUNS=("${EVAL_RUNS[@]}") ;;
*) echo "labruns.sh: SET must be tune or eval" >&2; exit 2 ;;
esac
only=${ONLY:-}
for r in "${RUNS[@]}"; do
	name=${r%%|*}
	args=${r#*|}
	[[ -z $only || " $only " == *" $name "* ]] || continue
	echo "== $name: mklab.sh $args" >&2
	# shellcheck disable=SC2086
	"$LAB/mklab.sh" -o "$TMP" -f -n "$name" $args >&2
	src=$TMP/$name
	dst=$TD/$name
	rm -rf "$dst"
	mkdir -p "$dst"
	cp "$src/$name.truth.json" "$dst/"
	cp "$src/raw/commands.log" "$dst/$name.commands.log"
	for p in "$src"/*.pcap; do
		b=$(basename "$p" .pcap)
		cp "$p" "$dst/$b.pcap"
		"$LAB/oracle.sh" "$p" >"$dst/$b.oracle.json"
		"$GEN/frames.sh" "$p" | gzip -9n >"$dst/$b.frames.tsv.gz"
	done
	"$GEN/check.sh" "$dst/$name.truth.json" >&2
done
