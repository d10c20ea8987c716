package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSharedCache shares the build cache between builders through a
// registry, as CI runners or a team do, with the README's two commands:
// a build exports its cache with `--cache-to type=registry,...,mode=max`
// and pushes the image; a second buildkitd with an empty root (another
// machine) builds the same spec with `--cache-from`, runs no Nix step (no
// unpack, realise, layer copy) and pushes the same image.
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

	// The spec names the first stack's frontend image, and image and cache
	// go to its registry: the second daemon reaches both over plain HTTP
	// on the loopback (BuildKit does so for 127.0.0.1 without
	// configuration), as another machine reaches a shared registry.
	dir := e.SpecContext(t, minimalSpec+"packages: [jq]\n", nil)
	repo := "shared/nix"
	cmds := readmeCommands(t, "Sharing the cache between builders", e.RegistryAddr+"/"+repo)
	if len(cmds) != 2 || !strings.Contains(strings.Join(cmds[0], " "), "--cache-to") || !strings.Contains(strings.Join(cmds[1], " "), "--cache-from") {
		t.Fatalf("README: want a --cache-to and a --cache-from command, got %q", cmds)
	}
	build := func(b *testenv.Env, cmd []string) (string, *testenv.BuildResult) {
		t.Helper()
		res, err := b.BuildxJSON(ctx, dir, withArgs(cmd, buildxMirrorArgs(m)...)...)
		if err != nil {
			t.Fatalf("docker buildx %s: %v\n%s", strings.Join(cmd, " "), err, lastLines(res.Progress.Output("[nix-image]"), 30))
		}
		return registryImage(t, e.RegistryAddr, repo, "latest", "amd64"), res
	}

	first, res := build(e, cmds[0])
	if len(res.Progress.Find("[nix-image] realise ")) == 0 {
		t.Fatalf("no realise step in the first build: %v", vertexNames(res.Progress.Vertices))
	}
	second, res := build(other, cmds[1])
	checkFromCache(t, e, res, "the build with the shared cache")
	if first != second {
		t.Errorf("image digests differ: %s from the first builder, %s from the second with the shared cache", first, second)
	}
}

// checkFromCache fails t when a build on a daemon that never built
// anything, with a cache import, ran any vertex but the two sources that
// no cache import can stand in for: the frontend image (e's), which the
// daemon runs the frontend from, and the release's install script, which
// the frontend reads (it lists the tarball's hash) before it generates the
// build. The ssh target also reads its build secret authorized_keys in
// every build, by design (llbgen.AuthorizedKeysStep: no cache is keyed on
// a secret). Anything else that ran (a download, unpack, realise, a layer
// copy, named or not) is work the cache should have carried. (Bake
// prefixes the names with the target: "[nix-ssh nix-image] realise ...".)
func checkFromCache(t *testing.T, e *testenv.Env, res *testenv.BuildResult, what string) {
	t.Helper()
	fresh := func(v *testenv.Vertex) bool {
		if strings.HasSuffix(v.Name, "nix-image] read the build secret authorized_keys") {
			return true
		}
		return v.IsSource() && (strings.Contains(v.Name, "docker-image://"+e.FrontendRef+"@") ||
			strings.Contains(v.Name, "nix-image] fetch ") && strings.HasSuffix(v.Name, "/install"))
	}
	if len(res.Progress.Find("nix-image] realise ")) == 0 {
		t.Errorf("%s reported no Nix step at all: %v", what, vertexNames(res.Progress.Vertices))
	}
	for _, v := range res.Progress.ExecutedSteps("") {
		if !fresh(v) {
			t.Errorf("%s executed %q (inputs %v)", what, v.Name, v.Inputs)
		}
	}
}

// registryImage returns the digest of the linux/arch image manifest that
// repo:tag names in the registry at addr (an index with attestations, as
// buildx pushes, or a single manifest).
func registryImage(t *testing.T, addr, repo, tag, arch string) string {
	t.Helper()
	url := "http://" + addr + "/v2/" + repo + "/manifests/" + tag
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", strings.Join([]string{
		ocispecs.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.list.v2+json",
		ocispecs.MediaTypeImageManifest,
		"application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var idx ocispecs.Index
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if len(idx.Manifests) == 0 {
		return resp.Header.Get("Docker-Content-Digest")
	}
	for _, d := range idx.Manifests {
		if d.Platform != nil && d.Platform.Architecture == arch {
			return d.Digest.String()
		}
	}
	t.Fatalf("%s: no %s image in %+v", url, arch, idx.Manifests)
	return ""
}
