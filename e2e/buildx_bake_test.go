package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/mirror"
	"github.com/nix-image/nix-image/internal/testenv"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// bakeExamples are the example targets of the repository's
// docker-bake.hcl, with what their images must hold.
var bakeExamples = []struct {
	target string
	ports  []string
}{
	{"default", nil},
	{"ssh", []string{"22/tcp"}},
}

// bakeArgs are the `docker buildx bake` flags that point the example
// targets at the mirror and export each image to dir/TARGET.oci.tar.
func bakeArgs(m *mirror.Mirror, dir string) []string {
	// Bake asks before writing outside its directory.
	args := []string{"--allow", "fs.write=" + dir}
	for _, x := range bakeExamples {
		for _, k := range mirror.ArgNames {
			args = append(args, "--set", x.target+".args."+k+"="+m.Args()[k])
		}
		args = append(args, "--set", x.target+".output=type=oci,dest="+filepath.Join(dir, x.target+".oci.tar"))
	}
	return args
}

// TestBuildxBake runs the repository's docker-bake.hcl as a user would:
// first the group all, which builds the frontend and the two example
// images with it in one bake, without any registry; then the examples
// alone with FRONTEND_CONTEXT naming the frontend pushed to the registry.
// Both give the same images.
func TestBuildxBake(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	before := registryCatalog(t, e)
	local := t.TempDir()
	// No golang image can be pulled here: the frontend target packs the
	// host's binary (stage prebuilt) instead of compiling it; everything
	// else is the file as users run it.
	args := append([]string{"bake", "all", "--set", "frontend.target=prebuilt"}, bakeArgs(m, local)...)
	res, err := e.BuildxJSON(ctx, e.Root, args...)
	if err != nil {
		t.Fatalf("docker buildx bake: %v", err)
	}
	if len(res.Progress.Find("COPY bin/nix-image-frontend")) == 0 {
		t.Errorf("the bake did not build the frontend image: %v", vertexNames(res.Progress.Vertices))
	}
	// BUILDKIT_SYNTAX=nix-image-frontend names no image that could be
	// pulled here: the examples' builds can only run through the named
	// context, the frontend target of this bake. (Bake prefixes each
	// target's vertex names: "[ssh nix-image] realise ...".)
	for _, x := range bakeExamples {
		if len(res.Progress.Find("["+x.target+" nix-image] realise ")) == 0 {
			t.Errorf("%s: no realise step of the frontend: %v", x.target, vertexNames(res.Progress.Vertices))
		}
	}
	for _, v := range res.Progress.Vertices {
		if strings.Contains(v.Name, e.RegistryAddr) {
			t.Errorf("the bake used the registry: %s", v.Name)
		}
	}
	if after := registryCatalog(t, e); !slices.Equal(before, after) {
		t.Errorf("the bake changed the registry: repositories %v, then %v", before, after)
	}
	images := map[string]testenv.OCIImage{}
	for _, x := range bakeExamples {
		out := filepath.Join(local, x.target+".oci.tar")
		img := inspectOCI(t, out, "amd64")
		images[x.target] = img
		var ports []string
		for p := range img.Config.Config.ExposedPorts {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		if !slices.Equal(ports, x.ports) {
			t.Errorf("%s: ExposedPorts %v, want %v", x.target, ports, x.ports)
		}
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: out, Args: []string{"/bin/sh", "-c", "nix --version"}})
		if err != nil || !strings.Contains(stdout, "nix (Nix) "+m.Vars["NIX_VERSION"]) {
			t.Errorf("%s: nix --version: %q, %v\n%s", x.target, stdout, err, stderr)
		}
	}

	t.Run("via the registry", func(t *testing.T) {
		ref := e.RegistryAddr + "/nix-image/frontend:bake-examples"
		if _, err := e.BuildxJSON(ctx, e.Root, "bake", "prebuilt", "--set", "prebuilt.tags="+ref, "--push"); err != nil {
			t.Fatalf("pushing the frontend with bake: %v", err)
		}
		t.Setenv("FRONTEND_CONTEXT", "docker-image://"+ref)
		dir := t.TempDir()
		res, err := e.BuildxJSON(ctx, e.Root, append([]string{"bake", "examples"}, bakeArgs(m, dir)...)...)
		if err != nil {
			t.Fatalf("docker buildx bake examples: %v", err)
		}
		if len(res.Progress.Find(ref)) == 0 {
			t.Errorf("the frontend was not taken from %s: %v", ref, vertexNames(res.Progress.Vertices))
		}
		if len(res.Progress.Find("COPY bin/nix-image-frontend")) != 0 {
			t.Errorf("the bake built the frontend although FRONTEND_CONTEXT names the registry's")
		}
		for _, x := range bakeExamples {
			img := inspectOCI(t, filepath.Join(dir, x.target+".oci.tar"), "amd64")
			if want := images[x.target].Descriptor.Digest; img.Descriptor.Digest != want {
				t.Errorf("%s: image %s, want %s as with the frontend built in the bake", x.target, img.Descriptor.Digest, want)
			}
		}
	})
}

// registryCatalog lists the repositories of the test registry.
func registryCatalog(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	var c struct {
		Repositories []string `json:"repositories"`
	}
	getJSON(t, "http://"+e.RegistryAddr+"/v2/_catalog", &c)
	slices.Sort(c.Repositories)
	return c.Repositories
}

// TestBakeExample runs examples/bake/docker-bake.hcl, the file users copy
// next to their nix-image.yaml, with the README's command: both images and
// both caches land in the registry, and the images work. Then the same
// command on another builder that never built anything (a CI runner):
// with the caches in the registry, no Nix step runs and the same images
// are pushed.
func TestBakeExample(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, minimalSpec, map[string]string{
		"docker-bake.hcl": readFile(t, "../examples/bake/docker-bake.hcl"),
	})
	t.Setenv("IMAGE", e.RegistryAddr+"/bake/nix")
	t.Setenv("TAG", "v1")
	args := []string{"bake", "--push"}
	for _, k := range mirror.ArgNames {
		args = append(args, "--set", "*.args."+k+"="+m.Args()[k])
	}
	if res, err := e.BuildxJSON(ctx, dir, args...); err != nil {
		t.Fatalf("docker buildx bake --push: %v\n%s", err, lastLines(res.Progress.Output("nix-image]"), 30))
	}
	var tags struct {
		Tags []string `json:"tags"`
	}
	getJSON(t, "http://"+e.RegistryAddr+"/v2/bake/nix/tags/list", &tags)
	slices.Sort(tags.Tags)
	if want := []string{"cache", "cache-ssh", "v1", "v1-ssh"}; !slices.Equal(tags.Tags, want) {
		t.Fatalf("registry tags %v, want %v", tags.Tags, want)
	}
	pushed := checkPushedImages(ctx, t, e, "bake/nix", []pushedImage{{tag: "v1"}, {tag: "v1-ssh", ports: []string{"22/tcp"}}})
	// The file's promise: the ssh image reuses the Nix image's store
	// layers (from its cache). Four differ: /etc, the Nix DB and profiles,
	// and the system profile (its user environment and manifest), which
	// holds openssh too; openssh, requested after the other system
	// packages, takes only the paths they lack into a layer of its own.
	if shared := sharedLayers(pushed["v1"], pushed["v1-ssh"]); shared < len(pushed["v1"].Manifest.Layers)-4 {
		t.Errorf("the ssh image shares %d of the Nix image's %d layers; it lacks:\n%s", shared, len(pushed["v1"].Manifest.Layers),
			strings.Join(missingLayers(pushed["v1"], pushed["v1-ssh"]), "\n"))
	}

	other, err := testenv.Start(ctx)
	if err != nil {
		t.Fatalf("second stack: %v", err)
	}
	defer other.Stop()
	// One target at a time: in the progress of one bake of both, the
	// second build's cache check of a source both share (the Nix release)
	// looks like the source's download.
	for _, target := range []string{"nix", "nix-ssh"} {
		res, err := other.BuildxJSON(ctx, dir, append(args, target)...)
		if err != nil {
			t.Fatalf("docker buildx bake --push %s on the second builder: %v", target, err)
		}
		checkFromCache(t, e, res, "the bake of "+target+" on a second builder")
	}
	for tag, img := range pushed {
		if got := registryImage(t, e.RegistryAddr, "bake/nix", tag, "amd64"); got != img.Descriptor.Digest.String() {
			t.Errorf("%s: the second builder pushed %s, the first %s", tag, got, img.Descriptor.Digest)
		}
	}
}

// pushedImage is an image a test expects in the registry: its tag, the
// ports it exposes and labels it must carry.
type pushedImage struct {
	tag    string
	ports  []string
	labels map[string]string
}

// checkPushedImages pulls each image from the registry and checks it as a
// user would get it: a linux/amd64 image, with the expected exposed ports
// and labels, layers, whose Nix runs. It returns the images by tag.
func checkPushedImages(ctx context.Context, t *testing.T, e *testenv.Env, repo string, want []pushedImage) map[string]testenv.OCIImage {
	t.Helper()
	m := needMirror(t)
	out := map[string]testenv.OCIImage{}
	for _, w := range want {
		tar := filepath.Join(t.TempDir(), "image.tar")
		if _, err := testenv.PullOCI(ctx, e.RegistryAddr, repo, w.tag, tar); err != nil {
			t.Errorf("pulling %s:%s: %v", repo, w.tag, err)
			continue
		}
		info := inspectOCI(t, tar, "amd64")
		img := readOCI(t, tar)
		out[w.tag] = img
		var ports []string
		for p := range info.Config.Config.ExposedPorts {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		if info.Config.OS != "linux" || !slices.Equal(ports, w.ports) {
			t.Errorf("%s:%s: %s image exposing %v, want linux exposing %v", repo, w.tag, info.Config.OS, ports, w.ports)
		}
		for k, v := range w.labels {
			if got := info.Config.Config.Labels[k]; got != v {
				t.Errorf("%s:%s: label %s = %q, want %q", repo, w.tag, k, got, v)
			}
		}
		// Store layers, the system tree, /etc: an image of a few layers is
		// not the layered image.
		if len(img.Manifest.Layers) < 5 {
			t.Errorf("%s:%s: only %d layers", repo, w.tag, len(img.Manifest.Layers))
		}
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: tar, Args: []string{"/bin/sh", "-c", "nix --version && nix-store --verify && echo verified"}})
		if err != nil || !strings.Contains(stdout, "nix (Nix) "+m.Vars["NIX_VERSION"]) || !strings.Contains(stdout, "verified") {
			t.Errorf("%s:%s: nix --version && nix-store --verify: %q, %v\n%s", repo, w.tag, stdout, err, stderr)
		}
	}
	return out
}

// missingLayers describes the layers of a that b lacks, by their history
// lines (the store paths they hold).
func missingLayers(a, b testenv.OCIImage) []string {
	var comments []string
	for _, h := range a.Config.History {
		if !h.EmptyLayer {
			comments = append(comments, h.CreatedBy)
		}
	}
	var out []string
	for i, l := range a.Manifest.Layers {
		if !slices.ContainsFunc(b.Manifest.Layers, func(m ocispecs.Descriptor) bool { return m.Digest == l.Digest }) && i < len(comments) {
			out = append(out, comments[i])
		}
	}
	return out
}

// sharedLayers counts the layers of a that b holds too.
func sharedLayers(a, b testenv.OCIImage) int {
	n := 0
	for _, l := range a.Manifest.Layers {
		if slices.ContainsFunc(b.Manifest.Layers, func(m ocispecs.Descriptor) bool { return m.Digest == l.Digest && m.Size == l.Size }) {
			n++
		}
	}
	return n
}
