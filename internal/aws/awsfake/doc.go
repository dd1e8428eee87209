// Package awsfake is a stateful fake of the AWS endpoints mirrorscope
// calls, for tests: EC2 (Query protocol, XML responses in the shapes of
// the EC2 API reference) with traffic mirror targets, filters, rules and
// sessions, tags and the mirroring quotas; CloudWatch GetMetricData (Query
// protocol); and IMDSv2 (token PUT, then GETs with the token). It serves
// on 127.0.0.1 and can inject failures: an error code for an action
// (AccessDenied-style), throttling for the first N calls of an action.
//
// It does not import the AWS SDK: it is the other side of the wire.
package awsfake
