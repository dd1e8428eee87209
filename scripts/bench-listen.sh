#!/usr/bin/env bash
# Finds the highest replay rate (--pps) at which `mirrorscope listen` reads
# every datagram with zero kernel socket drops and reports the same flows
# (packets and bytes per flow) as `mirrorscope analyze` on the same input.
#
#   scripts/bench-listen.sh [CAPTURE] [LOOPS]
#
# Default capture: testdata/policer/policer.srv.pcap, 50 loops. Loopback
# only. Prints one line per trial and the result; docs/benchmarks.md quotes it.
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-testdata/policer/policer.srv.pcap}
loops=${2:-50}
tmp=$(mktemp -d)
trap 'kill "${lpid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/mirrorscope" ./cmd/mirrorscope
ms="$tmp/mirrorscope"

# The reference: analyze on the capture concatenated LOOPS times (replay
# sends the same flows again on each loop, so they add up the same way).
files=(); for ((i = 0; i < loops; i++)); do files+=("$cap"); done
"$ms" analyze --format json "${files[@]}" | jq -S '[.flows[] | {client, server, proto, packets, bytes}] | sort_by(.client, .server)' >"$tmp/want.json"

port=$((20000 + RANDOM % 20000))
hport=$((port + 1))
trial() { # pps -> 0 if clean and equal
	local pps=$1
	"$ms" listen --vxlan "127.0.0.1:$port" --http "127.0.0.1:$hport" --report-interval 0 -q \
		--out "$tmp/out.jsonl" --max-report-flows 100000 2>"$tmp/listen.log" &
	lpid=$!
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null && break; sleep 0.1; done
	achieved=$("$ms" replay "$cap" --to "127.0.0.1:$port" --vni 4242 --loop "$loops" --pps "$pps" 2>&1 |
		sed -n 's/.*(\([0-9]*\) pps).*/\1/p')
	sleep 0.5
	local m drops
	m=$(curl -sf "http://127.0.0.1:$hport/metrics")
	drops=$(echo "$m" | awk '/^mirrorscope_listen_socket_drops_total/ {s += $2} END {print s + 0}')
	kill -TERM "$lpid"; wait "$lpid" || true
	jq -S -s '[.[] | select(.type == "flow" and (.interim | not)) | {client, server, proto, packets, bytes}] | sort_by(.client, .server)' \
		"$tmp/out.jsonl" >"$tmp/got.json"
	rm -f "$tmp/out.jsonl"
	local same=no
	cmp -s "$tmp/got.json" "$tmp/want.json" && same=yes
	echo "pps $pps: sent at $achieved pps, kernel drops $drops, flows equal: $same" >&2
	[ "$drops" = 0 ] && [ "$same" = yes ]
}

# Double the rate until a trial fails or the sender (one replay process)
# cannot go faster; then bisect.
lo=0 best=0 hi=25000 saturated=no
while trial "$hi"; do
	lo=$hi best=$achieved
	if [ "$achieved" -lt $((hi * 9 / 10)) ]; then saturated=yes; break; fi
	hi=$((hi * 2))
done
if [ "$saturated" = no ]; then
	for _ in 1 2 3 4; do
		mid=$(((lo + hi) / 2))
		if trial "$mid"; then lo=$mid best=$achieved; else hi=$mid; fi
	done
fi
frames=$(capinfos -c -M "$cap" 2>/dev/null | awk '/packets/ {print $NF}' || echo "?")
[ "$saturated" = yes ] && echo "note: replay could not send faster than $best pps; the listener kept up with everything it sent"
echo "highest clean rate: $best pps sent (--pps $lo) ($frames frames x $loops loops of $cap; $(nproc) CPUs; default --sockets/--shards)"
