package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nix-image/nix-image/internal/golden"
	"github.com/nix-image/nix-image/internal/mirror"
	"github.com/nix-image/nix-image/internal/testenv"
)

// The GitHub Actions workflows: the project's CI and the example users
// copy.
var workflows = []string{".github/workflows/ci.yml", "examples/github-actions/nix-image.yml"}

// TestWorkflowsLint runs actionlint (bin/actionlint, make tools) on the
// workflows: syntax, action inputs, expressions, job dependencies.
func TestWorkflowsLint(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	actionlint := filepath.Join(root, "bin", "actionlint")
	if _, err := os.Stat(actionlint); err != nil {
		t.Fatalf("%s missing (run `make tools`): %v", actionlint, err)
	}
	for _, wf := range workflows {
		t.Run(wf, func(t *testing.T) {
			cmd := exec.Command(actionlint, wf)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("actionlint %s: %v\n%s", wf, err, out)
			}
		})
	}
}

// workflow is the part of a workflow file the tests read.
type workflow struct {
	Jobs map[string]struct {
		Steps []struct {
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// buildPushSteps returns the `with:` inputs of the docker/build-push-action
// steps of a workflow file, in order.
func buildPushSteps(t *testing.T, path string) []map[string]string {
	t.Helper()
	var wf workflow
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &wf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var steps []map[string]string
	for _, name := range slices.Sorted(maps.Keys(wf.Jobs)) {
		for _, s := range wf.Jobs[name].Steps {
			if strings.HasPrefix(s.Uses, "docker/build-push-action@") {
				steps = append(steps, s.With)
			}
		}
	}
	return steps
}

var expression = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// buildxArgs turns build-push-action inputs into the `docker buildx build`
// arguments the action runs, for the test stack: expressions become test
// values (tags: ref; push: true), and the GitHub Actions cache, which
// needs the Actions runtime, a registry cache in the test registry with
// the same scope and mode. An input the mapping does not know fails the
// test, so the example cannot use one that the test does not run.
func buildxArgs(t *testing.T, with map[string]string, ref, cacheRepo string) []string {
	t.Helper()
	var args []string
	cache := func(flag, v string) {
		for _, line := range strings.Split(strings.TrimSpace(v), "\n") {
			var parts []string
			for _, p := range strings.Split(strings.TrimSpace(line), ",") {
				switch {
				case p == "type=gha":
					p = "type=registry"
				case strings.HasPrefix(p, "scope="):
					p = "ref=" + cacheRepo + ":" + strings.TrimPrefix(p, "scope=")
				}
				parts = append(parts, p)
			}
			args = append(args, flag, strings.Join(parts, ","))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(with)) {
		v := with[k]
		switch k {
		case "context":
		case "file":
			args = append(args, "-f", v)
		case "target":
			args = append(args, "--target", v)
		case "push":
			if v != "true" && !expression.MatchString(v) {
				t.Fatalf("push: %q", v)
			}
			args = append(args, "--push")
		case "tags":
			args = append(args, "--tag", ref)
		case "labels":
			// metadata-action's OCI labels; a fixed one stands in.
			args = append(args, "--label", "org.opencontainers.image.source=https://github.com/example/repo")
		case "platforms":
			args = append(args, "--platform", v)
		case "cache-from":
			cache("--cache-from", v)
		case "cache-to":
			cache("--cache-to", v)
		default:
			t.Fatalf("build-push-action input %q: the test does not know it", k)
		}
	}
	return append(args, with["context"])
}

// TestExampleWorkflow runs the build steps of the example workflow
// (examples/github-actions/nix-image.yml) with the real buildx on the test
// stack, in a repository holding a nix-image.yaml: each step's image is
// pushed (and the cache written and read in the test registry) and works.
// Then it checks the workflow's promise, "a rerun with the same spec runs
// no Nix step": the same steps on another builder that never built
// anything (a new runner) run none and push the same images. The registry
// cache stands in for type=gha (the Actions cache service needs the
// Actions runtime), with the same scopes and mode=max.
func TestExampleWorkflow(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	steps := buildPushSteps(t, "../examples/github-actions/nix-image.yml")
	if len(steps) != 2 {
		t.Fatalf("want 2 build-push-action steps, got %d", len(steps))
	}
	repo := e.SpecContext(t, minimalSpec, nil)
	image := e.RegistryAddr + "/example/repo"
	tag := func(i int) string { return "step" + string(rune('1'+i)) }
	run := func(b *testenv.Env, i int) *testenv.BuildResult {
		t.Helper()
		args := append([]string{"build", "--build-arg", "BUILDKIT_SYNTAX=" + e.FrontendRef}, buildxMirrorArgs(m)...)
		args = append(args, buildxArgs(t, steps[i], image+":"+tag(i), e.RegistryAddr+"/example/cache")...)
		t.Logf("step %d: docker buildx %s", i+1, strings.Join(args, " "))
		res, err := b.BuildxJSON(ctx, repo, args...)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		return res
	}
	for i := range steps {
		run(e, i)
		var tags struct {
			Tags []string `json:"tags"`
		}
		getJSON(t, "http://"+e.RegistryAddr+"/v2/example/repo/tags/list", &tags)
		if !slices.Contains(tags.Tags, tag(i)) {
			t.Errorf("step %d did not push %s:%s: tags %v", i+1, image, tag(i), tags.Tags)
		}
	}
	// One cache per scope, as the Actions cache would hold.
	var caches struct {
		Tags []string `json:"tags"`
	}
	getJSON(t, "http://"+e.RegistryAddr+"/v2/example/cache/tags/list", &caches)
	slices.Sort(caches.Tags)
	if want := []string{"nix-image", "nix-image-ssh"}; !slices.Equal(caches.Tags, want) {
		t.Errorf("caches written: %v, want %v", caches.Tags, want)
	}
	pushed := checkPushedImages(ctx, t, e, "example/repo", []pushedImage{
		{tag: tag(0), labels: map[string]string{"org.opencontainers.image.source": "https://github.com/example/repo"}},
		{tag: tag(1), ports: []string{"22/tcp"}},
	})

	rerun, err := testenv.Start(ctx)
	if err != nil {
		t.Fatalf("second stack: %v", err)
	}
	defer rerun.Stop()
	for i := range steps {
		res := run(rerun, i)
		checkFromCache(t, e, res, fmt.Sprintf("step %d of the rerun", i+1))
		if got := registryImage(t, e.RegistryAddr, "example/repo", tag(i), "amd64"); got != pushed[tag(i)].Descriptor.Digest.String() {
			t.Errorf("step %d of the rerun pushed %s, the first run %s", i+1, got, pushed[tag(i)].Descriptor.Digest)
		}
	}
}

// TestReadmeSnippets checks that the README quotes the files the tests
// run verbatim: docs that cannot rot.
func TestReadmeSnippets(t *testing.T) {
	readme := readFile(t, "../README.md")
	for _, f := range readmeFiles {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", f))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(readme, "\n"+string(data)+"```\n") {
				t.Errorf("README.md does not quote %s verbatim (in a fenced block ending the file); update the README", f)
			}
		})
	}
}

// readmeFiles are the files README.md quotes in full.
var readmeFiles = []string{"examples/bake/docker-bake.hcl", "examples/github-actions/nix-image.yml"}

// readmeCommands returns the `docker buildx` commands of the first sh
// block under the README heading `### heading`, as buildx arguments
// (without `docker buildx`), with `ghcr.io/me/nix` replaced by image.
// Lines continued with a backslash are joined and comments dropped; the
// commands hold no quotes, so fields split at blanks.
func readmeCommands(t *testing.T, heading, image string) [][]string {
	t.Helper()
	readme := readFile(t, "../README.md")
	_, section, ok := strings.Cut(readme, "\n### "+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf("README.md: no sh block under %q", heading)
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds [][]string
	for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		f := strings.Fields(strings.ReplaceAll(line, "ghcr.io/me/nix", image))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 || f[0] != "docker" || f[1] != "buildx" {
			t.Fatalf("README.md, %q: not a docker buildx command: %s", heading, line)
		}
		cmds = append(cmds, f[2:])
	}
	if len(cmds) == 0 {
		t.Fatalf("README.md, %q: no command", heading)
	}
	return cmds
}

// withArgs inserts args before the last argument of cmd (the context).
func withArgs(cmd []string, args ...string) []string {
	out := slices.Clone(cmd[:len(cmd)-1])
	out = append(out, args...)
	return append(out, cmd[len(cmd)-1])
}

// TestReadmeBuildxCommands runs the README's `docker buildx build`
// commands in a directory holding a nix-image.yaml (the mirror's build
// args added), pushing to the test registry.
func TestReadmeBuildxCommands(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, minimalSpec, nil)
	image := e.RegistryAddr + "/readme/nix"
	for _, cmd := range readmeCommands(t, "docker buildx build", image) {
		stdout, stderr, err := e.Buildx(ctx, dir, withArgs(cmd, buildxMirrorArgs(m)...)...)
		if err != nil {
			t.Fatalf("docker buildx %s: %v\n%s", strings.Join(cmd, " "), err, stderr)
		}
		if i := slices.Index(cmd, "--call"); i >= 0 {
			// The columns' widths follow the mirror's values: compare
			// the words of each line.
			var lines []string
			for _, line := range strings.Split(mirrorPlaceholders(m, stdout), "\n") {
				lines = append(lines, strings.Join(strings.Fields(line), " "))
			}
			golden.Check(t, filepath.Join("testdata", "call-"+cmd[i+1]+".txt"), []byte(strings.Join(lines, "\n")))
		}
	}
	var tags struct {
		Tags []string `json:"tags"`
	}
	getJSON(t, "http://"+e.RegistryAddr+"/v2/readme/nix/tags/list", &tags)
	slices.Sort(tags.Tags)
	if want := []string{"latest", "ssh"}; !slices.Equal(tags.Tags, want) {
		t.Errorf("registry tags %v, want %v", tags.Tags, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "nix.oci.tar")); err != nil {
		t.Errorf("the -o type=oci command wrote no archive: %v", err)
	}
}

// mirrorPlaceholders replaces the mirror's build arg values (loopback
// ports, generated keys and hashes) in s with $NAME.
func mirrorPlaceholders(m *mirror.Mirror, s string) string {
	args := m.Args()
	names := slices.Clone(mirror.ArgNames)
	// Longer values first: NIX_RELEASES holds the mirror's URL, which
	// other values start with.
	slices.SortStableFunc(names, func(a, b string) int { return len(args[b]) - len(args[a]) })
	for _, k := range names {
		if args[k] != "" {
			s = strings.ReplaceAll(s, args[k], "$"+k)
		}
	}
	return s
}
