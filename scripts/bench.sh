#!/usr/bin/env bash
# bench.sh CAPTURE [TOOLS...]
#
# Times mirrorscope and its peers on one capture, in the same run, with
# /usr/bin/time -v (wall time, CPU time, peak RSS), and prints a markdown
# table for docs/benchmarks.md. Warm the page cache first (the script reads
# the file once before timing). TOOLS defaults to:
#   mirrorscope_json  mirrorscope analyze --format json (all analyses)
#   mirrorscope_nodiag  analyze --no-diagnose (TCP analysis, no diagnosis)
#   mirrorscope_flows   analyze --flows-only (decode + flow tracking)
#   tcptrace_l        tcptrace -l -n
#   tshark_expert     tshark -q -z expert (Wireshark's TCP analysis)
# Other tools: mirrorscope_text, mirrorscope_html, tshark_plain (read only),
# mirrorscope_packets.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench.sh CAPTURE [TOOLS...]" >&2; exit 2; }
cap=$1; shift
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(mirrorscope_json mirrorscope_nodiag mirrorscope_flows tcptrace_l tshark_expert)
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/mirrorscope
go build -o "$bin" ./cmd/mirrorscope
cat "$cap" > /dev/null
packets=$(capinfos -c -M "$cap" 2>/dev/null | awk -F': *' '/Number of packets/ {print $2}')
size=$(stat -c %s "$cap")

cmd_for() {
	case $1 in
	mirrorscope_json) echo "$bin analyze -q --format json -o /dev/null $cap" ;;
	mirrorscope_text) echo "$bin analyze -q -o /dev/null $cap" ;;
	mirrorscope_nodiag) echo "$bin analyze -q --no-diagnose --format json -o /dev/null $cap" ;;
	mirrorscope_flows) echo "$bin analyze -q --flows-only --format json -o /dev/null $cap" ;;
	mirrorscope_html) echo "$bin analyze -q --format html -o /dev/null $cap" ;;
	mirrorscope_packets) echo "$bin packets $cap" ;;
	tcptrace_l) echo "tcptrace -l -n $cap" ;;
	tshark_plain) echo "tshark -n -r $cap -q" ;;
	tshark_expert) echo "tshark -n -r $cap -q -z expert" ;;
	*) echo "unknown tool $1" >&2; exit 2 ;;
	esac
}

echo "capture: $cap ($packets packets, $size bytes), $(nproc) CPUs, $(date -u +%F)"
echo
echo "| tool | command | wall s | CPU s | packets/s | peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|"
for t in "${tools[@]}"; do
	c=$(cmd_for "$t")
	log=$(mktemp)
	/usr/bin/time -v $c >/dev/null 2>"$log" || { echo "$t failed:" >&2; tail -5 "$log" >&2; continue; }
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
	cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$log")
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2/1024}' "$log")
	pps=$(awk -v p="$packets" -v w="$wall" 'BEGIN { if (w > 0) printf "%.0f", p/w; else print "-" }')
	shown=${c//$bin/mirrorscope}
	shown=${shown//$cap/$(basename "$cap")}
	echo "| $t | \`$shown\` | $wall | $cpu | $pps | $rss |"
done
