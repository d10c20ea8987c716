package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestSubstituterURLWithQuery: a substituter URL carrying Nix store
// settings (?priority=40) is used as Nix uses it, against a server that
// answers only the exact paths of the cache's files. The frontend's check
// asks for /nix-cache-info without the query, Nix substitutes every path
// from it (the realise step's /nix cache is its own, empty at first), and
// the image's nix.conf keeps the URL as written.
func TestSubstituterURLWithQuery(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cache, err := m.ServeStrictCache()
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	substituter := cache.URL + "?priority=40"
	dir := e.SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
	image := filepath.Join(t.TempDir(), "image.tar")
	args := append(m.BuildctlOpts("SUBSTITUTERS"),
		"--opt", "build-arg:SUBSTITUTERS="+substituter,
		"--opt", fmt.Sprintf("build-arg:BUILDKIT_CACHE_MOUNT_NS=query-test-%d", time.Now().UnixNano()),
		"--output", "type=oci,dest="+image)
	res, err := e.BuildSpec(ctx, dir, args...)
	if err != nil {
		t.Fatalf("build with substituter %s: %v\n%s", substituter, err, res.Stderr)
	}
	reqs := cache.Requests()
	if !slices.Contains(reqs, "GET /nix-cache-info") {
		t.Errorf("nobody asked the cache for /nix-cache-info: %q", reqs)
	}
	if !slices.ContainsFunc(reqs, func(r string) bool { return strings.HasSuffix(r, ".narinfo") }) ||
		!slices.ContainsFunc(reqs, func(r string) bool { return strings.HasPrefix(r, "GET /nar/") }) {
		t.Errorf("Nix substituted nothing from the cache: %q", reqs)
	}
	for _, r := range reqs {
		if strings.Contains(r, "?") || strings.Contains(r, "priority") {
			t.Errorf("the cache was asked for %q: the query is for Nix, not part of the cache's paths", r)
		}
	}
	out, _, err := e.RunImage(ctx, image, "cat", "/etc/nix/nix.conf")
	if err != nil || !strings.Contains(out, "substituters = "+substituter+"\n") {
		t.Errorf("/etc/nix/nix.conf lacks the substituter as written (%s): %q, %v", substituter, out, err)
	}
	if out, _, err := e.RunImage(ctx, image, "hello"); err != nil || !strings.Contains(out, "Hello") {
		t.Errorf("hello: %q, %v", out, err)
	}
}
