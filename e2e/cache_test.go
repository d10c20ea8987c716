package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestSharedCache shares the build cache between builders through a
// registry, as CI runners or a team do: a build exports its cache with
// `--cache-to type=registry,...,mode=max`; a second buildkitd with an
// empty root (another machine) builds the same spec with `--cache-from`
// and runs no Nix step (no unpack, realise, layer copy), and gives the
// same image.
func TestSharedCache(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	other, err := testenv.Start(ctx)
	if err != nil {
		t.Fatalf("second stack: %v", err)
	}
	defer other.Stop()

	// The spec names the first stack's frontend image and the cache lives
	// in its registry: the second daemon reaches both over plain HTTP on
	// the loopback (BuildKit does so for 127.0.0.1 without configuration).
	dir := e.SpecContext(t, minimalSpec+"packages: [jq]\n", nil)
	cache := e.RegistryAddr + "/nix-image/cache:shared"
	build := func(b *testenv.Env, cacheFlag string) (ociInfo, *testenv.BuildResult) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "image.oci.tar")
		args := append([]string{"build", "-f", testenv.SpecFile, "-o", "type=oci,dest=" + out, cacheFlag}, buildxMirrorArgs(m)...)
		res, err := b.BuildxJSON(ctx, dir, append(args, ".")...)
		if err != nil {
			t.Fatalf("docker buildx build %s: %v", cacheFlag, err)
		}
		return inspectOCI(t, out, "amd64"), res
	}

	first, res := build(e, "--cache-to=type=registry,ref="+cache+",mode=max")
	if len(res.Progress.Find("[nix-image] realise ")) == 0 {
		t.Fatalf("no realise step in the first build: %v", vertexNames(res.Progress.Vertices))
	}
	second, res := build(other, "--cache-from=type=registry,ref="+cache)
	steps := 0
	for _, v := range res.Progress.Vertices {
		if !isStep(v.Name) {
			continue
		}
		steps++
		if v.Executed() {
			t.Errorf("the build with the shared cache executed %q", v.Name)
		}
	}
	if steps == 0 {
		t.Errorf("the build with the shared cache reported no Nix step at all: %v", vertexNames(res.Progress.Vertices))
	}
	if first.Manifest != second.Manifest {
		t.Errorf("image digests differ: %s on the first builder, %s with its cache on the second", first.Manifest, second.Manifest)
	}
}
