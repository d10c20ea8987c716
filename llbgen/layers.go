package llbgen

import (
	"sort"

	"github.com/nix-image/nix-image/nixstep"
)

// systemLayers is the number of layers of an image that hold no store
// path: /etc and the system tree.
const systemLayers = 2

// planLayers groups the store paths of a closure into layers, in layer
// order, for an image of at most budget layers in all.
//
// Each store path gets a layer of its own, so that a path that does not
// change keeps its layer (and digest) whatever else changes. Paths are
// ordered by popularity: the number of paths of the closure that depend on
// them, directly or not (glibc first, the packages the user asked for
// last), the rule of nixpkgs' dockerTools.streamLayeredImage. When the
// closure has more paths than the budget leaves for store layers, the most
// popular ones keep a layer each and all the least popular ones share the
// last store layer: they are the leaves, which change with the user's
// package list anyway.
func planLayers(c *nixstep.Closure, budget int) [][]string {
	paths := make([]string, len(c.Paths))
	refs := map[string][]string{}
	for i, p := range c.Paths {
		paths[i] = p.Path
		refs[p.Path] = p.References
	}
	pop := popularity(paths, refs)
	sort.SliceStable(paths, func(i, j int) bool {
		if pop[paths[i]] != pop[paths[j]] {
			return pop[paths[i]] > pop[paths[j]]
		}
		return paths[i] < paths[j]
	})
	slots := max(budget-systemLayers, 1)
	var groups [][]string
	for i, p := range paths {
		if i < slots-1 || len(paths) <= slots {
			groups = append(groups, []string{p})
			continue
		}
		rest := append([]string(nil), paths[i:]...)
		sort.Strings(rest)
		groups = append(groups, rest)
		break
	}
	return groups
}

// popularity counts, for every path, the paths whose closure holds it
// (itself included).
func popularity(paths []string, refs map[string][]string) map[string]int {
	closures := map[string]map[string]bool{}
	var closure func(p string) map[string]bool
	closure = func(p string) map[string]bool {
		if c, ok := closures[p]; ok {
			return c
		}
		c := map[string]bool{p: true}
		closures[p] = c // references may be cyclic (a path referring to itself)
		for _, r := range refs[p] {
			if r == p {
				continue
			}
			for q := range closure(r) {
				c[q] = true
			}
		}
		return c
	}
	pop := map[string]int{}
	for _, p := range paths {
		for q := range closure(p) {
			pop[q]++
		}
	}
	return pop
}
