package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// buildOCI builds spec with the mirror's build args plus args and returns
// the exported OCI tar and the build's result.
func buildOCI(t *testing.T, e *testenv.Env, spec string, args ...string) (string, *testenv.BuildResult) {
	t.Helper()
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, spec, nil)
	out := filepath.Join(t.TempDir(), "image.tar")
	all := append(m.BuildctlOpts(), args...)
	res, err := e.BuildSpec(ctx, dir, append(all, "--output", "type=oci,dest="+out)...)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, res.Stderr)
	}
	return out, res
}

// TestLayerReuse: adding a package or changing the spec keeps every layer
// of the store paths that did not change: same digest, and a cache hit.
func TestLayerReuse(t *testing.T) { testLayerReuse(t, testenv.Need(t, env)) }

// testLayerReuse is the body of TestLayerReuse, on the stack e.
func testLayerReuse(t *testing.T, e *testenv.Env) {
	base, _ := buildOCI(t, e, minimalSpec)
	old := readOCI(t, base)

	tests := []struct {
		name string
		spec string
		// changed is how many of the old image's layers may be missing:
		// the system tree (its Nix DB lists the paths), /etc (nix.conf).
		changed int
	}{
		{"one package added", minimalSpec + "packages: [hello]\n", 1},
		{"nix.conf changed", minimalSpec + "nixConfig: {keep-outputs: \"true\"}\n", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, res := buildOCI(t, e, tc.spec)
			img := readOCI(t, out)
			have := map[string]bool{}
			for _, l := range img.Manifest.Layers {
				have[l.Digest.String()] = true
			}
			var kept, total int64
			missing := 0
			for _, l := range old.Manifest.Layers {
				total += l.Size
				if have[l.Digest.String()] {
					kept += l.Size
				} else {
					missing++
				}
			}
			if missing > tc.changed {
				t.Errorf("%d of the old image's %d layers changed, want at most %d", missing, len(old.Manifest.Layers), tc.changed)
			}
			if ratio := float64(kept) / float64(total); ratio < 0.95 {
				t.Errorf("the new image reuses %.3f of the old image's layer bytes, want >= 0.95", ratio)
			}
			// The copies of unchanged store paths were cache hits.
			for _, v := range res.Progress.Executed("[nix-image] layer: ") {
				if !strings.Contains(v.Name, "hello") && !strings.Contains(v.Name, "user-environment") &&
					!strings.Contains(v.Name, "env-manifest") && !strings.Contains(v.Name, "Nix DB") &&
					!strings.Contains(v.Name, "/etc") {
					t.Errorf("re-copied an unchanged store path: %s", v.Name)
				}
			}
		})
	}
}

// TestReproducible builds the same spec on two fresh stacks, neither of
// which has built anything (their own state directories, empty build
// caches), one after the other (the wall clock differs by the first
// build's time and more; SOURCE_DATE_EPOCH is fixed): the daemons get the
// same LLB (every vertex's digest is the digest of its marshalled op, and
// both builds report the same set) and export the same image.
func TestReproducible(t *testing.T) {
	testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var stacks [2]*testenv.Env
	for i := range stacks {
		s, err := testenv.Start(ctx)
		if err != nil {
			t.Fatalf("stack %d: %v", i+1, err)
		}
		defer s.Stop()
		stacks[i] = s
	}
	if stacks[0].Dir == stacks[1].Dir {
		t.Fatalf("both stacks in %s", stacks[0].Dir)
	}
	// Both builds name the first stack's frontend image (the second daemon
	// pulls it from there), so that their LLB can be the same.
	dir := stacks[0].SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
	const epoch = 1700000000
	var images [2]testenv.OCIImage
	var ops [2]map[string]string
	var created [2]*time.Time
	for i, s := range stacks {
		if i == 1 {
			time.Sleep(2 * time.Second) // another second of the clock, whatever the first build took
		}
		out := filepath.Join(t.TempDir(), "image.tar")
		args := append(m.BuildctlOpts(), "--opt", fmt.Sprintf("build-arg:SOURCE_DATE_EPOCH=%d", epoch), "--output", "type=oci,dest="+out)
		res, err := s.BuildSpec(ctx, dir, args...)
		if err != nil {
			t.Fatalf("build on stack %d: %v\n%s", i+1, err, res.Stderr)
		}
		if len(res.Progress.ExecutedSteps("[nix-image] realise ")) == 0 {
			t.Fatalf("stack %d did not run the realise step: it was not empty", i+1)
		}
		images[i] = readOCI(t, out)
		ops[i] = map[string]string{}
		for _, v := range res.Progress.Vertices {
			// The Dockerfile frontend's reads of the spec (local sources
			// with the session's ID) and the exporter are not the image's
			// LLB.
			if !testenv.EveryBuild(v.Name) {
				ops[i][v.Digest] = v.Name
			}
		}
		created[i] = images[i].Config.Created
	}
	if len(ops[0]) < 10 {
		t.Errorf("only %d vertices in the first build: %v", len(ops[0]), ops[0])
	}
	var only []string
	for i, o := range ops {
		for d, name := range o {
			if _, ok := ops[1-i][d]; !ok {
				only = append(only, fmt.Sprintf("stack %d: %s %q", i+1, d, name))
			}
		}
	}
	if len(only) > 0 {
		slices.Sort(only)
		t.Errorf("the daemons got different LLB: %d vertices only in one build, e.g.\n%s", len(only), strings.Join(only[:min(10, len(only))], "\n"))
	}
	want := time.Unix(epoch, 0).UTC().Format(time.RFC3339)
	for i, c := range created {
		if c == nil || c.Format(time.RFC3339Nano) != want {
			t.Errorf("stack %d: image created %q, want SOURCE_DATE_EPOCH %s", i+1, c, want)
		}
	}
	ia, ib := images[0], images[1]
	if ia.Descriptor.Digest != ib.Descriptor.Digest {
		t.Errorf("manifests differ: %s and %s", ia.Descriptor.Digest, ib.Descriptor.Digest)
		la, lb := ia.Manifest.Layers, ib.Manifest.Layers
		for i := range min(len(la), len(lb)) {
			if la[i].Digest != lb[i].Digest || la[i].Size != lb[i].Size {
				t.Logf("layer %d: %s (%d bytes) vs %s (%d bytes)", i, la[i].Digest, la[i].Size, lb[i].Digest, lb[i].Size)
			}
		}
	}
}

// TestCopyFallback forces the stacking of layers with copies (daemons
// without MergeOp): same layer count, and the image works.
func TestCopyFallback(t *testing.T) { testCopyFallback(t, testenv.Need(t, env)) }

// testCopyFallback is the body of TestCopyFallback, on the stack e.
func testCopyFallback(t *testing.T, e *testenv.Env) {
	merged, _ := buildOCI(t, e, minimalSpec)
	copied, res := buildOCI(t, e, minimalSpec, "--opt", "build-arg:NIX_IMAGE_MERGEOP=false")
	if len(res.Progress.Find("merge layers")) != 0 {
		t.Errorf("the fallback build used MergeOp")
	}
	if a, b := len(readOCI(t, merged).Manifest.Layers), len(readOCI(t, copied).Manifest.Layers); a != b {
		t.Errorf("merged image has %d layers, copied %d", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: copied, Args: []string{"/bin/sh", "-c", "nix --version && nix-store --verify --check-contents && echo ok"}})
	if err != nil || !strings.Contains(stdout, "ok") {
		t.Errorf("running the copied image: %v\n%s\n%s", err, stdout, stderr)
	}
}

// TestLayerReuseExample adds a package to examples/default (105 store
// paths, 16 packages): its layers hold a package each with the paths it
// needs that no package before it has (llbgen's planLayers), so adding
// one at the end of the list adds a layer holding only new paths, and
// every old layer whose paths are all still in the closure keeps its
// digest (see checkOneAdded).
func TestLayerReuseExample(t *testing.T) {
	e := testenv.Need(t, env)
	base, added := exampleWithHello(t)
	oldTar, _ := buildOCI(t, e, base)
	newTar, res := buildOCI(t, e, added)
	checkOneAdded(t, oldTar, newTar, res)
}

// exampleWithHello is examples/default with hello added to its packages.
func exampleWithHello(t *testing.T) (base, added string) {
	t.Helper()
	base = exampleSpec(t, "default")
	added = strings.Replace(base, "\n  - sqlite\n", "\n  - sqlite\n  - hello\n", 1)
	if added == base {
		t.Fatalf("examples/default/nix-image.yaml lists no `  - sqlite` package to add one after")
	}
	return base, added
}

// checkOneAdded checks the layers of newTar, examples/default with one
// package added (res its build), against oldTar's: every layer of the new
// image is an old one (same digest), or holds only store paths the old
// image lacks, or is a system layer (no store path; at most 2: /etc
// holds none that changes, the Nix DB does); every old layer whose paths
// are all still in the closure is kept; and the layer steps that ran are
// at most the new store layers.
func checkOneAdded(t *testing.T, oldTar, newTar string, res *testenv.BuildResult) {
	t.Helper()
	oldL, newL := storeLayers(t, oldTar), storeLayers(t, newTar)
	if len(oldL) > 100 {
		t.Fatalf("examples/default has %d layers, over the budget, 100", len(oldL))
	}
	oldPaths, newPaths := map[string]bool{}, map[string]bool{}
	oldDigests, newDigests := map[string]bool{}, map[string]bool{}
	for _, l := range oldL {
		oldDigests[l.digest] = true
		for p := range l.paths {
			oldPaths[p] = true
		}
	}
	for _, l := range newL {
		newDigests[l.digest] = true
		for p := range l.paths {
			newPaths[p] = true
		}
	}
	newStore, newSystem := 0, 0
	var reused, total int64
	for _, l := range newL {
		total += l.size
		if oldDigests[l.digest] {
			reused += l.size
			continue
		}
		if len(l.paths) == 0 {
			newSystem++
			continue
		}
		newStore++
		for p := range l.paths {
			if oldPaths[p] {
				t.Errorf("new layer %s holds %s, a path of the old image, with %v", l.digest, p, slices.Sorted(maps.Keys(l.paths)))
			}
		}
		t.Logf("new layer: %v", slices.Sorted(maps.Keys(l.paths)))
	}
	if newSystem > 2 {
		t.Errorf("%d new system layers, want <= 2", newSystem)
	}
	for _, l := range oldL {
		if newDigests[l.digest] || len(l.paths) == 0 {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(l.paths)), func(p string) bool { return !newPaths[p] }) {
			t.Errorf("old layer %s changed, though all its paths are still in the closure: %v", l.digest, slices.Sorted(maps.Keys(l.paths)))
		}
	}
	if len(newPaths) <= len(oldPaths) {
		t.Errorf("adding hello: %d store paths, before %d", len(newPaths), len(oldPaths))
	}
	t.Logf("%d -> %d store paths in %d -> %d layers; new layers: %d store, %d system; %.3f of the new image's bytes reused",
		len(oldPaths), len(newPaths), len(oldL), len(newL), newStore, newSystem, float64(reused)/float64(total))
	// The layers of unchanged paths were cache hits: a layer step (or
	// copy) ran only for a new store layer.
	var ran []string
	for _, v := range res.Progress.ExecutedSteps("[nix-image] layer: ") {
		if name := strings.TrimPrefix(v.Name, "[nix-image] layer: "); !strings.HasPrefix(name, "/") && !strings.Contains(name, "Nix DB") {
			ran = append(ran, name)
		}
	}
	if len(ran) > newStore {
		t.Errorf("%d layer steps ran for %d new store layers: %v", len(ran), newStore, ran)
	}
}

// layerPaths is one layer of an exported image: its digest, compressed
// size and the store paths (base names) it holds files of.
type layerPaths struct {
	digest string
	size   int64
	paths  map[string]bool
}

// storeLayers reads the layers of an `--output type=oci,dest=X.tar`
// export of a single-platform image, in order.
func storeLayers(t *testing.T, path string) []layerPaths {
	t.Helper()
	img := readOCI(t, path)
	byDigest := map[string]map[string]bool{}
	for _, l := range img.Manifest.Layers {
		byDigest[l.Digest.String()] = map[string]bool{}
	}
	seen := map[string]bool{}
	walkOCI(t, path, func(e ociEntry) {
		d := "sha256:" + strings.TrimPrefix(e.Blob, "blobs/sha256/")
		paths, ok := byDigest[d]
		if ok {
			seen[d] = true
		}
		rest, inStore := strings.CutPrefix(strings.TrimPrefix(e.Path, "./"), "nix/store/")
		if !ok || !inStore || rest == "" || strings.HasPrefix(rest, ".") {
			return
		}
		first, _, _ := strings.Cut(rest, "/")
		paths[first] = true
	})
	var out []layerPaths
	for _, l := range img.Manifest.Layers {
		d := l.Digest.String()
		if !seen[d] {
			t.Fatalf("%s: no blob for layer %s", path, d)
		}
		out = append(out, layerPaths{digest: d, size: l.Size, paths: byDigest[d]})
	}
	return out
}

// TestSmallestBudget builds the ssh image of the smallest budget (4
// layers: one of store paths, /etc, the system tree, the sshd files) and
// runs it: the one store layer holds every path, the nixpkgs source too.
func TestSmallestBudget(t *testing.T) {
	e := testenv.Need(t, env)
	spec := strings.Replace(minimalSpec, "images:\n", "layers: 4\nimages:\n  ssh:\n    authorizedKeys:\n      - "+sshTestKey+"\n", 1)
	image, _ := buildOCI(t, e, spec, "--opt", "target=ssh")
	if n := len(readOCI(t, image).Manifest.Layers); n != 4 {
		t.Errorf("%d layers, want 4", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: image, Args: []string{"/bin/sh", "-c",
		`nix --version && nix-store --verify --check-contents && test -f "$(readlink -f /root/.nix-defexpr/channels/nixpkgs)/default.nix" && echo ok`}})
	if err != nil || !strings.Contains(stdout, "ok") {
		t.Errorf("running the image: %v\n%s\n%s", err, stdout, stderr)
	}
}

// sshTestKey is examples/ssh's example key: the ssh image needs one.
const sshTestKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMKN+3vtlLjI7i+EFu4I48phRfpAK51oG200q9aVClEy alice@example"
