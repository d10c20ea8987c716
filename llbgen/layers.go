package llbgen

import (
	"hash/fnv"
	"slices"
	"sort"

	"github.com/nix-image/nix-image/nixstep"
)

// systemLayers is the number of layers of an image that hold no store
// path: /etc and the system tree.
const systemLayers = 2

// planLayers groups the store paths of a closure into layers, in layer
// order, for an image of at most budget layers in all.
//
// Each store path gets a layer of its own when the budget allows, so that
// a path that does not change keeps its layer (and digest) whatever else
// changes. Layers are ordered by popularity: the number of paths of the
// closure that depend on them, directly or not (glibc first, the packages
// the user asked for last), the rule of nixpkgs'
// dockerTools.streamLayeredImage, which keeps the layers that images
// share at the bottom.
//
// When the closure has more paths than the budget leaves for store
// layers, the largest paths keep a layer each (the nixpkgs source always:
// its layer is made once per pin), and the others share a quarter of the
// store layers, each path in the shared layer its store path hashes to.
// So the large and stable paths (nixpkgs, glibc, big packages) never share
// a layer with the small ones that come and go, and a path added or
// removed changes one shared layer and moves no other path (or one, when
// it is large enough to take the place of the smallest own layer).
func planLayers(c *nixstep.Closure, budget int) [][]nixstep.PathInfo {
	paths := slices.Clone(c.Paths)
	refs := map[string][]string{}
	names := make([]string, len(paths))
	for i, p := range paths {
		refs[p.Path] = p.References
		names[i] = p.Path
	}
	pop := popularity(names, refs)
	sort.SliceStable(paths, func(i, j int) bool {
		if pop[paths[i].Path] != pop[paths[j].Path] {
			return pop[paths[i].Path] > pop[paths[j].Path]
		}
		return paths[i].Path < paths[j].Path
	})
	slots := max(budget-systemLayers, 1)
	if len(paths) <= slots {
		groups := make([][]nixstep.PathInfo, len(paths))
		for i, p := range paths {
			groups[i] = []nixstep.PathInfo{p}
		}
		return groups
	}
	shared := max(slots/4, 1)
	own := ownLayers(paths, slots-shared)
	var groups [][]nixstep.PathInfo
	buckets := make([][]nixstep.PathInfo, shared)
	for _, p := range paths {
		if own[p.Path] {
			groups = append(groups, []nixstep.PathInfo{p})
			continue
		}
		b := sharedLayer(p.Path, shared)
		buckets[b] = append(buckets[b], p)
	}
	for _, b := range buckets {
		if len(b) > 0 {
			groups = append(groups, b)
		}
	}
	return groups
}

// ownLayers picks the n paths that keep a layer of their own when the
// closure is over budget: the nixpkgs source, then the largest.
func ownLayers(paths []nixstep.PathInfo, n int) map[string]bool {
	bySize := slices.Clone(paths)
	sort.SliceStable(bySize, func(i, j int) bool {
		a, b := bySize[i], bySize[j]
		if (a.Origin == nixstep.Source) != (b.Origin == nixstep.Source) {
			return a.Origin == nixstep.Source
		}
		if a.NarSize != b.NarSize {
			return a.NarSize > b.NarSize
		}
		return a.Path < b.Path
	})
	own := map[string]bool{}
	for _, p := range bySize[:min(n, len(bySize))] {
		own[p.Path] = true
	}
	return own
}

// sharedLayer is the shared layer, of n, that a store path goes to: a hash
// of the store path, so that it never depends on the other paths.
func sharedLayer(storePath string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(storePath))
	return int(h.Sum32() % uint32(n))
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
