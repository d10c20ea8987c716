package e2e

import (
	"context"
	"path/filepath"
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
			for _, l := range img.Layers {
				have[l.Digest] = true
			}
			var kept, total int64
			missing := 0
			for _, l := range old.Layers {
				total += l.Size
				if have[l.Digest] {
					kept += l.Size
				} else {
					missing++
				}
			}
			if missing > tc.changed {
				t.Errorf("%d of the old image's %d layers changed, want at most %d", missing, len(old.Layers), tc.changed)
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

// TestReproducible builds the same spec on two daemons with empty state:
// the image digests are the same.
func TestReproducible(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	other, err := testenv.Start(ctx)
	if err != nil {
		t.Fatalf("second stack: %v", err)
	}
	defer other.Stop()
	spec := minimalSpec + "packages: [hello]\n"
	a, _ := buildOCI(t, e, spec)
	b, _ := buildOCI(t, other, spec)
	ia, ib := readOCI(t, a), readOCI(t, b)
	if ia.Manifest != ib.Manifest {
		t.Errorf("manifests differ: %s and %s", ia.Manifest, ib.Manifest)
		for i := range min(len(ia.Layers), len(ib.Layers)) {
			if ia.Layers[i] != ib.Layers[i] {
				t.Logf("layer %d: %+v vs %+v", i, ia.Layers[i], ib.Layers[i])
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
	if a, b := len(readOCI(t, merged).Layers), len(readOCI(t, copied).Layers); a != b {
		t.Errorf("merged image has %d layers, copied %d", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: copied, Args: []string{"/bin/sh", "-c", "nix --version && nix-store --verify --check-contents && echo ok"}})
	if err != nil || !strings.Contains(stdout, "ok") {
		t.Errorf("running the copied image: %v\n%s\n%s", err, stdout, stderr)
	}
}
