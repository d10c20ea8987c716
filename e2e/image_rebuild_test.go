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

// TestDefaultImageRebuildIsCached builds the same spec twice: the second
// build must run no step (no process: unpack, realise) and copy no layer.
func TestDefaultImageRebuildIsCached(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, exampleSpec(t, "default"), nil)
	for i := 1; i <= 2; i++ {
		out := filepath.Join(t.TempDir(), "img.tar")
		res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
		if err != nil {
			t.Fatalf("build %d: %v\n%s", i, err, res.Stderr)
		}
		if i == 1 {
			continue
		}
		// Sources (downloads re-validated, files on scratch rewritten) are
		// not steps: no step may run.
		for _, v := range res.Progress.ExecutedSteps("[nix-image]") {
			t.Errorf("second build executed %q", v.Name)
		}
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
