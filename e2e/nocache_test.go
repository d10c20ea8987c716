package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestNoCache: `buildctl build --no-cache` (what `docker buildx build
// --no-cache` sends) re-runs every step of ours on a warm cache: the
// unpack, the realise step, the layer copies and the merge; the image
// still works. `--no-cache-filter` naming another target leaves the
// build cached, naming this one re-runs it (docker buildx). The --no-cache
// image is the cached build's, digest for digest.
func TestNoCache(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, minimalSpec, nil)
	build := func(args ...string) (string, *testenv.BuildResult) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "image.tar")
		res, err := e.BuildSpec(ctx, dir, append(append(m.BuildctlOpts(), args...), "--output", "type=oci,dest="+out)...)
		if err != nil {
			t.Fatalf("build %q: %v\n%s", args, err, res.Stderr)
		}
		return out, res
	}
	// steps are the kinds of step --no-cache must re-run.
	steps := []string{"[nix-image] unpack nixpkgs", "[nix-image] realise ", "[nix-image] layer: ", "[nix-image] merge layers"}

	cached, _ := build()
	_, res := build()
	if got := res.Progress.ExecutedSteps("[nix-image]"); len(got) > 0 {
		t.Fatalf("the rebuild without --no-cache executed %v: the test cannot tell --no-cache from a cold cache", vertexNames(got))
	}

	image, res := build("--no-cache")
	for _, s := range steps {
		if len(res.Progress.ExecutedSteps(s)) == 0 {
			t.Errorf("--no-cache: no %q step executed (executed: %v)", s, vertexNames(res.Progress.ExecutedSteps("")))
		}
	}
	for _, v := range res.Progress.Find("[nix-image]") {
		if v.Cached {
			t.Errorf("--no-cache: %q came from the cache", v.Name)
		}
	}
	// Under --no-cache BuildKit mounts new, empty /nix caches (the realise
	// step's is not the layer steps'): a layer step relying on the realise
	// step's cache would fetch its paths again (once 210 s here, not 11).
	if out := res.Progress.Output("[nix-image] layer"); strings.Contains(out, "cache lacks") {
		t.Errorf("--no-cache: a layer step did not find the paths the realise step fetched:\n%s", lastLines(out, 20))
	}
	if got, want := readOCI(t, image).Descriptor.Digest, readOCI(t, cached).Descriptor.Digest; got != want {
		t.Errorf("--no-cache image %s, cached build's %s: the same inputs must give the same image", got, want)
	}
	out, _, err := e.RunImage(ctx, image, "nix", "--version")
	if err != nil || !strings.Contains(out, "nix (Nix) "+m.Vars["NIX_VERSION"]) {
		t.Errorf("nix --version in the --no-cache image: %q, %v", out, err)
	}

	// --no-cache-filter names targets, as it names a Dockerfile's stages.
	buildx := func(filter string) *testenv.BuildResult {
		t.Helper()
		args := append([]string{"build", "-f", "nix-image.yaml", "--no-cache-filter", filter,
			"-o", "type=oci,dest=" + filepath.Join(t.TempDir(), "image.tar")}, buildxMirrorArgs(m)...)
		res, err := e.BuildxJSON(ctx, dir, append(args, ".")...)
		if err != nil {
			t.Fatalf("docker buildx build --no-cache-filter %s: %v", filter, err)
		}
		return res
	}
	if got := buildx("ssh").Progress.ExecutedSteps("[nix-image]"); len(got) > 0 {
		t.Errorf("--no-cache-filter ssh, building the default target, executed %v", vertexNames(got))
	}
	if got := buildx("default").Progress.ExecutedSteps("[nix-image] realise "); len(got) == 0 {
		t.Errorf("--no-cache-filter default did not re-run the realise step")
	}
}
