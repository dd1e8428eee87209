#!/usr/bin/env bash
# mixed.sh OUTDIR - a small capture of many kinds of traffic, mirrored.
#
# Two hosts a and b on one veth link (IPv4 198.18.0.0/24, IPv6
# 2001:db8:1::/64), all offloads off. (No VLAN: this kernel has no 8021q
# and no act_vlan, so no tagged frames can be made here.)
# b's eth0 is mirrored the AWS way: a clsact u32 match-all filter on ingress
# and egress copies every frame (mirred) to a VXLAN device, VNI 77,
# 198.19.0.2 -> 198.19.0.4:4789, whose link leads to namespace mon.
#
# Captures, all started before the traffic and stopped 1.5 s after it:
#   mixed.b.pcap      tcpdump on b:eth0 (Ethernet, the mirrored point)
#   mixed.a-any.pcap  tcpdump -i any in a, the other end (LINKTYPE_LINUX_SLL2)
#   mixed.mon.pcapng  dumpcap on mon's port (pcapng, VXLAN)
# and mixed.truth.json: what was sent, and tshark's protocol counts per file.
#
# Namespaces are td-<pid>-{a,b,mon}; nothing leaves them; an EXIT trap
# removes them and the processes this script started. Needs root, iproute2,
# tcpdump, dumpcap, tshark, iperf3, jq.
set -Eeuo pipefail
[[ $# -eq 1 ]] || { echo "usage: mixed.sh OUTDIR" >&2; exit 2; }
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
ID=td-$$
A=$ID-a B=$ID-b M=$ID-mon
PIDS=()
LOG=$OUT/mixed.commands.log
: >"$LOG"
run() { echo "+ $*" >>"$LOG"; "$@"; }
nsx() { local ns=$1; shift; run ip netns exec "$ns" "$@"; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in "$A" "$B" "$M"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

for ns in "$A" "$B" "$M"; do run ip netns add "$ns"; nsx "$ns" ip link set lo up; done
# IPv6 only on the a-b link: the mirror link stays quiet (no NDP, MLD, RS)
nsx "$M" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
nsx "$B" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
run ip link add eth0 netns "$A" address 02:00:00:00:0a:01 type veth peer name eth0 netns "$B" address 02:00:00:00:0b:01
run ip link add mir0 netns "$B" address 02:00:00:00:0b:02 type veth peer name from-b netns "$M" address 02:00:00:00:04:00
for ns in "$A" "$B"; do
	nsx "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
	nsx "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.eth0.dad_transmits=0
	nsx "$ns" ethtool -K eth0 tx off tso off gso off gro off >>"$LOG"
done
nsx "$A" ip addr add 198.18.0.1/24 dev eth0
nsx "$B" ip addr add 198.18.0.2/24 dev eth0
nsx "$A" ip -6 addr add 2001:db8:1::1/64 dev eth0 nodad
nsx "$B" ip -6 addr add 2001:db8:1::2/64 dev eth0 nodad
for ns in "$A" "$B"; do
	nsx "$ns" ip link set eth0 up
done
# the mirror link and the VXLAN session
nsx "$B" ip addr add 198.19.0.2/29 dev mir0
nsx "$B" ip link set mir0 mtu 9001 up
nsx "$M" ip addr add 198.19.0.4/29 dev from-b
nsx "$M" ip link set from-b mtu 9001 up
nsx "$B" ethtool -K mir0 tx off tso off gso off gro off >>"$LOG"
nsx "$M" ethtool -K from-b tx off tso off gso off gro off >>"$LOG"
nsx "$B" ip link add vx77 type vxlan id 77 dstport 4789 remote 198.19.0.4 local 198.19.0.2 dev mir0 nolearning
nsx "$B" ethtool -K vx77 tx off tso off gso off gro off >>"$LOG"
nsx "$B" ip link set vx77 up
nsx "$B" tc qdisc add dev eth0 clsact
nsx "$B" tc filter add dev eth0 ingress protocol all prio 1 u32 match u32 0 0 action mirred egress mirror dev vx77 index 1
nsx "$B" tc filter add dev eth0 egress protocol all prio 1 u32 match u32 0 0 action mirred egress mirror dev vx77 index 2
# mon has no VXLAN socket and would answer every copy with ICMP port
# unreachable; drop the copies in its input hook instead, as a capture-only
# target does, so the capture holds only the mirror traffic.
nsx "$M" nft add table inet td
nsx "$M" nft add chain inet td in '{ type filter hook input priority 0; policy accept; }'
nsx "$M" nft add rule inet td in udp dport 4789 drop
# a static neighbour for the mirror target, so no ARP precedes the first copy
nsx "$B" ip neigh replace 198.19.0.4 lladdr 02:00:00:00:04:00 dev mir0 nud permanent

# servers in b
nsx "$B" iperf3 -s -D -1 -p 5201 --logfile "$OUT/.iperf-s1.log"
nsx "$B" iperf3 -s -D -1 -p 5202 --logfile "$OUT/.iperf-s2.log"
nsx "$B" iperf3 -s -D -1 -p 5203 --logfile "$OUT/.iperf-s3.log"
sleep 0.5

mirred_total() { ip netns exec "$B" tc -s -j actions ls action mirred | jq '[.[] | .actions[]? | .stats.packets] | add // 0'; }
# captures
ip netns exec "$B" tcpdump -i eth0 -w "$OUT/mixed.b.pcap" -s 0 --time-stamp-precision=nano -U 2>"$OUT/.tcpdump-b.log" &
PIDS+=($!)
ip netns exec "$A" tcpdump -i any -w "$OUT/mixed.a-any.pcap" -s 0 --time-stamp-precision=nano -U 2>"$OUT/.tcpdump-any.log" &
PIDS+=($!)
ip netns exec "$M" dumpcap -q -i from-b -w "$OUT/mixed.mon.pcapng" --time-stamp-type adapter_unsynced -s 0 2>"$OUT/.dumpcap.log" &
PIDS+=($!)
echo "+ tcpdump b:eth0, tcpdump a:any, dumpcap mon:from-b" >>"$LOG"
sleep 2
mirred0=$(mirred_total)

# the traffic, from a to b
nsx "$A" ping -c 3 -i 0.2 198.18.0.2 >/dev/null                 # ICMP echo, and ARP first
nsx "$A" ping -6 -c 3 -i 0.2 2001:db8:1::2 >/dev/null            # ICMPv6 echo, and NDP first
nsx "$A" ping -c 2 -i 0.2 -s 3000 198.18.0.2 >/dev/null          # IPv4 fragments (3 per datagram)
nsx "$A" ping -6 -c 2 -i 0.2 -s 3000 2001:db8:1::2 >/dev/null    # IPv6 fragment headers
for i in 1 2 3; do
	nsx "$A" bash -c "printf 'query-$i' >/dev/udp/198.18.0.2/53"   # UDP to a closed port: ICMP port unreachable
	sleep 0.1
done
nsx "$A" iperf3 -c 198.18.0.2 -p 5201 -u -b 400K -l 200 -t 1 --json >"$OUT/.iperf-udp.json"       # UDP flow
nsx "$A" iperf3 -6 -c 2001:db8:1::2 -p 5202 -n 200K --json >"$OUT/.iperf-tcp6.json"              # TCP over IPv6
nsx "$A" iperf3 -c 198.18.0.2 -p 5203 -n 100K -R --json >"$OUT/.iperf-rev.json"                 # TCP, b sends
sleep 1.5
for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
mirred1=$(mirred_total)
mirred=$((mirred1 - mirred0))
echo "mirred copies during the captures: $mirred ($mirred0 before)" >>"$LOG"

count() { tshark -n -r "$1" -d udp.port==4789,vxlan -Y "$2" 2>/dev/null | wc -l; }
filters=(frame arp ip ipv6 icmp icmpv6 "icmp.type==8" "icmp.type==0" "icmp.type==3" "icmpv6.type==128" "icmpv6.type==129"
	"icmpv6.type==135" "icmpv6.type==136" "ip.flags.mf==1 || ip.frag_offset>0" ipv6.fraghdr udp "udp.dstport==53" tcp
	"tcp.flags.syn==1 && tcp.flags.ack==0" vxlan)
counts_for() {
	local f=$1 j='{}'
	for flt in "${filters[@]}"; do j=$(jq -c --arg k "$flt" --argjson v "$(count "$f" "$flt")" '. + {($k): $v}' <<<"$j"); done
	echo "$j"
}
jq -n --arg created "$(date -u +%FT%TZ)" --argjson mirred "$mirred" \
	--argjson b "$(counts_for "$OUT/mixed.b.pcap")" \
	--argjson any "$(counts_for "$OUT/mixed.a-any.pcap")" \
	--argjson mon "$(counts_for "$OUT/mixed.mon.pcapng")" \
	--argjson udp "$(jq '{packets: .end.sum.packets, lost: .end.sum.lost_packets, bytes: .end.sum.bytes}' "$OUT/.iperf-udp.json")" \
	--argjson tcp6 "$(jq '{bytes: .end.sum_sent.bytes, retransmits: .end.sum_sent.retransmits}' "$OUT/.iperf-tcp6.json")" \
	--argjson rev "$(jq '{bytes: .end.sum_sent.bytes, retransmits: .end.sum_sent.retransmits}' "$OUT/.iperf-rev.json")" \
	--arg tshark "$(tshark --version 2>/dev/null | head -1)" '{
	schema: "mirrorscope-testdata-mixed/1", created_utc: $created,
	hosts: {a: {mac: "02:00:00:00:0a:01", ipv4: "198.18.0.1", ipv6: "2001:db8:1::1"},
	        b: {mac: "02:00:00:00:0b:01", ipv4: "198.18.0.2", ipv6: "2001:db8:1::2"}},
	mirror: {source: "b:eth0", directions: ["ingress", "egress"], vni: 77, outer_src: "198.19.0.2", outer_dst: "198.19.0.4",
	         outer_dst_port: 4789, outer_src_mac: "02:00:00:00:0b:02", outer_dst_mac: "02:00:00:00:04:00",
	         mirred_copies_during_capture: $mirred, filter: "none (everything on b:eth0, including ARP and NDP)"},
	sent: [
	  {what: "ICMP echo", from: "a", to: "198.18.0.2", requests: 3, size: 56},
	  {what: "ICMPv6 echo", from: "a", to: "2001:db8:1::2", requests: 3, size: 56},
	  {what: "ICMP echo, fragmented", to: "198.18.0.2", requests: 2, size: 3000, fragments_per_datagram: 3},
	  {what: "ICMPv6 echo, fragmented", to: "2001:db8:1::2", requests: 2, size: 3000, fragments_per_datagram: 3},
	  {what: "UDP to closed port 53 (b answers ICMP port unreachable)", to: "198.18.0.2:53", datagrams: 3},
	  {what: "UDP flow, iperf3 -u -b 400K -l 200 -t 1", to: "198.18.0.2:5201", iperf3: $udp},
	  {what: "TCP over IPv6, iperf3 -6 -n 200K", to: "[2001:db8:1::2]:5202", iperf3: $tcp6},
	  {what: "TCP, b to a, iperf3 -R -n 100K", to: "198.18.0.2:5203", iperf3: $rev}],
	note: "each iperf3 test also has a TCP control connection to the same port",
	tshark_counts: {tool: $tshark, how: "frames matching each display filter (tshark -d udp.port==4789,vxlan -Y FILTER)",
	                "mixed.b.pcap": $b, "mixed.a-any.pcap": $any, "mixed.mon.pcapng": $mon}}' >"$OUT/mixed.truth.json"
rm -f "$OUT"/.iperf-* "$OUT"/.tcpdump-* "$OUT"/.dumpcap.log
