#!/usr/bin/env bash
# The whole test suite: installs the Debian tools the tests compare against
# (tshark 4.0, tcpdump, tcptrace, iperf3, and Chromium for the HTML report's
# browser test) when run as root, then checks
# formatting and vet, runs every test with the race detector and one pass
# of every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for t in tshark tcpdump tcptrace iperf3 ip jq chromium promtool nft; do
	command -v "$t" >/dev/null 2>&1 || need+=("$t")
done
if [ "${#need[@]}" -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing test tools (missing: ${need[*]})"
		export DEBIAN_FRONTEND=noninteractive
		echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends tshark tcpdump tcptrace iperf3 iproute2 jq chromium prometheus nftables >/dev/null
	else
		echo "warning: ${need[*]} not installed and not root: tests that compare against them will skip" >&2
	fi
fi

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './testdata/*'))
if [ -n "$bad" ]; then
	echo "gofmt would change:"; echo "$bad"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
# One package at a time: several packages start browsers, tshark or
# network namespaces with real transfers, and on two cores they would
# time each other out.
go test -race -p 1 -timeout 25m ./...
echo "== benchmarks (one pass each)"
go test -run '^$' -bench . -benchtime=1x ./... >/tmp/mirrorscope-bench.txt 2>&1 || { cat /tmp/mirrorscope-bench.txt; exit 1; }
grep -E '^(Benchmark|ok|FAIL)' /tmp/mirrorscope-bench.txt || true
