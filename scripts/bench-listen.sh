#!/usr/bin/env bash
# Measures `mirrorscope listen` fed by `mirrorscope replay` over loopback.
#
#   scripts/bench-listen.sh [options]
#
#   --capture FILE   capture to replay (default testdata/policer/policer.srv.pcap:
#                    a lab capture with a 128-byte snaplen, ~114-byte datagrams)
#   --frames 1500    instead, record a real capture of full 1514-byte frames
#                    (iperf3 across a veth pair in two network namespaces,
#                    offloads off; needs root) and replay that
#   --loops N        replay the capture N times (default 50), each pass with its
#                    inner ports shifted by the pass number (replay --loop-ports),
#                    so that every pass is new connections
#   --no-raw         replay through UDP sockets instead of a raw socket
#   --start PPS      first rate tried (default 50000)
#   --pps PPS        one trial at this rate instead of searching
#   --steady DUR     with --pps: one steady run of about DUR seconds (the loop
#                    count is derived from the rate), recording listen's RSS at
#                    its start and end (not for CI: a 10-minute run is
#                    --steady 600)
#   --listen-args "ARGS"  further flags for listen (e.g. "--sockets 1 --shards 2")
#   --replay-args "ARGS"  further flags for replay (e.g. "--gso --sources 1")
#   --drain          listen's own rate, without the sender competing for the
#                    CPUs: stop listen (SIGSTOP), replay LOOPS copies as fast as
#                    possible into its sockets (--rcvbuf 1GiB each, root), let it
#                    go on (SIGCONT) and time until it has read everything
#
# A trial is clean when the listener's kernel socket drops are 0 and the
# flows it reports equal `mirrorscope analyze` on the capture concatenated
# LOOPS times: per flow its endpoints, packets and bytes per direction and
# its TCP flags (retransmission, fast retransmission and out of order folded
# into one count, since Wireshark chooses between them by timing and the
# replayed stream has its own timing). The search doubles the rate until a
# trial fails or replay cannot send faster, then bisects. Each trial prints
# the rate replay achieved and the CPU each process used (percent of one
# core over replay's run; the machine has $(nproc) cores shared by both).
set -euo pipefail
cd "$(dirname "$0")/.."

cap=testdata/policer/policer.srv.pcap loops=50 frames="" noraw="" start=50000 fixed="" steady="" drain="" largs="" rargs=""
while [ $# -gt 0 ]; do
	case $1 in
	--capture) cap=$2; shift 2 ;;
	--frames) frames=$2; shift 2 ;;
	--loops) loops=$2; shift 2 ;;
	--no-raw) noraw=--no-raw; shift ;;
	--start) start=$2; shift 2 ;;
	--pps) fixed=$2; shift 2 ;;
	--steady) steady=$2; shift 2 ;;
	--drain) drain=yes; shift ;;
	--listen-args) largs=$2; shift 2 ;;
	--replay-args) rargs=$2; shift 2 ;;
	*) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
	esac
done
if [ -n "$steady" ] && [ -z "$fixed" ]; then
	echo "--steady needs --pps" >&2
	exit 2
fi

tmp=$(mktemp -d)
ns=msbench$$
cleanup() {
	kill "${lpid:-}" 2>/dev/null || true
	ip netns del "$ns-a" 2>/dev/null || true
	ip netns del "$ns-b" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/mirrorscope" ./cmd/mirrorscope
ms="$tmp/mirrorscope"

if [ "$frames" = 1500 ]; then
	# A real capture of full-size frames: iperf3 over a veth pair with
	# MTU 1500 and segmentation offloads off, captured whole.
	ip netns add "$ns-a"
	ip netns add "$ns-b"
	ip link add a0 netns "$ns-a" type veth peer name b0 netns "$ns-b"
	ip -n "$ns-a" addr add 10.201.0.1/24 dev a0
	ip -n "$ns-b" addr add 10.201.0.2/24 dev b0
	for x in a b; do
		ip -n "$ns-$x" link set lo up
		ip -n "$ns-$x" link set "${x}0" up mtu 1500
		ip netns exec "$ns-$x" ethtool -K "${x}0" tso off gso off gro off >/dev/null 2>&1 || true
	done
	ip netns exec "$ns-b" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	ip netns exec "$ns-a" tcpdump -i a0 -s 0 -w "$tmp/frames1500.pcap" tcp port 5201 2>/dev/null &
	tdpid=$!
	sleep 1
	ip netns exec "$ns-a" iperf3 -c 10.201.0.2 -p 5201 -n 30M -b 200M >/dev/null
	sleep 0.5
	kill -INT "$tdpid"
	wait "$tdpid" || true
	cap="$tmp/frames1500.pcap"
fi
[ -e "$cap" ] || { echo "no capture $cap" >&2; exit 2; }
frames_n=$(capinfos -c -M "$cap" | awk '/Number of packets/ {print $NF}')

# The flows as compared: sorted, with the timing-dependent TCP flags folded.
norm='[.[] | {client, server, proto, packets, bytes,
	c2s: [.client_to_server.packets, .client_to_server.bytes],
	s2c: [.server_to_client.packets, .server_to_client.bytes],
	flags: ((.tcp.analysis // {}) as $f
		| ($f | del(.retransmission, .fast_retransmission, .out_of_order))
		+ (if (($f.retransmission // 0) + ($f.out_of_order // 0)) > 0
			then {"retransmission+out_of_order": (($f.retransmission // 0) + ($f.out_of_order // 0))} else {} end))}]
	| sort_by(.client, .server, .proto)'

want_loops=-1
reference() { # loops -> $tmp/want.json: analyze on the capture, once per pass with the ports shifted
	[ "$1" = "$want_loops" ] && return
	# Replay runs with --loop-ports: pass i adds i to every inner port, so
	# each pass is new connections (sent as captured, the passes would be
	# the same connections again, which listen, like tshark, reports as
	# one). Expect each flow of one analysed copy once per pass, its ports
	# shifted. Right for captures whose flows end within the capture (the
	# lab's do); otherwise the comparison fails, it does not pass wrongly.
	"$ms" analyze --format json "$cap" | jq -S --argjson n "$1" '
		def shift($i): capture("^(?<h>.*):(?<p>[0-9]+)$") as $m | "\($m.h):\((($m.p | tonumber) - 1 + $i) % 65535 + 1)";
		[.flows[]] | '"$norm"' | [range($n) as $i | .[] | .client |= shift($i) | .server |= shift($i)] | sort_by(.client, .server, .proto)' >"$tmp/want.json"
	want_loops=$1
}

cpu_ticks() { # pid -> utime+stime in clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat"
}
rss_kib() {
	awk '/^VmRSS/ {print $2}' "/proc/$1/status"
}

# Searches keep every ended flow in memory for the summary; steady runs
# keep listen's default, so that RSS is what a deployment sees.
keep="--max-report-flows 100000"
[ -n "$steady" ] && keep=""
port=$((20000 + RANDOM % 20000))
hport=$((port + 1))
hz=$(getconf CLK_TCK)
trial() { # pps loops -> 0 if clean and equal
	local pps=$1 lp=$2
	reference "$lp"
	"$ms" listen --vxlan "127.0.0.1:$port" --http "127.0.0.1:$hport" --report-interval 0 -q $largs \
		--out "$tmp/out.jsonl" --out-rotate-size 0 $keep 2>"$tmp/listen.log" &
	lpid=$!
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null && break; sleep 0.1; done
	local l0 r0 w0 rss0="" rss1=""
	l0=$(cpu_ticks "$lpid")
	if [ -n "$steady" ]; then
		(sleep 10; rss_kib "$lpid" >"$tmp/rss0") &
	fi
	/usr/bin/time -f "%U %S %e" -o "$tmp/rtime" "$ms" replay "$cap" --to "127.0.0.1:$port" --vni 4242 \
		--loop "$lp" --loop-ports --pps "$pps" $noraw $rargs 2>"$tmp/replay.log" || true
	achieved=$(sed -n 's/.*(\([0-9]*\) pps).*/\1/p' "$tmp/replay.log")
	dg_bytes=$(sed -n 's/.* datagrams (\([0-9]*\) bytes).*/\1/p' "$tmp/replay.log")
	dg_n=$(sed -n 's/.* \([0-9]*\) datagrams (.*/\1/p' "$tmp/replay.log")
	local l1 rcpu lcpu wall
	l1=$(cpu_ticks "$lpid")
	read -r ru rs wall <"$tmp/rtime"
	# Replay reads and wraps a looped capture before it sends (its CPU
	# includes that); listen idles meanwhile, so its share is taken over
	# the sending time only.
	local send
	send=$(awk -v n="$dg_n" -v r="${achieved:-0}" -v w="$wall" 'BEGIN {if (r > 0) printf "%.2f", n / r; else print w}')
	rcpu=$(awk -v u="$ru" -v s="$rs" -v w="$wall" 'BEGIN {printf "%.0f", (u + s) / w * 100}')
	lcpu=$(awk -v a="$l0" -v b="$l1" -v hz="$hz" -v w="$send" 'BEGIN {printf "%.0f", (b - a) / hz / w * 100}')
	if [ -n "$steady" ]; then
		rss0=$(cat "$tmp/rss0" 2>/dev/null || echo "?")
		rss1=$(rss_kib "$lpid")
	fi
	sleep 0.5
	local m drops
	m=$(curl -sf "http://127.0.0.1:$hport/metrics")
	drops=$(echo "$m" | awk '/^mirrorscope_listen_socket_drops_total/ {s += $2} END {print s + 0}')
	kill -TERM "$lpid"
	wait "$lpid" || true
	jq -S -s "[.[] | select(.type == \"flow\" and (.interim | not))] | $norm" "$tmp/out.jsonl" >"$tmp/got.json"
	rm -f "$tmp/out.jsonl"
	local same=no
	cmp -s "$tmp/got.json" "$tmp/want.json" && same=yes
	echo "pps $pps x $lp loops: sent at $achieved pps, kernel drops $drops, flows equal: $same; CPU replay ${rcpu}% of one core over its ${wall}s (preparation included), listen ${lcpu}% over the ${send}s of sending$([ -n "$steady" ] && echo "; listen RSS ${rss0} KiB at 10 s, ${rss1} KiB at the end")" >&2
	[ "$same" = yes ] || diff <(jq -c '.[]' "$tmp/want.json") <(jq -c '.[]' "$tmp/got.json") | head -6 >&2 || true
	[ "$drops" = 0 ] && [ "$same" = yes ]
}

# drain_trial: listen's processing rate on a backlog (see --drain).
drain_trial() {
	local lp=$1
	reference "$lp"
	"$ms" listen --vxlan "127.0.0.1:$port" --http "127.0.0.1:$hport" --report-interval 0 -q $largs \
		--out "$tmp/out.jsonl" --out-rotate-size 0 --rcvbuf 1GiB $keep 2>"$tmp/listen.log" &
	lpid=$!
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null && break; sleep 0.1; done
	kill -STOP "$lpid"
	"$ms" replay "$cap" --to "127.0.0.1:$port" --vni 4242 --loop "$lp" --loop-ports --topspeed $noraw $rargs 2>"$tmp/replay.log" || true
	dg_bytes=$(sed -n 's/.* datagrams (\([0-9]*\) bytes).*/\1/p' "$tmp/replay.log")
	dg_n=$(sed -n 's/.* \([0-9]*\) datagrams (.*/\1/p' "$tmp/replay.log")
	local l0 l1 t0 t1 n=0 drops=0 m
	l0=$(cpu_ticks "$lpid")
	t0=$(date +%s.%N)
	kill -CONT "$lpid"
	while [ $((n + drops)) -lt "$dg_n" ]; do
		m=$(curl -sf "http://127.0.0.1:$hport/metrics")
		n=$(echo "$m" | awk '/^mirrorscope_listen_datagrams_total/ {s += $2} END {printf "%d", s}')
		drops=$(echo "$m" | awk '/^mirrorscope_listen_socket_drops_total/ {s += $2} END {printf "%d", s}')
		sleep 0.01
	done
	t1=$(date +%s.%N)
	l1=$(cpu_ticks "$lpid")
	kill -TERM "$lpid"
	wait "$lpid" || true
	jq -S -s "[.[] | select(.type == \"flow\" and (.interim | not))] | $norm" "$tmp/out.jsonl" >"$tmp/got.json"
	local same=no
	cmp -s "$tmp/got.json" "$tmp/want.json" && same=yes
	awk -v n="$n" -v t0="$t0" -v t1="$t1" -v a="$l0" -v b="$l1" -v hz="$hz" -v d="$drops" -v same="$same" \
		'BEGIN {printf "drain: %d datagrams read in %.2f s = %.0f pps, listen CPU %.0f%% of one core, kernel drops %d, flows equal: %s\n", n, t1 - t0, n / (t1 - t0), (b - a) / hz / (t1 - t0) * 100, d, same}'
}

via=${noraw:-through a raw socket}
case " $rargs " in *" --gso "*) via="through UDP sockets with GSO" ;; esac
what() { echo "$frames_n frames of $cap, datagrams of $((dg_bytes / (dg_n > 0 ? dg_n : 1))) bytes on average, $(nproc) CPUs, listen ${largs:-with default --sockets/--shards}, replay ${rargs:+$rargs }$via; load average $(cut -d" " -f1-3 /proc/loadavg) (other processes share the machine)"; }
if [ -n "$drain" ]; then
	drain_trial "$loops"
	echo "($(what))"
	exit 0
fi
if [ -n "$fixed" ]; then
	lp=$loops
	if [ -n "$steady" ]; then
		lp=$(((fixed * steady + frames_n - 1) / frames_n))
	fi
	if trial "$fixed" "$lp"; then r=clean; else r="NOT clean"; fi
	echo "--pps $fixed x $lp loops: $r ($(what))"
	exit 0
fi

# Double the rate until a trial fails or replay cannot send faster; then
# bisect.
lo=0 best=0 hi=$start saturated=no
while trial "$hi" "$loops"; do
	lo=$hi best=$achieved
	if [ "$achieved" -lt $((hi * 9 / 10)) ]; then saturated=yes; break; fi
	hi=$((hi * 2))
done
if [ "$saturated" = no ]; then
	for _ in 1 2 3 4; do
		mid=$(((lo + hi) / 2))
		if trial "$mid" "$loops"; then lo=$mid best=$achieved; else hi=$mid; fi
	done
fi
[ "$saturated" = yes ] && echo "note: replay could not send faster than $best pps; the listener kept up with everything it sent"
echo "highest clean rate: $best pps sent (--pps $lo, $loops loops; $(what))"
