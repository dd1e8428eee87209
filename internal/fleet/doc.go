// Package fleet joins many mirror targets into one view over Kafka.
//
// Each `mirrorscope listen --kafka` runs a Publisher: a listen.Tap that
// turns every flow, finding and summary line, plus a per-session
// per-second series made from the session counters, into Kafka records
// (JSON, with a schema_version, in the shapes of the JSON lines), keyed by
// the mirror source so that one partition holds a source's records in
// order. The publisher never blocks the listener: records go to
// franz-go's bounded buffer with TryProduce, and what does not fit is
// dropped and counted.
//
// `mirrorscope fleet` runs a Consumer in a Kafka consumer group: the group
// splits the partitions between fleet processes, and each process builds
// a View of the partitions it owns from the start of its window (offsets
// are never committed: the view is rebuilt from the log, so a partition
// that moves to another process after a rebalance is read again there in
// full, and records are counted once by their partition offset).
//
// The View merges what every target saw per source (instance, ENI, or
// outer source address) and correlates across targets: ceilings shared by
// the ENIs of one instance, instances policed near the same rate, and
// half flows (one direction only) that show the load balancer splits the
// directions of connections between targets.
package fleet
