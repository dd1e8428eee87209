// Package annotate writes a capture back out as pcapng with mirrorscope's
// findings as packet comments (opt_comment), so that an engineer who ends
// up in Wireshark sees them next to Wireshark's own analysis
// (frame.comment, "Packet comments" in the expert info).
//
// Commented packets:
//   - every TCP packet the analysis flagged (retransmission, lost segment,
//     out of order, duplicate ACK, zero window, ...), with the verdict of
//     its flow when the flow has a limiter verdict ("flow 1: policer at
//     5.0 Mbit/s");
//   - the first packet of every flow with a verdict or named by a
//     finding, with the verdict's summary and the findings' summaries.
//
// Each mirror session (outer source, VNI, GWLB endpoint) gets its own
// interface description block, named after the session, so Wireshark's
// frame.interface_description and the Capture File Properties show the
// session of every packet. Packets can be written as received (outer
// VXLAN/GENEVE headers kept) or decapsulated (the inner frames only).
//
// Verdicts exist only at the end of the analysis, so WriteFile reads
// regular files twice: pass 1 is the caller's analysis (its report),
// pass 2 re-runs the deterministic engine with the same configuration
// over the same files and writes each frame with its comment as the
// engine hands it over. Flow ids of both passes are the same; pass 2
// checks the flow totals against the report and fails if the inputs
// changed in between. Standard input cannot be read twice: with "-" among
// the inputs, WriteFile makes one pass, comments the flagged packets with
// their flags only (no verdicts) and returns the report of that pass.
//
// The writer is a small pcapng block writer of its own (SHB, IDB with
// if_name, if_description and nanosecond if_tsresol, EPB with
// opt_comment), so that interfaces can be added mid-file as sessions
// appear and nothing allocates per uncommented packet.
package annotate
