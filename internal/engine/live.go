package engine

import "github.com/mirrorscope/mirrorscope/internal/result"

// LiveFlows returns the number of flows open in the table (listen's
// flows-active metric).
func (e *Engine) LiveFlows() int { return e.table.Len() }

// Findings derives the capture-level findings of a report (listen merges
// the reports of its shards and asks for the findings of the whole).
func Findings(r *result.Report) []result.Finding { return findings(r) }
