// Package tcpseq is mirrorscope's TCP analysis: per packet, exactly the
// expert verdicts of Wireshark 4.0's tcp_analyze_sequence_number (the
// tshark Debian 12 ships, 4.0.17) — retransmissions, out-of-order, lost
// and ACKed-unseen segments, duplicate ACKs, zero-window, window-full,
// window-update, keep-alive and reused-port flags, plus ack_rtt,
// bytes_in_flight, initial RTT and the scaled window — and, per flow,
// measurements Wireshark does not make: handshake halves, Karn-clean and
// timestamp-echo RTT distributions, window limitation, ECN, the
// delayed-ACK signature and a split of retransmissions into fast, RTO and
// spurious.
//
// One Conn holds one conversation (both directions); the caller creates
// one per flow and calls Analyze for each TCP packet in capture order.
// Analyze does not allocate in steady state and a Conn's memory is
// bounded (see MaxUnacked). docs/wireshark-parity.md says how parity with
// tshark is checked and where it is knowingly different.
package tcpseq
