#!/usr/bin/env bash
# bench-workers.sh [--runs N] [--workers N] [--bin LABEL=PATH]... FILE...
#
# Issue 16 goal 2 (all cores): for every FILE, times in alternating runs
#   - GOMAXPROCS=1 analyze --workers 1   (the goal's baseline: one core)
#   - analyze --workers 1                (one engine, all cores for the
#                                         runtime and read-ahead)
#   - analyze --workers N                (N: --workers, default nproc)
# of every binary given with --bin (default: a build of this checkout,
# LABEL "head"), each --runs times (default 7), and prints a markdown
# table of wall and CPU (user+sys) seconds, best and median, with the load
# average before and after. The speed-ups are of the best and the median
# wall times, same binary, same run.
#
# Example (before/after a change, on the lab's bench captures):
#   go build -o /tmp/ms-old ./cmd/mirrorscope   # at the old commit
#   scripts/bench-workers.sh --bin old=/tmp/ms-old --bin new=/tmp/ms-new \
#       /work/bench/bulk8/bulk8.srv.pcap /work/bench/bulk/bulk.srv.pcap
set -euo pipefail

runs=7 workers=$(nproc)
bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "bench-workers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "bench-workers.sh: no capture given (see --help)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "bench-workers.sh: /usr/bin/time not found" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ${#bins[@]} = 0 ]; then
	(cd "$(dirname "$0")/.." && go build -o "$tmp/head" ./cmd/mirrorscope)
	bins=("head=$tmp/head")
fi
for f in "$@"; do
	[ -f "$f" ] || { echo "bench-workers.sh: $f missing" >&2; exit 2; }
	cat "$f" >/dev/null # page cache
done

# one KEY CMD...: one run, "wall cpu" appended to $tmp/KEY.
one() {
	local key=$1; shift
	/usr/bin/time -f '%e %U %S' -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" ||
		{ echo "bench-workers.sh: $* failed:" >&2; tail -5 "$tmp/err" >&2; exit 1; }
	awk '{printf "%.2f %.2f\n", $1, $2+$3}' "$tmp/t" >>"$tmp/$key"
}
# stat KEY COL: best and median of column COL (1 wall, 2 CPU).
stat() {
	awk -v c="$2" '{print $c}' "$tmp/$1" | sort -n |
		awk '{v[NR]=$1} END {printf "%.2f %.2f", v[1], (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 1; i <= runs; i++)); do
	for f in "$@"; do
		fi_=$(basename "$f")
		for b in "${bins[@]}"; do
			l=${b%%=*} p=${b#*=}
			one "$l.$fi_.p1" env GOMAXPROCS=1 "$p" analyze -q --format json -o /dev/null --workers 1 "$f"
			one "$l.$fi_.w1" "$p" analyze -q --format json -o /dev/null --workers 1 "$f"
			one "$l.$fi_.wn" "$p" analyze -q --format json -o /dev/null --workers "$workers" "$f"
		done
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "Run of $(date -u '+%F %H:%M') UTC, $(nproc) CPUs, $(go env GOVERSION); $runs alternating runs each; load average before: $load_before, after: $load_after"
echo
echo "| binary | capture | command | wall best / median s | CPU best / median s |"
echo "|---|---|---|---|---|"
for f in "$@"; do
	fi_=$(basename "$f")
	for b in "${bins[@]}"; do
		l=${b%%=*}
		for k in p1 w1 wn; do
			case $k in
			p1) c="GOMAXPROCS=1 analyze --workers 1" ;;
			w1) c="analyze --workers 1" ;;
			wn) c="analyze --workers $workers" ;;
			esac
			read -r wb wm <<<"$(stat "$l.$fi_.$k" 1)"
			read -r cb cm <<<"$(stat "$l.$fi_.$k" 2)"
			echo "| $l | $fi_ | \`$c\` | $wb / $wm | $cb / $cm |"
		done
	done
done
echo
for f in "$@"; do
	fi_=$(basename "$f")
	for b in "${bins[@]}"; do
		l=${b%%=*}
		read -r p1b p1m <<<"$(stat "$l.$fi_.p1" 1)"
		read -r w1b w1m <<<"$(stat "$l.$fi_.w1" 1)"
		read -r wnb wnm <<<"$(stat "$l.$fi_.wn" 1)"
		awk -v l="$l" -v f="$fi_" -v n="$workers" -v p1b="$p1b" -v p1m="$p1m" -v w1b="$w1b" -v w1m="$w1m" -v wnb="$wnb" -v wnm="$wnm" \
			'BEGIN {printf "- %s, %s: --workers %d is %.2fx / %.2fx of GOMAXPROCS=1 (goal >= 1.6x), %.2fx / %.2fx of --workers 1 (best / median wall)\n", l, f, n, p1b/wnb, p1m/wnm, w1b/wnb, w1m/wnm}'
	done
done
