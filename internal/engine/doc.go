// Package engine is the analysis pipeline shared by analyze and listen:
// decode each frame (down to the innermost packet), apply the optional
// mirror filter, find its flow, run the per-flow TCP analysis and
// diagnosis, and build the report model when flows end.
//
// An Engine is single-threaded: Packet must not be called concurrently.
// It keeps no reference to a frame's bytes after Packet returns, so
// sources may reuse their buffers.
//
// Parallel spreads one capture's flows over several Engines (analyze
// --workers): the reader hands blocks of raw frames to every worker, with
// the flow hash of each common frame read from its headers; a worker
// decodes and analyses the frames of the flows dealt to it (and every
// frame of another shape, for what is global to the capture), and the
// merged report is the one a single Engine writes (parallel.go).
package engine
