// Package accuracy measures mirrorscope's limiter diagnosis on a generated
// lab corpus (the "sweep"): it samples lab runs from a parameter space
// (Plan), turns each run's ground truth into the verdict every flow should
// get and checks from the lab's own counters that the limiter really acted
// (ReadTruth), reads mirrorscope's JSON report of each capture and of its
// one-direction views (ReadReport), and scores the results into a Markdown
// report: confusion matrices per set and per visibility, rate errors,
// calibration of the confidence, and every miss (Score, WriteReport).
//
// The lab itself (../shared/lab/mklab.sh) is an external instrument; this
// package only builds its command lines and reads what it writes. The
// mirrorscope binary is run as a separate process, so the package depends
// on the documented JSON contract (docs/json.md), not on internals.
package accuracy
