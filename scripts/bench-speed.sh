#!/usr/bin/env bash
# bench-speed.sh [--dir DIR] [--runs N] [--no-tshark] [--tshark-runs N] [--workers N] [--base BIN]
#
# Issue 16's measurements in one run, printed as markdown for
# docs/benchmarks.md: every row is measured in the same run as its
# baseline and its peer, each command --runs times (default 5),
# alternating, and reported as best and median.
#
#   1. mirror path = plain path: `analyze` on the plain capture of a bulk
#      transfer, on the VXLAN mirror of the same traffic and on that mirror
#      wrapped in GENEVE (as a Gateway Load Balancer delivers it):
#      whole-program packets/s; and BenchmarkEngineEncap (the same frames
#      in memory, plain / VXLAN / GENEVE+VXLAN: no reading, no process).
#   2. --workers 1 vs --workers N (default: nproc) on the plain capture,
#      and on DIR/bulk8 (8 parallel connections) when it is there.
#   3. mirrorscope vs `tcptrace -l -n` on the plain capture, and vs
#      `tshark -q -z expert` on the VXLAN capture (minutes per run; one
#      run by default, --tshark-runs N for more, --no-tshark to skip).
#   4. peak RSS (/usr/bin/time -v) of every mirrorscope row, and of the
#      first tenth of the plain capture (memory flat in file size).
#   5. with --base BIN (a build of an earlier commit): that binary too on
#      the plain, VXLAN and 8-flow captures, in the same alternation, so
#      before and after stand side by side with tcptrace in one run.
#
# Needs: go, /usr/bin/time (package time), tcptrace, tshark and editcap
# (tshark, wireshark-common), and the lab captures, made once as root
# with the shared lab (8 s of iperf3, ~1.5 M packets each; not in git):
#
#   ../shared/lab/mklab.sh -s none -t 8 -m srv:4242 -c srv -n bulk -o DIR
#   ../shared/lab/mklab.sh -s none -t 8 -P 8 -m srv:4242 -c srv -n bulk8 -o DIR   # optional
#
# DIR defaults to /work/bench. The GENEVE capture DIR/bulk/bulk.geneve.pcap
# and the tenth DIR/bulk/bulk.srv.tenth.pcap are made from those when
# missing (scripts/genevewrap, editcap). Takes about 2 minutes with
# --no-tshark and the default 5 runs on 2 cores, plus ~2-3 minutes per
# tshark run. Run it on a quiet machine: the ratios of one run are what
# counts; absolute times move with the machine's load (printed).
set -euo pipefail

dir=/work/bench runs=5 tshark=1 tshark_runs=1 workers=$(nproc) base=
while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--no-tshark) tshark=0; shift ;;
	--tshark-runs) tshark_runs=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--base) base=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-speed.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

plain=$dir/bulk/bulk.srv.pcap
mon=$dir/bulk/bulk.mon.pcap
gen=$dir/bulk/bulk.geneve.pcap
tenth=$dir/bulk/bulk.srv.tenth.pcap
plain8=$dir/bulk8/bulk8.srv.pcap
for f in "$plain" "$mon"; do
	[ -f "$f" ] || { echo "bench-speed.sh: $f missing: make it with the mklab.sh command in --help" >&2; exit 2; }
done
for t in /usr/bin/time tcptrace editcap capinfos; do
	command -v "$t" >/dev/null || { echo "bench-speed.sh: $t not found (see --help)" >&2; exit 2; }
done
[ -z "$base" ] || [ -x "$base" ] || { echo "bench-speed.sh: --base $base is not an executable" >&2; exit 2; }
[ $tshark = 0 ] || command -v tshark >/dev/null || { echo "bench-speed.sh: tshark not found (or --no-tshark)" >&2; exit 2; }

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/mirrorscope
go build -o "$bin" ./cmd/mirrorscope
[ -f "$gen" ] || go run ./scripts/genevewrap -o "$gen" "$mon"
[ -f "$tenth" ] || editcap -r "$plain" "$tenth" 1-$(( $(capinfos -c -M "$plain" | awk -F': *' '/Number of packets/ {print $2}') / 10 ))

npk() { capinfos -c -M "$1" | awk -F': *' '/Number of packets/ {print $2}'; }
declare -A packets
for f in "$plain" "$mon" "$gen" "$tenth" "$plain8"; do
	[ -f "$f" ] || continue
	cat "$f" >/dev/null # page cache
	packets[$f]=$(npk "$f")
done

# time_run NAME CAPTURE CMD...: one run, appended to $tmp/NAME as "wall rss".
time_run() {
	local name=$1 cap=$2; shift 2
	local log=$tmp/log
	/usr/bin/time -v "$@" >/dev/null 2>"$log" || { echo "bench-speed.sh: $name failed:" >&2; tail -5 "$log" >&2; exit 1; }
	awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s}
		/User time/ {u=$2} /System time/ {y=$2}
		/Maximum resident/ {r=$2/1024} END {printf "%.2f %.1f %.2f\n", w, r, u+y}' "$log" >>"$tmp/$name"
	echo "$cap" >"$tmp/$name.cap"
	printf '%s\n' "$*" >"$tmp/$name.cmd"
}
# stats NAME: best and median wall, packets/s at both, peak RSS (max of
# runs), runs, best CPU (user+sys).
stats() {
	local name=$1 cap
	cap=$(cat "$tmp/$name.cap")
	sort -n "$tmp/$name" | awk -v p="${packets[$cap]}" '
		{w[NR]=$1; if ($2>r) r=$2; if (NR==1 || $3<c) c=$3}
		END {m=(NR%2)?w[(NR+1)/2]:(w[NR/2]+w[NR/2+1])/2;
			printf "%.2f %.2f %.0f %.0f %.1f %d %.2f\n", w[1], m, p/w[1], p/m, r, NR, c}'
}
row() { # row NAME LABEL
	local s
	read -r best med ppsb ppsm rss n cpu <<<"$(stats "$1")"
	local c
	c=$(sed "s#$bin#mirrorscope#; s#${base:-^$}#base#; s#$dir/##g" "$tmp/$1.cmd")
	printf '| %s | `%s` | %s | %s | %s | %s | %s | %s |\n' "$2" "$c" "$best" "$med" \
		"$(printf "%'d" "$ppsb")" "$(printf "%'d" "$ppsm")" "$cpu" "$rss"
}
best() { stats "$1" | awk '{print $1}'; }
med() { stats "$1" | awk '{print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

ms() { echo "$bin" analyze -q --format json -o /dev/null "$@"; }
msb() { echo "$base" analyze -q --format json -o /dev/null "$@"; }

echo "Measuring ($runs runs each, alternating; load average before: $(cut -d' ' -f1-3 /proc/loadavg))..." >&2
for ((i = 1; i <= runs; i++)); do
	time_run plain "$plain" $(ms "$plain")
	time_run vxlan "$mon" $(ms "$mon")
	time_run geneve "$gen" $(ms "$gen")
	time_run w1 "$plain" $(ms --workers 1 "$plain")
	time_run wn "$plain" $(ms --workers "$workers" "$plain")
	if [ -f "$plain8" ]; then
		time_run w1_8 "$plain8" $(ms --workers 1 "$plain8")
		time_run wn_8 "$plain8" $(ms --workers "$workers" "$plain8")
	fi
	time_run tcptrace "$plain" tcptrace -l -n "$plain"
	if [ -n "$base" ]; then
		time_run base_plain "$plain" $(msb "$plain")
		time_run base_vxlan "$mon" $(msb "$mon")
		[ ! -f "$plain8" ] || time_run base_8 "$plain8" $(msb --workers 1 "$plain8")
	fi
	time_run tenth "$tenth" $(ms "$tenth")
done
if [ $tshark = 1 ]; then
	for ((i = 1; i <= tshark_runs; i++)); do
		echo "tshark -z expert run $i of $tshark_runs (minutes)..." >&2
		time_run tshark "$mon" tshark -n -r "$mon" -q -z expert
		time_run vxlan_t "$mon" $(ms "$mon")
	done
fi
echo "Go benchmark BenchmarkEngineEncap ($runs runs)..." >&2
(cd internal/engine && MIRRORSCOPE_BENCH_PCAP=$plain go test -run '^$' -bench EngineEncap -benchtime 3x -count "$runs") >"$tmp/gobench" 2>&1 ||
	{ echo "bench-speed.sh: go benchmark failed" >&2; tail -5 "$tmp/gobench" >&2; exit 1; }
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "Run of $(date -u '+%F %H:%M') UTC, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(go env GOVERSION), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'); load average after: $load_after."
echo "Captures: plain $(basename "$plain") ${packets[$plain]} packets, VXLAN $(basename "$mon") ${packets[$mon]}, GENEVE $(basename "$gen") ${packets[$gen]}; $runs runs of each mirrorscope and tcptrace command, $([ $tshark = 1 ] && echo "$tshark_runs of tshark" || echo "tshark skipped")."
echo
echo "| row | command | best s | median s | packets/s (best) | packets/s (median) | CPU s (best) | peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
row plain "plain"
row vxlan "VXLAN mirror"
row geneve "GENEVE+VXLAN"
row w1 "--workers 1"
row wn "--workers $workers"
if [ -f "$plain8" ]; then
	row w1_8 "8 flows, --workers 1"
	row wn_8 "8 flows, --workers $workers"
fi
row tcptrace "tcptrace -l"
if [ -n "$base" ]; then
	row base_plain "base: plain"
	row base_vxlan "base: VXLAN mirror"
	[ ! -f "$plain8" ] || row base_8 "base: 8 flows, --workers 1"
fi
row tenth "first tenth of plain"
[ $tshark = 0 ] || { row tshark "tshark -z expert (VXLAN)"; row vxlan_t "mirrorscope (VXLAN), beside tshark"; }
echo
pps() { stats "$1" | awk -v k="$2" '{print (k=="best")?$3:$4}'; }
echo "Ratios (best / median):"
echo
cpu() { stats "$1" | awk '{print $7}'; }
echo "- mirror vs plain CPU time (user+sys, best; steadier than wall time on a busy machine): VXLAN $(ratio "$(cpu plain)" "$(cpu vxlan)"), GENEVE+VXLAN $(ratio "$(cpu plain)" "$(cpu geneve)") of plain's packets per CPU second"
echo "- mirror vs plain packets/s: VXLAN $(ratio "$(pps vxlan best)" "$(pps plain best)") / $(ratio "$(pps vxlan med)" "$(pps plain med)"), GENEVE+VXLAN $(ratio "$(pps geneve best)" "$(pps plain best)") / $(ratio "$(pps geneve med)" "$(pps plain med)") (goal: within 10 %, >= 0.90)"
echo "- --workers $workers vs 1, whole program: $(ratio "$(best w1)" "$(best wn)")x / $(ratio "$(med w1)" "$(med wn)")x on the plain capture$([ -f "$plain8" ] && echo ", $(ratio "$(best w1_8)" "$(best wn_8)")x / $(ratio "$(med w1_8)" "$(med wn_8)")x on 8 flows") (goal on 2 cores: >= 1.6x)"
echo "- mirrorscope / tcptrace -l time: $(ratio "$(best plain)" "$(best tcptrace)") / $(ratio "$(med plain)" "$(med tcptrace)") (goal: <= 0.33)"
if [ -n "$base" ]; then
	echo "- base ($base) / tcptrace -l time: $(ratio "$(best base_plain)" "$(best tcptrace)") / $(ratio "$(med base_plain)" "$(med tcptrace)")"
	echo "- this build / base, wall (best / median) and CPU (best): plain $(ratio "$(best plain)" "$(best base_plain)") / $(ratio "$(med plain)" "$(med base_plain)"), CPU $(ratio "$(cpu plain)" "$(cpu base_plain)"); VXLAN $(ratio "$(best vxlan)" "$(best base_vxlan)") / $(ratio "$(med vxlan)" "$(med base_vxlan)"), CPU $(ratio "$(cpu vxlan)" "$(cpu base_vxlan)")$([ -f "$plain8" ] && echo "; 8 flows $(ratio "$(best w1_8)" "$(best base_8)") / $(ratio "$(med w1_8)" "$(med base_8)"), CPU $(ratio "$(cpu w1_8)" "$(cpu base_8)")")"
fi
[ $tshark = 0 ] || echo "- tshark -z expert / mirrorscope time on the VXLAN capture: $(ratio "$(best tshark)" "$(best vxlan_t)")x / $(ratio "$(med tshark)" "$(med vxlan_t)")x (goal: >= 100x)"
echo "- peak RSS: $(stats plain | awk '{print $5}') MiB on the plain capture, $(stats tenth | awk '{print $5}') MiB on its first tenth (goal: <= 150 MiB, flat in file size)"
echo
echo "BenchmarkEngineEncap (same frames in memory; ns per packet, best / median of $runs):"
echo
for name in plain vxlan geneve+vxlan; do
	grep -F "BenchmarkEngineEncap/$name-" "$tmp/gobench" | awk '{for (i=1;i<NF;i++) if ($(i+1)=="ns/pkt") print $i}' | sort -n |
		awk -v n="$name" '{v[NR]=$1} END {if (NR) printf "- %s: %.1f / %.1f\n", n, v[1], (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'
done
