package llbgen

import (
	"hash/fnv"
	"sort"
	"strings"

	"github.com/nix-image/nix-image/nixstep"
)

// systemLayers is the number of layers of an image that hold no store
// path: /etc and the system tree.
const systemLayers = 2

// largePath is the NAR size from which a store path keeps a layer of its
// own: a group that changes never re-exports a large path that did not.
const largePath = 8 << 20

// planLayers groups the store paths of a closure into layers, in layer
// order, for an image of at most budget layers in all.
//
// A layer holds a package of the image's profiles (a store path a
// profile's user environment refers to) with the paths it needs that no
// package before it claimed: the packages of the system profile first,
// then those of root's profile, each profile's in the spec's order (see
// profilePackages). So adding a package to the end of a list adds a layer
// holding only its new paths, removing one drops its layer (its paths
// another package needs go to the next that does), and the other layers
// keep their digests.
// The nixpkgs source, large paths (largePath) and the paths no package
// needs (the profiles, the channel) keep a layer each. Few layers keep
// a push of an unchanged image (one registry request per layer) and a
// cold build (one layer step per layer of fetched paths) cheap; a layer
// per store path would cost both for every path.
//
// Layers are ordered by popularity: the number of paths of the closure
// that depend on them, directly or not (glibc's layer first, the packages
// the user asked for last), the rule of nixpkgs'
// dockerTools.streamLayeredImage, which keeps the layers that images
// share at the bottom.
//
// When there are more layers than the budget leaves for store layers,
// the largest keep theirs (the nixpkgs source always: its layer is made
// once per pin), and the others share a quarter of the store layers, each
// in the shared layer its first path hashes to. So the large and stable
// layers never share with the small ones that come and go, and a layer
// added or removed changes one shared layer and moves no other (or one,
// when it is large enough to take the place of the smallest own layer).
func planLayers(c *nixstep.Closure, budget int) [][]nixstep.PathInfo {
	byPath := map[string]nixstep.PathInfo{}
	refs := map[string][]string{}
	names := make([]string, len(c.Paths))
	for i, p := range c.Paths {
		byPath[p.Path] = p
		refs[p.Path] = p.References
		names[i] = p.Path
	}
	pop := popularity(names, refs)
	groups := groupByPackage(c, byPath)
	for _, g := range groups {
		// The package first, then what it needs, most popular first.
		sort.SliceStable(g[1:], func(i, j int) bool { return morePopular(pop, g[1+i].Path, g[1+j].Path) })
	}
	sort.SliceStable(groups, func(i, j int) bool { return morePopular(pop, topOf(pop, groups[i]), topOf(pop, groups[j])) })
	slots := max(budget-systemLayers, 1)
	if len(groups) <= slots {
		return groups
	}
	shared := max(slots/4, 1)
	own := ownLayers(groups, slots-shared)
	var out [][]nixstep.PathInfo
	buckets := make([][]nixstep.PathInfo, shared)
	for i, g := range groups {
		if own[i] {
			out = append(out, g)
			continue
		}
		b := sharedLayer(g[0].Path, shared)
		buckets[b] = append(buckets[b], g...)
	}
	for _, b := range buckets {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// groupByPackage returns the layer groups of planLayers, unordered: each
// package with the paths it claims, and the paths that keep a layer of
// their own.
func groupByPackage(c *nixstep.Closure, byPath map[string]nixstep.PathInfo) [][]nixstep.PathInfo {
	alone := func(p nixstep.PathInfo) bool { return p.Origin == nixstep.Source || p.NarSize >= largePath }
	pkgs := profilePackages(c, byPath)
	isPkg := map[string]bool{}
	for _, p := range pkgs {
		isPkg[p] = true
	}
	claimed := map[string]bool{}
	var groups [][]nixstep.PathInfo
	for _, pkg := range pkgs {
		var g []nixstep.PathInfo
		var claim func(p string)
		claim = func(p string) {
			info, ok := byPath[p]
			// Another package claims itself (a profile's manifest
			// refers to all of them).
			if !ok || claimed[p] || (isPkg[p] && p != pkg) {
				return
			}
			claimed[p] = true
			if alone(info) {
				groups = append(groups, []nixstep.PathInfo{info})
			} else {
				g = append(g, info)
			}
			for _, r := range info.References {
				claim(r)
			}
		}
		claim(pkg)
		if len(g) > 0 {
			groups = append(groups, g)
		}
	}
	for _, p := range c.Paths {
		if !claimed[p.Path] {
			groups = append(groups, []nixstep.PathInfo{p})
		}
	}
	return groups
}

// profilePackages returns the packages of the closure's profiles, in the
// order they claim paths (see planLayers): the store paths the system
// profile refers to, then those root's profile refers to, each profile's
// in the order the spec requested them (Roots.Packages), then the others
// (local expressions, a flake, the manifest) in name order.
func profilePackages(c *nixstep.Closure, byPath map[string]nixstep.PathInfo) []string {
	var out []string
	for _, profile := range []string{c.Roots.System, c.Roots.Profile} {
		info, ok := byPath[profile]
		if !ok {
			continue
		}
		var pkgs []string
		for _, r := range info.References {
			if r != profile {
				pkgs = append(pkgs, r)
			}
		}
		rank := map[string]int{}
		for _, p := range pkgs {
			rank[p] = requestedRank(c.Roots.Packages, p)
		}
		sort.SliceStable(pkgs, func(i, j int) bool {
			if rank[pkgs[i]] != rank[pkgs[j]] {
				return rank[pkgs[i]] < rank[pkgs[j]]
			}
			if a, b := nixstep.StoreName(pkgs[i]), nixstep.StoreName(pkgs[j]); a != b {
				return a < b
			}
			return pkgs[i] < pkgs[j]
		})
		out = append(out, pkgs...)
	}
	return out
}

// requestedRank is the position in requested (package names) of the
// first package whose output the store path p is (its name, or its name
// and an output's), or len(requested).
func requestedRank(requested []string, p string) int {
	name := nixstep.StoreName(p)
	for i, r := range requested {
		if r != "" && (name == r || strings.HasPrefix(name, r+"-")) {
			return i
		}
	}
	return len(requested)
}

// topOf is the most popular path of a group.
func topOf(pop map[string]int, g []nixstep.PathInfo) string {
	top := g[0].Path
	for _, p := range g[1:] {
		if morePopular(pop, p.Path, top) {
			top = p.Path
		}
	}
	return top
}

// morePopular orders paths by popularity, most popular first, then by
// path.
func morePopular(pop map[string]int, a, b string) bool {
	if pop[a] != pop[b] {
		return pop[a] > pop[b]
	}
	return a < b
}

// ownLayers picks the n groups that keep a layer of their own when there
// are more than the budget allows: the nixpkgs source's, then the largest.
func ownLayers(groups [][]nixstep.PathInfo, n int) map[int]bool {
	size := func(g []nixstep.PathInfo) int64 {
		var s int64
		for _, p := range g {
			s += p.NarSize
		}
		return s
	}
	source := func(g []nixstep.PathInfo) bool { return g[0].Origin == nixstep.Source }
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := groups[order[i]], groups[order[j]]
		if source(a) != source(b) {
			return source(a)
		}
		if size(a) != size(b) {
			return size(a) > size(b)
		}
		return a[0].Path < b[0].Path
	})
	own := map[int]bool{}
	for _, i := range order[:min(n, len(order))] {
		own[i] = true
	}
	return own
}

// sharedLayer is the shared layer, of n, that a group goes to: a hash of
// its first store path, so that it never depends on the other groups.
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
