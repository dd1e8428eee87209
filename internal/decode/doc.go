// Package decode parses captured frames into a caller-owned Packet with
// no allocations: Ethernet, 802.1Q/802.1ad/0x9100 tags, Linux SLL and
// SLL2, BSD loopback (Null), raw IP, IPv4 (options, fragments), IPv6
// (extension headers), TCP (options), UDP, ICMP and ICMPv6, and the
// tunnels AWS Traffic Mirroring uses: VXLAN on UDP 4789 and, behind a
// Gateway Load Balancer, GENEVE on UDP 6081 with the AWS options of class
// 0x0108 around VXLAN.
//
// Entry points: Decoder.Decode for captured frames (pcap, AF_PACKET), and
// Decoder.DecodeVXLANPayload / DecodeGENEVEPayload for UDP payloads a
// listener socket received, with the outer addresses from the socket.
//
// Decoding goes down to the innermost packet and keeps the mirror
// session's identity (outer source and destination, VNI, GWLB ids) in
// Packet.Session. The tunnel layers follow AWS: an optional GENEVE layer,
// then an optional VXLAN layer (the mirror session). A tunnel is
// recognised by its UDP destination port only, never the source port,
// and an outer IP fragment is never decapsulated. VXLAN is decoded
// leniently as RFC 7348 asks: only the I flag is checked, reserved bits
// are ignored. The packet inside the mirror session is what the mirrored
// interface saw and is not decapsulated further, even when it is itself
// VXLAN or GENEVE (a mirrored host running an overlay network); so
// ErrTunnelDepth is never returned for well-formed input.
//
// Packets whose captured length is shorter than the IP header's total
// length are marked Truncated, as AWS PacketLength and target-MTU
// truncation cut packets without saying so. FrameLen is the inner frame's
// length on the wire, the same for a frame captured on the host and for
// its copy from a mirror session, so shaper rates compare directly.
//
// On error, Decode returns one of the Error values (a small integer, so
// returning it does not allocate) and leaves in the Packet what was
// decoded before the failing header. The decoder never panics, and the
// work per frame is bounded (at most 8 VLAN tags, 8 IPv6 extension
// headers, 16 link-layer shims, two tunnel layers plus an overlay).
//
// Beyond AWS, the decoder follows the encapsulations other mirrors and
// networks use, as tshark 4.0 decodes them: GRE (over IP, or UDP 4754)
// and ERSPAN types I/II/III, whose session id (or GRE key) is the
// session's VNI; GTP-U (UDP 2152, TEID as the session id); IP in IP
// (protocols 4 and 41); between the link header and IP, MPLS, PPPoE,
// LLC/SNAP, 802.1ah, VN-Tag and FabricPath (at most 16 such shims); and
// the NFLOG link type. Each of these is one tunnel layer, not nested
// further. With Config.DecapInner a VXLAN/GENEVE overlay inside a VXLAN
// mirror session is opened too (Session.OverlayVNI). An IP length larger
// than the frame's wire length is cut to the frame (BadIPLen).
//
// IP fragments are not decoded past the IP header; a Reassembler (which
// keeps state, so is not part of the Decoder) puts them back together far
// enough to decode the transport header of the datagram at its last
// fragment, keeping only each datagram's first 60 bytes.
//
// The decoder reads the frame buffer only during the call; Packet holds
// no reference to it afterwards. A Decoder holds only its Config and may
// be shared by goroutines, each with its own Packet.
package decode
