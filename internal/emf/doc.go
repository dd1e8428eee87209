// Package emf writes CloudWatch Embedded Metric Format (EMF) lines from
// the live listener (a listen.Tap), so that the CloudWatch agent (or
// Lambda, or any EMF consumer) turns them into metrics and an alarm on
// "policed flows > 0" works without a Prometheus.
//
// Every TapInterval (the listener's session snapshot) and at the end it
// writes, for the period just past:
//
//   - one line per limiter verdict seen (namespace Config.Namespace,
//     dimension Verdict): Flows (Count), Bytes (Bytes) of the flows that
//     ended with that verdict, plus the dimensionless Policed, Shaped and
//     Flows totals on a line with an empty dimension set, so an alarm can
//     watch one metric;
//   - one line per mirror session (dimension Session, "vni N from ADDR"):
//     Packets, Bytes, Drops, Truncated received in the period (deltas of
//     the cumulative counters).
//
// Nothing is written for an idle period. Lines follow the EMF
// specification (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
// the tests check every line with a validator of its rules. This package
// does not import the AWS SDK. The writer is used from the listener's
// sink goroutine only.
package emf
