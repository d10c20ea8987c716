package e2e

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestRealSizeLayers builds examples/default against the real-size
// nixpkgs stand-in (about 45,000 files, 230 MB unpacked: the size of
// nixpkgs, most of it never evaluated), where a pipeline that copies or
// hashes nixpkgs or the closure per build shows. Adding one package
// changes only the layers of the new paths and the system layer (every
// other layer digest unchanged: see checkOneAdded). A second builder with
// an empty state and the first one's registry cache (--import-cache)
// builds the same spec with no Nix step executed and the same image.
func TestRealSizeLayers(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	opts := m.BuildctlOptsWith(m.RealNixpkgs)
	base, added := exampleWithHello(t)
	cache := e.RegistryAddr + "/test/realsize:cache"
	build := func(b *testenv.Env, spec string, args ...string) (string, *testenv.BuildResult) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "image.tar")
		start := time.Now()
		res, err := b.BuildSpec(ctx, e.SpecContext(t, spec, nil), append(append(opts, args...), "--output", "type=oci,dest="+out)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, lastLines(res.Progress.Output("[nix-image]"), 40))
		}
		t.Logf("built in %.1fs; longest steps: %s", time.Since(start).Seconds(), longestSteps(res, 6))
		// The realise step filled the /nix cache: the layer steps that
		// ran copied from it, fetching nothing again.
		if log := res.Progress.Output("[nix-image] layer: "); strings.Contains(log, "the /nix cache lacks") {
			t.Errorf("a layer step did not find its paths in the /nix cache:\n%s", lastLines(log, 20))
		}
		return out, res
	}
	oldTar, first := build(e, base, "--export-cache", "type=registry,ref="+cache+",mode=max")
	if log := first.Progress.Output("[nix-image] realise"); !strings.Contains(log, "registering nixpkgs") {
		t.Errorf("the first build's realise step does not say it registered nixpkgs in the /nix cache:\n%s", lastLines(log, 20))
	}
	newTar, res := build(e, added)
	checkOneAdded(t, oldTar, newTar, res)
	// Adding a package reads nixpkgs in the realise step's evaluation
	// only: the source is neither unpacked nor registered in the /nix
	// cache again (nor hashed: see keyedByStep in nixstep/step_realise.go).
	if ran := res.Progress.ExecutedSteps("[nix-image] unpack nixpkgs"); len(ran) > 0 {
		t.Errorf("adding a package unpacked nixpkgs again: %s", ran[0].Name)
	}
	if log := res.Progress.Output("[nix-image] realise"); strings.Contains(log, "registering nixpkgs") {
		t.Errorf("adding a package registered nixpkgs in the /nix cache again:\n%s", lastLines(log, 20))
	}

	other, err := testenv.Start(ctx)
	if err != nil {
		t.Fatalf("second stack: %v", err)
	}
	defer other.Stop()
	again, res := build(other, base, "--import-cache", "type=registry,ref="+cache)
	checkFromCache(t, e, res, "the second builder's build with the first one's cache")
	if a, b := readOCI(t, oldTar), readOCI(t, again); a.Descriptor.Digest != b.Descriptor.Digest {
		t.Errorf("image digests differ: %s from the first builder, %s from the second with its cache", a.Descriptor.Digest, b.Descriptor.Digest)
		la, lb := a.Manifest.Layers, b.Manifest.Layers
		for i := range max(len(la), len(lb)) {
			if i >= len(la) || i >= len(lb) || la[i].Digest != lb[i].Digest || la[i].Size != lb[i].Size {
				x, y := la[min(i, len(la)-1)], lb[min(i, len(lb)-1)]
				t.Logf("layer %d: %s (%d bytes) vs %s (%d bytes)", i, x.Digest, x.Size, y.Digest, y.Size)
			}
		}
	}
}

// longestSteps names the n vertices of a build that took longest, with
// their times.
func longestSteps(res *testenv.BuildResult, n int) string {
	type step struct {
		name string
		d    time.Duration
	}
	var steps []step
	for _, v := range res.Progress.Vertices {
		if v.FirstStarted != nil && v.Completed != nil {
			steps = append(steps, step{v.Name, v.Completed.Sub(*v.FirstStarted)})
		}
	}
	slices.SortFunc(steps, func(a, b step) int { return cmp.Compare(b.d, a.d) })
	var out []string
	for _, s := range steps[:min(n, len(steps))] {
		out = append(out, fmt.Sprintf("%s %.1fs", s.name, s.d.Seconds()))
	}
	return strings.Join(out, "; ")
}
