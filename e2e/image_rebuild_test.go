package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestDefaultImageRebuildIsCached builds the same spec twice, with the
// layers stacked by MergeOp and by the copy fallback (whose copies have no
// name): the second build must run no vertex at all (no process: unpack,
// realise; no layer copy, named or not; see testenv's ExecutedSteps) and
// export the same image.
func TestDefaultImageRebuildIsCached(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"MergeOp", nil},
		{"copy fallback", []string{"--opt", "build-arg:NIX_IMAGE_MERGEOP=false"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			dir := e.SpecContext(t, exampleSpec(t, "default"), nil)
			var first string
			for i := 1; i <= 2; i++ {
				out := filepath.Join(t.TempDir(), "img.tar")
				args := append(append(m.BuildctlOpts(), mode.args...), "--output", "type=oci,dest="+out)
				res, err := e.BuildSpec(ctx, dir, args...)
				if err != nil {
					t.Fatalf("build %d: %v\n%s", i, err, res.Stderr)
				}
				digest := readOCI(t, out).Descriptor.Digest.String()
				if i == 1 {
					first = digest
					continue
				}
				// Sources whose cache key is only re-checked (downloads
				// re-validated) did not run; everything else counts.
				for _, v := range res.Progress.ExecutedSteps("") {
					t.Errorf("second build executed %q (inputs %v)", v.Name, v.Inputs)
				}
				if digest != first {
					t.Errorf("second build exported image %s, the first %s", digest, first)
				}
			}
		})
	}
}

// TestSeedDockerfile is the seed project's own use: a Dockerfile FROM the
// image installing packages from the bundled channel.
func TestSeedDockerfile(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ref := e.RegistryAddr + "/test/nix:default"
	dir := e.SpecContext(t, exampleSpec(t, "default"), nil)
	if res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=image,name="+ref+",push=true")...); err != nil {
		t.Fatalf("build: %v\n%s", err, res.Stderr)
	}
	dockerfile := fmt.Sprintf(`FROM %s
RUN nix-env -iA nixpkgs.curl nixpkgs.jq
RUN curl --version && echo '{"a":1}' | jq .a > /answer
`, ref)
	ddir := t.TempDir()
	if err := writeFile(filepath.Join(ddir, "Dockerfile"), dockerfile); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "rootfs")
	res, err := e.Build(ctx, ddir, "Dockerfile", "--output", "type=local,dest="+out)
	if err != nil {
		t.Fatalf("Dockerfile FROM the image: %v\n%s", err, res.Stderr)
	}
	if got := readFile(t, filepath.Join(out, "answer")); strings.TrimSpace(got) != "1" {
		t.Errorf("/answer = %q, want 1", got)
	}
}
