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
done
