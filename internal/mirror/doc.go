// Package mirror speaks AWS VPC Traffic Mirroring's filter and session
// language and is a software mirror source.
//
// It holds the model of traffic mirror filters (ingress and egress rules,
// the amazon-dns network service) and sessions (session number, VNI,
// PacketLength), loads them from the JSON that `aws ec2
// describe-traffic-mirror-filters` and `describe-traffic-mirror-sessions`
// print or from a short human rule form, validates them against AWS's
// rules and quotas, and evaluates them per decoded packet with AWS's
// semantics: rules by ascending rule number per direction, first match
// decides, no match is not mirrored, several sessions on one interface
// mirror each packet once by the lowest-numbered session that accepts it,
// and traffic that AWS never mirrors (ARP, DHCP, IMDS, NTP, Windows
// activation, Amazon DNS without amazon-dns) is never mirrored.
//
// Evaluation (Filter.Classify, Filter.Match, Sessions.Select) reads only
// the decoded packet and the immutable filter, allocates nothing and is
// safe for concurrent use once the filter is built.
//
// Tester replays captures taken on a source interface through filters and
// reports what each rule would mirror; Source (Linux) is a live mirror
// source that captures an interface with AF_PACKET and sends VXLAN to a
// target as AWS does.
package mirror
