package llbgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nix-image/nix-image/internal/golden"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// chain builds a closure where each path refers to the next: p0 -> p1 ->
// ... -> pN-1, so pN-1 is the most popular; path i has NAR size
// sizes[i] (0 when sizes is short).
func chain(n int, sizes ...int64) *nixstep.Closure {
	c := &nixstep.Closure{}
	for i := 0; i < n; i++ {
		info := nixstep.PathInfo{Path: fmt.Sprintf("/nix/store/%03d-p", i), References: []string{}}
		if i+1 < n {
			info.References = []string{fmt.Sprintf("/nix/store/%03d-p", i+1)}
		}
		if i < len(sizes) {
			info.NarSize = sizes[i]
		}
		c.Paths = append(c.Paths, info)
	}
	return c
}

// names returns the store paths of each group.
func names(groups [][]nixstep.PathInfo) [][]string {
	out := make([][]string, len(groups))
	for i, g := range groups {
		for _, p := range g {
			out[i] = append(out[i], p.Path)
		}
	}
	return out
}

func TestPlanLayers(t *testing.T) {
	source := chain(6, 10, 20, 30, 40, 50, 1)
	source.Paths[0].Origin = nixstep.Source // the smallest but one: still its own layer
	tests := []struct {
		name    string
		closure *nixstep.Closure
		budget  int
		want    [][]string
	}{
		{
			name:    "one layer per path, most popular first",
			closure: chain(3),
			budget:  100,
			want:    [][]string{{"/nix/store/002-p"}, {"/nix/store/001-p"}, {"/nix/store/000-p"}},
		},
		{
			name:    "exactly at budget",
			closure: chain(3),
			budget:  5,
			want:    [][]string{{"/nix/store/002-p"}, {"/nix/store/001-p"}, {"/nix/store/000-p"}},
		},
		{
			// 2 layers for /etc and the system tree, 5 for the store:
			// 1 shared, 4 own for the largest, in popularity order.
			name:    "over budget: the largest keep their layers, the small share",
			closure: chain(7, 500, 10, 400, 300, 20, 200, 100),
			budget:  7,
			want:    [][]string{{"/nix/store/005-p"}, {"/nix/store/003-p"}, {"/nix/store/002-p"}, {"/nix/store/000-p"}, {"/nix/store/006-p", "/nix/store/004-p", "/nix/store/001-p"}},
		},
		{
			name:    "over budget: the nixpkgs source keeps its layer",
			closure: source,
			budget:  6,
			want:    [][]string{{"/nix/store/004-p"}, {"/nix/store/003-p"}, {"/nix/store/000-p"}, {"/nix/store/005-p", "/nix/store/002-p", "/nix/store/001-p"}},
		},
		{
			name:    "tiny budget: one store layer",
			closure: chain(4),
			budget:  1,
			want:    [][]string{{"/nix/store/003-p", "/nix/store/002-p", "/nix/store/001-p", "/nix/store/000-p"}},
		},
		{
			name: "shared library before the programs, ties by path",
			closure: &nixstep.Closure{Paths: []nixstep.PathInfo{
				{Path: "/nix/store/b-jq", References: []string{"/nix/store/z-glibc", "/nix/store/b-jq"}},
				{Path: "/nix/store/a-curl", References: []string{"/nix/store/z-glibc"}},
				{Path: "/nix/store/z-glibc", References: []string{"/nix/store/z-glibc"}},
			}},
			budget: 100,
			want:   [][]string{{"/nix/store/z-glibc"}, {"/nix/store/a-curl"}, {"/nix/store/b-jq"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(planLayers(tc.closure, tc.budget)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("planLayers = %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestPlanLayersAddOne: over budget, adding a small path changes the one
// shared layer it goes to, and no other layer.
func TestPlanLayersAddOne(t *testing.T) {
	const budget = 40
	base := &nixstep.Closure{}
	for i := range 60 {
		base.Paths = append(base.Paths, nixstep.PathInfo{Path: fmt.Sprintf("/nix/store/%032d-p%d", i, i), NarSize: int64(1000 + 10*i), References: []string{}})
	}
	added := &nixstep.Closure{Paths: append(slices.Clone(base.Paths), nixstep.PathInfo{Path: "/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-new", NarSize: 5, References: []string{}})}
	before, after := names(planLayers(base, budget)), names(planLayers(added, budget))
	if len(before) > budget-systemLayers || len(after) > budget-systemLayers {
		t.Fatalf("%d and %d store layers, budget leaves %d", len(before), len(after), budget-systemLayers)
	}
	key := func(g []string) string { return fmt.Sprint(g) }
	old := map[string]bool{}
	for _, g := range before {
		old[key(g)] = true
	}
	var changed [][]string
	for _, g := range after {
		if !old[key(g)] {
			changed = append(changed, g)
		}
	}
	if len(changed) != 1 || !slices.Contains(changed[0], "/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-new") {
		t.Errorf("new or changed layers after adding one path: %v, want only the shared layer holding it", changed)
	}
}

// TestPlanLayersGolden plans the layers of a real closure (the
// closure.json the realise step wrote for examples/default, built
// offline with `make demo`: testdata/closure-default.json, 105 paths)
// within the largest budget and the default one (a layer per package with
// the paths it claims; the file has no Roots.Packages, so each profile's
// packages claim in name order) and a small one (over it: the largest
// keep their layers, the others share), and compares them with
// testdata/layers-default.golden:
// each layer with its paths, their popularity, NAR size and origin (go
// test ./llbgen -run TestPlanLayersGolden -update rewrites it).
func TestPlanLayersGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "closure-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c nixstep.Closure
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	refs := map[string][]string{}
	var all []string
	for _, p := range c.Paths {
		refs[p.Path] = p.References
		all = append(all, p.Path)
	}
	pop := popularity(all, refs)
	var b bytes.Buffer
	for _, budget := range []int{spec.MaxLayers, spec.DefaultLayers, 24} {
		groups := planLayers(&c, budget)
		fmt.Fprintf(&b, "budget %d: %d paths in %d store layers\n", budget, len(c.Paths), len(groups))
		for i, g := range groups {
			for j, p := range g {
				layer := fmt.Sprintf("%3d", i+1)
				if j > 0 {
					layer = "   "
				}
				fmt.Fprintf(&b, "%s  pop %3d  %10d  %s %s\n", layer, pop[p.Path], p.NarSize, strings.TrimPrefix(p.Path, "/nix/store/"), p.Origin)
			}
		}
		b.WriteString("\n")
	}
	golden.Check(t, filepath.Join("testdata", "layers-default.golden"), b.Bytes())
}

// profiles builds a closure with a system profile and root's profile:
// system and user list each profile's packages, deps each path's
// references (store paths are /nix/store/<hash>-<name>, the hash its
// name's first letter repeated), sizes the large ones' NAR sizes.
func profiles(system, user []string, deps map[string][]string, large ...string) *nixstep.Closure {
	p := func(name string) string { return "/nix/store/" + strings.Repeat(name[:1], 4) + "-" + name }
	c := &nixstep.Closure{}
	seen := map[string]bool{}
	var add func(name string, origin nixstep.Origin, refs []string)
	add = func(name string, origin nixstep.Origin, refs []string) {
		if seen[name] {
			return
		}
		seen[name] = true
		info := nixstep.PathInfo{Path: p(name), Origin: origin, NarSize: 1000, References: []string{}}
		if slices.Contains(large, name) {
			info.NarSize = largePath
		}
		for _, r := range refs {
			info.References = append(info.References, p(r))
		}
		c.Paths = append(c.Paths, info)
		for _, r := range refs {
			add(r, nixstep.Fetched, deps[r])
		}
	}
	for _, prof := range []struct {
		env  string
		pkgs []string
		root *string
	}{{"0system-user-environment", system, &c.Roots.System}, {"1root-user-environment", user, &c.Roots.Profile}} {
		if prof.pkgs == nil {
			continue
		}
		manifest := prof.env[:1] + "manifest"
		add(manifest, nixstep.Built, prof.pkgs)
		add(prof.env, nixstep.Built, append([]string{manifest}, prof.pkgs...))
		*prof.root = p(prof.env)
	}
	slices.SortFunc(c.Paths, func(a, b nixstep.PathInfo) int { return strings.Compare(a.Path, b.Path) })
	return c
}

func TestPlanLayersByPackage(t *testing.T) {
	deps := map[string][]string{
		"nix":       {"glibc", "libcurl", "coreutils"},
		"bash":      {"glibc"},
		"coreutils": {"glibc", "libacl"},
		"curl":      {"libcurl", "glibc"},
		"libcurl":   {"glibc", "openssl"},
		"git":       {"glibc", "perl", "openssl"},
		"jq":        {"glibc", "oniguruma"},
		"hello":     {"glibc"},
	}
	system := []string{"nix", "bash", "coreutils"}
	tests := []struct {
		name    string
		closure *nixstep.Closure
		want    [][]string
	}{
		{
			// bash claims glibc (name order); nix does not take
			// coreutils, a package of its own.
			name:    "system profile",
			closure: profiles(system, nil, deps),
			want: [][]string{
				{"bbbb-bash", "gggg-glibc"},
				{"cccc-coreutils", "llll-libacl"},
				{"nnnn-nix", "oooo-openssl", "llll-libcurl"},
				{"0000-0manifest"},
				{"0000-0system-user-environment"},
			},
		},
		{
			name:    "root's packages after the system's; what the system has stays there",
			closure: profiles(system, []string{"git", "curl"}, deps),
			want: [][]string{
				{"bbbb-bash", "gggg-glibc"},
				{"nnnn-nix", "oooo-openssl", "llll-libcurl"},
				{"cccc-coreutils", "llll-libacl"},
				{"gggg-git", "pppp-perl"},
				{"cccc-curl"},
				{"0000-0manifest"},
				{"1111-1manifest"},
				{"0000-0system-user-environment"},
				{"1111-1root-user-environment"},
			},
		},
		{
			// nix first, as the spec asked: it claims glibc.
			name: "the spec's order",
			closure: func() *nixstep.Closure {
				c := profiles(system, nil, deps)
				c.Roots.Packages = []string{"nix", "bash", "coreutils"}
				return c
			}(),
			want: [][]string{
				{"nnnn-nix", "gggg-glibc", "oooo-openssl", "llll-libcurl"},
				{"cccc-coreutils", "llll-libacl"},
				{"bbbb-bash"},
				{"0000-0manifest"},
				{"0000-0system-user-environment"},
			},
		},
		{
			// git before curl, as requested: git claims zlib, which
			// both need and the system profile lacks.
			name: "root's packages in the spec's order",
			closure: func() *nixstep.Closure {
				d := map[string][]string{"git": {"glibc", "zlib"}, "curl": {"glibc", "zlib"}, "bash": {"glibc"}}
				c := profiles([]string{"bash"}, []string{"git", "curl"}, d)
				c.Roots.Packages = []string{"bash", "git", "curl"}
				return c
			}(),
			want: [][]string{
				{"bbbb-bash", "gggg-glibc"},
				{"gggg-git", "zzzz-zlib"},
				{"cccc-curl"},
				{"0000-0manifest"},
				{"1111-1manifest"},
				{"0000-0system-user-environment"},
				{"1111-1root-user-environment"},
			},
		},
		{
			name:    "large paths keep a layer of their own",
			closure: profiles(system, []string{"git"}, deps, "perl", "glibc"),
			want: [][]string{
				{"gggg-glibc"},
				{"nnnn-nix", "oooo-openssl", "llll-libcurl"},
				{"cccc-coreutils", "llll-libacl"},
				{"pppp-perl"},
				{"bbbb-bash"},
				{"gggg-git"},
				{"0000-0manifest"},
				{"1111-1manifest"},
				{"0000-0system-user-environment"},
				{"1111-1root-user-environment"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			for _, g := range names(planLayers(tc.closure, 100)) {
				var short []string
				for _, p := range g {
					short = append(short, strings.TrimPrefix(p, "/nix/store/"))
				}
				got = append(got, short)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("planLayers =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// TestPlanLayersAddPackage: adding a package to root's profile (after
// the others in name order) adds a layer holding only its new paths; of
// the old layers, only the profile's own (its user environment and
// manifest, whose paths this fake keeps) may change.
func TestPlanLayersAddPackage(t *testing.T) {
	deps := map[string][]string{
		"nix":  {"glibc", "libcurl"},
		"curl": {"libcurl", "glibc"},
		"git":  {"glibc", "perl"},
		"jq":   {"glibc", "oniguruma", "perl"},
	}
	before := planLayers(profiles([]string{"nix"}, []string{"curl", "git"}, deps), 100)
	after := planLayers(profiles([]string{"nix"}, []string{"curl", "git", "jq"}, deps), 100)
	key := func(g []nixstep.PathInfo) string { return fmt.Sprint(names([][]nixstep.PathInfo{g})) }
	old := map[string]bool{}
	for _, g := range before {
		old[key(g)] = true
	}
	var changed []string
	for _, g := range after {
		if !old[key(g)] {
			changed = append(changed, key(g))
		}
	}
	want := []string{"[[/nix/store/jjjj-jq /nix/store/oooo-oniguruma]]"}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("new layers after adding jq: %v\nwant %v", changed, want)
	}
}

// TestPlanLayersRemovePackage: removing a package drops its layer, and
// the path it shared goes to the next package that needs it.
func TestPlanLayersRemovePackage(t *testing.T) {
	deps := map[string][]string{"git": {"zlib"}, "curl": {"zlib"}, "jq": {"oniguruma"}}
	plan := func(pkgs ...string) [][]string {
		c := profiles(nil, pkgs, deps)
		c.Roots.Packages = pkgs
		return names(planLayers(c, 100))
	}
	got := plan("git", "curl", "jq")
	if !slices.ContainsFunc(got, func(g []string) bool { return slices.Equal(g, []string{"/nix/store/gggg-git", "/nix/store/zzzz-zlib"}) }) {
		t.Fatalf("with git: layers %v, want git with zlib", got)
	}
	got = plan("curl", "jq")
	want := [][]string{{"/nix/store/cccc-curl", "/nix/store/zzzz-zlib"}, {"/nix/store/jjjj-jq", "/nix/store/oooo-oniguruma"}}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g []string) bool { return slices.Equal(g, w) }) {
			t.Errorf("without git: layers %v, want %v among them", got, w)
		}
	}
}

func TestRequestedRank(t *testing.T) {
	requested := []string{"nix-2.8.1", "curl-7.88.1", "", "git-2.39.5"}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/nix/store/aaaa-nix-2.8.1", 0},
		{"/nix/store/aaaa-curl-7.88.1-bin", 1}, // an output of curl
		{"/nix/store/aaaa-curl-7.88.1", 1},
		{"/nix/store/aaaa-git-2.39.5", 3},
		{"/nix/store/aaaa-git-2.39", 4},         // another package
		{"/nix/store/aaaa-nix-2.8.10", 4},       // nor a prefix of a name
		{"/nix/store/aaaa-env-manifest.nix", 4}, // not requested
	} {
		if got := requestedRank(requested, tc.path); got != tc.want {
			t.Errorf("requestedRank(%s) = %d, want %d", tc.path, got, tc.want)
		}
	}
}
