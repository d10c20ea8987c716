package main

import (
	"regexp"
	"sort"
	"strconv"

	"github.com/nix-image/nix-image/internal/testenv"
)

// executedOps names the vertices of a build that ran, with the rule the
// e2e tests' no-change checks use (testenv's Progress.ExecutedSteps: every
// vertex, named or not, that did its work, without what every build runs).
func executedOps(p *testenv.Progress) []string {
	var names []string
	for _, v := range p.ExecutedSteps("") {
		names = append(names, v.Name)
	}
	sort.Strings(names)
	return names
}

// step is a vertex that ran and how long it took (first start to last
// completion; steps overlap).
type step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"s"`
}

// slowest returns the n vertices that ran longest.
func slowest(p *testenv.Progress, n int) []step {
	var steps []step
	for _, v := range p.Vertices {
		if v.Ran() && v.FirstStarted != nil {
			steps = append(steps, step{v.Name, round2(v.Completed.Sub(*v.FirstStarted).Seconds())})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Seconds > steps[j].Seconds })
	return steps[:min(n, len(steps))]
}

// checkLine is the realise step's log line with the cost of checking the
// store paths against their registered NAR hashes (nixstep's
// writeCheckedLayerTrees): the hashing's CPU time, summed over its
// goroutines.
var checkLine = regexp.MustCompile(`checked them against their registered NAR hashes .* checking ([0-9.]+)s \(summed`)

// verifyCPU returns the CPU seconds the realise step of ours spent
// checking store paths, and false when its log has no such line.
func verifyCPU(p *testenv.Progress) (float64, bool) {
	m := checkLine.FindStringSubmatch(p.Output("[nix-image] realise "))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}
