#!/usr/bin/env bash
# ci.sh - copy the CI subset of the sweep into testdata/sweep-ci/: a few
# short, low-rate runs of the tune set (and of spent held-out sets, named
# SET/RUN), one or two capture points each, gzipped (a few MB in all). go test ./internal/accuracy scores them against
# testdata/sweep-ci/golden.tsv (make it again with -update).
# CORPUS as in gen.sh; the runs must have been made (gen.sh tune, and
# gen.sh SET for the others).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CORPUS=${CORPUS:-/work/corpus}
DST=$ROOT/testdata/sweep-ci
# [set/]run:points (set: tune unless given)
# heldout3/v020_policer: 5 cubic flows under a 16 Mbit/s policer that
# they never fill (its rate from the drops' timing at the sender, srv)
# heldout11/q012_shaper: one BBR flow through a 28 Mbit/s shaper with a
# 14 ms queue on a 127 ms path: flat at CV 0.006 behind 22 ms of growth,
# a shaper, not "probably policed" (srv)
# heldout17/k019_app_const: iperf3 at a constant 32 Mbit/s on a 2 ms path;
# from its ACKs alone (srv, egress) the 398 kB window implies a 101 ms RTT
# where the handshake shows 2.2 ms: the application, not the window
# heldout16/l029_rwnd: 3 cubic flows each held by a 40 kB window on a
# 91 ms path; from their ACKs alone (srv, egress) each window gives its
# rate over the handshake's RTT plus 4 ms of growth: window limits, not
# one shared shaper
# heldout17/k051_rwnd: one cubic flow held by a 10 kB window on a 21 ms
# path, its delivered rate varying by 100 ms; from its ACKs alone (srv,
# egress) the window gives its mean rate over the handshake's RTT
# heldout15/m004_app_const: 2 BBR flows of iperf3 at 5.4 Mbit/s each on
# a 7 ms path, their delivered rates varying; from their ACKs alone (srv,
# egress) the windows allowed 108-141 times their mean over the
# handshake's RTT: the application
# heldout21/f005_policer: 3 cubic flows through one 3.1 Mbit/s policer
# with a 93 kB bucket on a 7 ms path, 28% of their segments lost, no
# queue; the bursts the bucket lets through leave their sum at CV 0.18
# per 100 ms over a 4 s run: a shared policer at the sum's median, not
# random loss each (srv)
# heldout20/g033_rwnd: one reno flow held by its receiver's 26 kB buffer on a 43 ms
# path, the server sending; from its data alone at the server (srv,
# egress) the handshake RTT is not there, and the server's SYN/ACK to its
# first ACK of the client's data stands in for it: bursts one RTT apart
SUBSET=(t002_fifo:mon,srv t010_shaper:mon t013_loss:cli t007_app_bursty:srv t018_app_const:cli t028_policer:mon t066_policer:cli t029_rwnd:srv
	heldout3/v020_policer:srv heldout11/q012_shaper:srv heldout17/k019_app_const:srv heldout16/l029_rwnd:srv heldout17/k051_rwnd:srv heldout15/m004_app_const:srv heldout21/f005_policer:srv heldout20/g033_rwnd:srv)
for item in "${SUBSET[@]}"; do
	run=${item%%:*} points=${item#*:} set=tune
	if [[ $run == */* ]]; then set=${run%%/*} run=${run#*/}; fi
	src=$CORPUS/$set/$run
	[[ -f $src/$run.summary.json ]] || { echo "ci.sh: $src not made (gen.sh $set)" >&2; exit 2; }
	rm -rf "${DST:?}/$run"
	mkdir -p "$DST/$run"
	for p in ${points//,/ }; do
		gzip -9nc "$src/$run.$p.pcap" >"$DST/$run/$run.$p.pcap.gz"
	done
	jq --arg pts "$points" '.captures = ($pts | split(",") | sort)' "$src/$run.summary.json" >"$DST/$run/$run.summary.json"
done
du -sh "$DST"
