// Package decode parses captured frames into a caller-owned Packet with
// no allocations: Ethernet, 802.1Q/802.1ad, Linux SLL, raw IP, IPv4
// (options, fragments), IPv6 (extension headers), TCP (options), UDP,
// ICMP and ICMPv6, and the tunnels AWS Traffic Mirroring uses: VXLAN on
// UDP 4789 and, behind a Gateway Load Balancer, GENEVE on UDP 6081 with
// the AWS options of class 0x0108 around VXLAN.
//
// Decoding goes down to the innermost packet and keeps the mirror
// session's identity (outer source and destination, VNI, GWLB ids) in
// Packet.Session. Packets whose captured length is shorter than the IP
// header's total length are marked Truncated, as AWS PacketLength and
// target-MTU truncation cut packets without saying so.
//
// The decoder reads the frame buffer only during the call; Packet holds
// no reference to it afterwards.
package decode
