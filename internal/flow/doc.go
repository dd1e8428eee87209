// Package flow keeps the table of conversations. A flow is one
// conversation (protocol and the two endpoints) within one mirror
// session: the key is direction-independent, so both directions of a
// connection meet in one Flow, and the session identity (outer source,
// VNI, GWLB endpoint) is part of it, so a conversation mirrored by two
// sessions gives two flows.
//
// The table is bounded: at most Config.MaxFlows live flows, and flows idle
// for longer than Config.IdleTimeout (in capture time) are ended. Ended
// flows are handed to the caller's OnEnd callback, never dropped silently;
// evictions for lack of room are counted.
//
// A Table is not safe for concurrent use. Callers that use several cores
// shard packets by Key.Hash (listen) or PacketHash (analyze --workers,
// which needs no Key) over several tables, which keeps both directions
// of a conversation on one shard.
package flow
