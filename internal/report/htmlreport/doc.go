// Package htmlreport turns an analysis into pictures: a self-contained
// HTML report (Write) and the live page of mirrorscope listen
// (LiveHandler), both drawn with uPlot 1.6.32 (MIT licence, embedded from
// assets/ and quoted in the page).
//
// A Collector, fed by engine.Config.OnPacket, keeps chart series of the
// largest TCP flows: throughput and TCP analysis flags in time bins, the
// two RTT halves (data -> ACK from tcpseq's ack_rtt; ACK -> data from
// TCP timestamp echoes), bytes in flight against the advertised window,
// and a time-sequence (Stevens) graph with retransmissions, out-of-order
// segments, segments after a loss, the ACK line and the window edge.
//
// Memory is bounded: CollectorConfig.Candidates flows are tracked (a flow
// that outgrows the smallest candidate replaces it and its charts say
// from when they start), every series holds at most MaxPoints points
// (min/max decimation; bins widen by merging pairs), and the buffers are
// reused, so OnPacket allocates nothing once they reached their size.
// The series buffers belong to the Collector; Data copies them out.
//
// Write puts the report's text (findings, capture, sessions, flows) in
// the page through html/template, and the chart series as a JSON block
// (<script type="application/json">, with <, > and & escaped) that the
// page's script reads; the script only ever sets textContent. The page
// loads nothing from the network.
//
// LiveCollector is the Collector for a listener with several shard
// engines: one Collector per shard behind its own mutex; Series returns
// one flow's series as JSON for GET /api/flows/{id}/series
// (SeriesHandler).
package htmlreport
