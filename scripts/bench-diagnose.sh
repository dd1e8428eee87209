#!/usr/bin/env bash
# bench-diagnose.sh - what the limiter diagnosis costs: mirrorscope analyze
# with and without --no-diagnose on the same captures, alternating, and the
# ratio of their times (issue 11's budget: at most +20 %).
#
#   scripts/bench-diagnose.sh [--runs N] [--bin NAME=PATH]... CAPTURE...
#
# Defaults: 7 runs of each command; captures /work/bench/bulk/bulk.srv.pcap
# and /work/bench/bulk8/bulk8.srv.pcap (made with the lab:
# mklab.sh -s none -t 8 -m srv:4242 -c srv -n bulk -o /work/bench, and with
# -P 8 -n bulk8; see docs/benchmarks.md). Prints a markdown table: wall
# seconds median (best), CPU seconds (user+sys) median, peak RSS, and the
# diagnosis cost as the ratio of medians less one. Takes about 10 s per
# capture. Run it on a quiet machine: the ratio of two sub-second runs
# moves with every other process. --bin (repeatable) times the given
# builds instead of building this tree, alternating between them within
# each run (a row per build and capture), so that builds compare under
# the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=7
bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	--*) echo "bench-diagnose.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
caps=("$@")
[ ${#caps[@]} -gt 0 ] || caps=(/work/bench/bulk/bulk.srv.pcap /work/bench/bulk8/bulk8.srv.pcap)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ${#bins[@]} -eq 0 ]; then
	go build -o "$tmp/mirrorscope" ./cmd/mirrorscope
	bins=("head=$tmp/mirrorscope")
fi
names=() paths=()
for b in "${bins[@]}"; do
	case $b in
	*=*) names+=("${b%%=*}") paths+=("${b#*=}") ;;
	*) echo "bench-diagnose.sh: --bin takes NAME=PATH, not $b" >&2; exit 2 ;;
	esac
	[ -x "${b#*=}" ] || { echo "bench-diagnose.sh: no executable ${b#*=}" >&2; exit 2; }
done
med() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
best() { sort -g | head -1; }
echo "Run of $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go env GOVERSION), commit $(git rev-parse --short HEAD); $runs alternating runs each; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| build | capture | full: wall median (best) s | CPU median s | RSS MiB | --no-diagnose: wall median (best) s | CPU median s | RSS MiB | cost (wall) | cost (CPU) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in "${caps[@]}"; do
	[ -e "$c" ] || { echo "bench-diagnose.sh: no capture $c" >&2; exit 2; }
	for k in "${!paths[@]}"; do
		: >"$tmp/full$k" && : >"$tmp/nod$k"
		"${paths[$k]}" analyze -q --format json -o /dev/null "$c" # warm the page cache
	done
	for ((i = 0; i < runs; i++)); do
		for k in "${!paths[@]}"; do
			ms=${paths[$k]}
			/usr/bin/time -f "%e %U %S %M" -a -o "$tmp/full$k" "$ms" analyze -q --format json -o /dev/null "$c"
			/usr/bin/time -f "%e %U %S %M" -a -o "$tmp/nod$k" "$ms" analyze -q --no-diagnose --format json -o /dev/null "$c"
		done
	done
	for k in "${!paths[@]}"; do
		fw=$(awk '{print $1}' "$tmp/full$k" | med) fb=$(awk '{print $1}' "$tmp/full$k" | best)
		fc=$(awk '{print $2+$3}' "$tmp/full$k" | med) fr=$(awk '{print $4}' "$tmp/full$k" | sort -g | tail -1)
		nw=$(awk '{print $1}' "$tmp/nod$k" | med) nb=$(awk '{print $1}' "$tmp/nod$k" | best)
		nc=$(awk '{print $2+$3}' "$tmp/nod$k" | med) nr=$(awk '{print $4}' "$tmp/nod$k" | sort -g | tail -1)
		awk -v b="${names[$k]}" -v c="$(basename "$c")" -v fw="$fw" -v fb="$fb" -v fc="$fc" -v fr="$fr" -v nw="$nw" -v nb="$nb" -v nc="$nc" -v nr="$nr" \
			'BEGIN {printf "| %s | `%s` | %.2f (%.2f) | %.2f | %.1f | %.2f (%.2f) | %.2f | %.1f | %+.0f %% | %+.0f %% |\n", b, c, fw, fb, fc, fr/1024, nw, nb, nc, nr/1024, (fw/nw-1)*100, (fc/nc-1)*100}'
	done
done
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
