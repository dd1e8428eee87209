#!/usr/bin/env bash
# geneve.sh MIRROR.pcap OUTDIR - the GWLB (GENEVE around VXLAN) capture.
# MIRROR.pcap must hold whole frames (snaplen 0); testdata uses
# mixed.mon.pcapng converted with `editcap -F nsecpcap`.
#
# This kernel has no geneve module and there is no AWS GWLB here, so the
# GENEVE layer is made by gen/gwlb (Go, standard library): it sends every
# VXLAN mirror packet of MIRROR.pcap, whole, as a GENEVE packet with the
# three GWLB options over a real UDP socket, with the original spacing.
# Namespaces td-<pid>-{gw,app}, one veth link 198.19.1.1 <-> 198.19.1.2,
# offloads off; tcpdump captures on app's port: OUTDIR/geneve.app.pcap.
# app drops UDP 6081 in its input hook, as a capture-only appliance does.
set -Eeuo pipefail
[[ $# -eq 2 ]] || { echo "usage: geneve.sh MIRROR.pcap OUTDIR" >&2; exit 2; }
IN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
GEN=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ID=td-$$
G=$ID-gw P=$ID-app
TCPD=""
BIN=$(mktemp -d)
LOG=$OUT/geneve.commands.log
: >"$LOG"
run() { echo "+ $*" >>"$LOG"; "$@"; }
nsx() { local ns=$1; shift; run ip netns exec "$ns" "$@"; }
cleanup() {
	[[ -n $TCPD ]] && kill "$TCPD" 2>/dev/null && wait "$TCPD" 2>/dev/null
	for ns in "$G" "$P"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$BIN"
}
trap cleanup EXIT
(cd "$GEN/gwlb" && go build -o "$BIN/gwlb" .)
for ns in "$G" "$P"; do
	run ip netns add "$ns"
	nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	nsx "$ns" ip link set lo up
done
run ip link add gw0 netns "$G" address 02:00:00:00:0c:01 type veth peer name app0 netns "$P" address 02:00:00:00:0c:02
nsx "$G" ip addr add 198.19.1.1/30 dev gw0
nsx "$P" ip addr add 198.19.1.2/30 dev app0
for x in "$G gw0" "$P app0"; do
	set -- $x
	nsx "$1" ip link set "$2" mtu 9001
	nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >>"$LOG"
	nsx "$1" ip link set "$2" up
done
nsx "$G" ip neigh replace 198.19.1.2 lladdr 02:00:00:00:0c:02 dev gw0 nud permanent
nsx "$P" ip neigh replace 198.19.1.1 lladdr 02:00:00:00:0c:01 dev app0 nud permanent
nsx "$P" nft add table inet td
nsx "$P" nft add chain inet td in '{ type filter hook input priority 0; policy accept; }'
nsx "$P" nft add rule inet td in udp dport 6081 drop
ip netns exec "$P" tcpdump -i app0 -w "$OUT/geneve.app.pcap" -s 0 --time-stamp-precision=nano 2>"$BIN/tcpdump.log" &
TCPD=$!
echo "+ tcpdump -i app0 -w geneve.app.pcap -s 0 --time-stamp-precision=nano" >>"$LOG"
sleep 2
nsx "$G" "$BIN/gwlb" -in "$IN" -to 198.19.1.2:6081 -from 198.19.1.1:50000 >"$BIN/gwlb.json"
sleep 1.5
kill -INT "$TCPD"; wait "$TCPD" || true
TCPD=""
cat "$BIN/tcpdump.log" >>"$LOG"
count() { tshark -n -r "$1" -d udp.port==4789,vxlan -Y "$2" 2>/dev/null | wc -l; }
jq -n --arg src "${SRCLABEL:-$(basename "$IN")}" --argjson gw "$(cat "$BIN/gwlb.json")" \
	--argjson frames "$(count "$OUT/geneve.app.pcap" frame)" --argjson gen "$(count "$OUT/geneve.app.pcap" geneve)" \
	--argjson vx "$(count "$OUT/geneve.app.pcap" vxlan)" --argjson tcp "$(count "$OUT/geneve.app.pcap" tcp)" \
	--argjson srcvx "$(count "$IN" vxlan)" --argjson srctcp "$(count "$IN" tcp)" \
	--arg created "$(date -u +%FT%TZ)" '{
	schema: "mirrorscope-testdata-geneve/1", created_utc: $created,
	source: {file: $src, vxlan_frames: $srcvx, tcp_frames: $srctcp},
	made_by: "testdata/gen/gwlb: GENEVE built in user space, sent over a UDP socket (no AWS, no kernel geneve)",
	outer: {src: "198.19.1.1", src_port: 50000, dst: "198.19.1.2", dst_port: 6081, src_mac: "02:00:00:00:0c:01", dst_mac: "02:00:00:00:0c:02"},
	geneve: {version: 0, protocol_type: "0x0800", vni: 0, options_bytes: 32,
	         options: [{class: "0x0108", type: 1, name: "gwlb endpoint id", value: "0x0a1b2c3d4e5f6071"},
	                   {class: "0x0108", type: 2, name: "attachment id", value: "0x00000000000000a1"},
	                   {class: "0x0108", type: 3, name: "flow cookie", value: "fnv32a(big-endian VXLAN outer UDP source port)"}]},
	inner: "the source mirror packet from its IPv4 header on: IPv4 198.19.0.x -> 198.19.0.4, UDP 4789, VXLAN, Ethernet frame",
	gwlb: $gw,
	tshark_counts: {frame: $frames, geneve: $gen, vxlan: $vx, tcp: $tcp}}' >"$OUT/geneve.truth.json"
