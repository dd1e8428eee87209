// Package counters loads interface and CloudWatch counters taken while a
// capture ran and correlates them with the capture's report, so that
// mirrorscope can tell mirror loss (AWS skipped mirroring, the target
// dropped) from network loss (an instance allowance shaped or dropped
// production traffic), and say how much of an instance's traffic reached
// the capture.
//
// Inputs, detected by content (Load, Parse):
//
//   - `ethtool -S IFACE` text, one or several snapshots in one file, each
//     optionally preceded by a timestamp line (`# RFC 3339`, `date
//     -Iseconds`, `date -Ins`, `date -u +%s[.%N]`, or `date`'s default
//     format); a file holding a single snapshot without a timestamp takes
//     the file's modification time. Every counter is kept, by name, per
//     snapshot; the ENA allowance counters are the ones Findings reads.
//   - `aws cloudwatch get-metric-data` JSON (MetricDataResults[]) and
//     `aws cloudwatch get-metric-statistics` JSON (Label, Datapoints[]).
//     The metric is recognised from Label, then Id: the AWS/EC2 network
//     and mirror metrics and the CloudWatch agent's ethtool_ metrics.
//
// Findings takes counter deltas inside the capture's time window
// (report.Capture.First/Last) and returns report findings (kinds
// ena_bw_allowance, ena_pps_allowance, ena_conntrack_allowance,
// ena_linklocal_allowance, mirror_skip, mirror_coverage and counters_note);
// docs/counters.md documents the thresholds and wording.
//
// Nothing here keeps state between calls and nothing starts goroutines. A
// Set owns all its memory; the byte slice given to Parse is not retained.
package counters
