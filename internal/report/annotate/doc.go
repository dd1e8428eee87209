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
// Verdicts exist only at the end of the analysis, and the input is read
// once: the Writer is a consumer of the engine's per-frame events
// (result.PacketEvent carries the raw frame), wired by analyze into the
// same pass as the report and the HTML charts. Each frame goes with its
// flags, its flow id and whether it is the flow's first packet to a
// spool file (next to the output, unlinked at once); Finish, given the
// report, replays the spool into the pcapng, adding each flow's verdict
// and findings. Standard input therefore gets the same comments as a file,
// and the spool costs disk, not memory: about the size of the output.
//
// The writer is a small pcapng block writer of its own (SHB, IDB with
// if_name, if_description and nanosecond if_tsresol, EPB with
// opt_comment), so that interfaces can be added mid-file as sessions
// appear and nothing allocates per uncommented packet.
package annotate
