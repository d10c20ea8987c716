package main

import (
	"context"
	"fmt"
	"slices"
)

// nochangeRepeats is how many no-change rebuilds a way gets per round. A
// no-change rebuild takes a fifth of a second, and one build's figure
// swings by a third with what else the machine does at that moment: a
// round's figure is the median of these, and an op executed in any of
// them counts.
const nochangeRepeats = 5

// nochangeResult is what a way's no-change rebuilds in one round
// measured.
type nochangeResult struct {
	timing
	runs []float64 // every rebuild's wall time, in order
	ops  []string  // the ops any rebuild executed (executedOps), sorted
}

// nochange rebuilds w's image, unchanged, nochangeRepeats times.
func (b *bench) nochange(ctx context.Context, r *round, w way) (nochangeResult, error) {
	var n nochangeResult
	var cpus []float64
	for i := range nochangeRepeats {
		d, p, err := b.build(ctx, r, w, b.pkgs, r.ref(w, "v1"))
		if err != nil {
			return n, fmt.Errorf("%s no-change rebuild %d: %w", w.name, i+1, err)
		}
		n.runs = append(n.runs, d.wall)
		cpus = append(cpus, d.cpu)
		for _, op := range executedOps(p) {
			if !slices.Contains(n.ops, op) {
				n.ops = append(n.ops, op)
			}
		}
	}
	slices.Sort(n.ops)
	id := func(x float64) float64 { return x }
	n.wall, n.cpu = round2(medianOf(n.runs, id)), round2(medianOf(cpus, id))
	return n, nil
}
