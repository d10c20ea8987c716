package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDockerfileRun checks the stack itself: the built-in Dockerfile
// frontend runs RUN steps on the daemon (with the host's network), a
// rebuild is fully cached, and the exported image runs with runc with its
// layers (whiteouts included) applied in order.
func TestDockerfileRun(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// RUN steps and containers share the host's network: they reach a
	// server on the host's loopback, as steps fetching from test mirrors do.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "from the host")
	}))
	defer srv.Close()

	dir := busyboxContext(t, map[string]string{
		"keep": "kept\n",
		"gone": "removed by a later layer\n",
		"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
COPY keep gone /data/
ADD ` + srv.URL + `/added /data/added
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm /data/gone && /bin/busybox wget -q -O /data/run ` + srv.URL + `"]
ENV GREETING=hello
WORKDIR /data
CMD ["/bin/busybox", "cat", "run"]
`,
	})

	tar := filepath.Join(t.TempDir(), "image.tar")
	res, err := e.Build(ctx, dir, "Dockerfile", "--output", "type=oci,dest="+tar)
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	if ran := res.Progress.Executed("RUN"); len(ran) != 1 {
		t.Errorf("first build: want 1 executed RUN vertex, got %d (%v)", len(ran), vertexNames(res.Progress.Vertices))
	}

	res, err = e.Build(ctx, dir, "Dockerfile", "--output", "type=oci,dest="+tar)
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	// Sources (the context, the ADD URL) are checked again on every build;
	// every step using them must be a cache hit.
	if ran := res.Progress.ExecutedSteps(""); len(ran) != 0 {
		t.Errorf("second build: want no executed step (all cached), got %v", vertexNames(ran))
	}
	if len(res.Progress.Find("RUN")) != 1 {
		t.Errorf("second build: want the RUN vertex reported (cached), got %v", vertexNames(res.Progress.Vertices))
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"image Cmd and WorkingDir", nil, "from the host\n"},
		{"lower layer file kept", []string{"/bin/busybox", "cat", "/data/keep"}, "kept\n"},
		{"whiteout applied", []string{"/bin/busybox", "ls", "/data"}, "added\nkeep\nrun\n"},
		{"image Env", []string{"/bin/busybox", "sh", "-c", "echo $GREETING"}, "hello\n"},
		{"host loopback", []string{"/bin/busybox", "wget", "-q", "-O", "-", srv.URL}, "from the host\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := e.RunImage(ctx, tar, tc.args...)
			if err != nil {
				t.Fatalf("run %v: %v\nstderr: %s", tc.args, err, stderr)
			}
			if out != tc.want {
				t.Errorf("run %v: got %q, want %q", tc.args, out, tc.want)
			}
		})
	}

	if _, _, err := e.RunImage(ctx, tar, "/bin/busybox", "false"); err == nil || !strings.Contains(err.Error(), "exited with code 1") {
		t.Errorf("a failing command: want an exit code 1 error, got %v", err)
	}
}

// TestBuildx runs the users' commands, docker buildx build and bake,
// through the remote-driver builder of the test stack.
func TestBuildx(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := busyboxContext(t, map[string]string{
		"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo via buildx > /msg"]
`,
	})
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if _, stderr, err := e.Buildx(ctx, dir, "build", "-o", "type=local,dest="+rootfs, "."); err != nil {
		t.Fatalf("docker buildx build: %v\n%s", err, stderr)
	}
	// A rootfs directory runs in place; without a config, args are needed.
	out, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Args: []string{"/bin/busybox", "cat", "/msg"}})
	if err != nil || out != "via buildx\n" {
		t.Errorf("run in the exported rootfs: got %q, %v\n%s", out, err, stderr)
	}

	// A server in the container (as the ssh image's sshd will be), reached
	// from the host over the shared loopback.
	port := freePort(t)
	c, err := e.StartImage(ctx, testenv.RunSpec{Image: rootfs, Args: []string{
		"/bin/busybox", "httpd", "-f", "-p", fmt.Sprintf("127.0.0.1:%d", port), "-h", "/"}})
	if err != nil {
		t.Fatalf("starting httpd: %v", err)
	}
	body, err := getWithRetry(ctx, fmt.Sprintf("http://127.0.0.1:%d/msg", port))
	if err != nil || body != "via buildx\n" {
		t.Errorf("GET from the container's httpd: got %q, %v\n%s", body, err, c.Output())
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stopping the container: %v", err)
	}

	// The repository's own docker-bake.hcl, as CI elsewhere would use it
	// (the prebuilt target: no golang image can be pulled here).
	ref := e.RegistryAddr + "/nix-image/frontend:bake"
	if _, stderr, err := e.Buildx(ctx, e.Root, "bake", "prebuilt", "--set", "prebuilt.tags="+ref, "--push"); err != nil {
		t.Fatalf("docker buildx bake: %v\n%s", err, stderr)
	}
	var tags struct {
		Tags []string `json:"tags"`
	}
	getJSON(t, "http://"+e.RegistryAddr+"/v2/nix-image/frontend/tags/list", &tags)
	if !slices.Contains(tags.Tags, "bake") {
		t.Errorf("bake did not push %s: tags %v", ref, tags.Tags)
	}
}

// getWithRetry GETs url until the server answers (it may still be
// starting) or ctx ends.
func getWithRetry(ctx context.Context, url string) (string, error) {
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			return string(b), err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("GET %s: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// busyboxContext writes a build context holding Debian's static busybox
// (make deps) as `busybox` and files, and returns its directory.
func busyboxContext(t *testing.T, files map[string]string) string {
	t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("reading busybox-static (make deps): %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "busybox"), busybox, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFrontendImage checks the image Start pushed for `# syntax=` lines:
// present in the registry, with the gateway labels and the entrypoint.
func TestFrontendImage(t *testing.T) {
	e := testenv.Need(t, env)
	repo, tag, ok := strings.Cut(strings.TrimPrefix(e.FrontendRef, e.RegistryAddr+"/"), ":")
	if !ok {
		t.Fatalf("unexpected FrontendRef %q", e.FrontendRef)
	}
	var manifest ocispecs.Manifest
	getJSON(t, fmt.Sprintf("http://%s/v2/%s/manifests/%s", e.RegistryAddr, repo, tag), &manifest)
	if len(manifest.Layers) != 1 {
		t.Errorf("frontend image: want 1 layer (the binary), got %d", len(manifest.Layers))
	}
	var cfg ocispecs.Image
	getJSON(t, fmt.Sprintf("http://%s/v2/%s/blobs/%s", e.RegistryAddr, repo, manifest.Config.Digest), &cfg)
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/nix-image-frontend" {
		t.Errorf("Entrypoint: got %q, want /nix-image-frontend", got)
	}
	wantLabels := map[string]string{
		"moby.buildkit.frontend.network.none": "true",
		"moby.buildkit.frontend.caps":         "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts",
	}
	for k, want := range wantLabels {
		if got := cfg.Config.Labels[k]; got != want {
			t.Errorf("label %s: got %q, want %q", k, got, want)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding: %v", url, err)
	}
}

func vertexNames(vs []*testenv.Vertex) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

// TestShippedFrontendStage builds the Dockerfile's default target, the
// `frontend` stage users get from `docker buildx build .` (it compiles the
// frontend inside the golang image; hack/check-dockerfile.sh stands in an
// image of this machine's Go for golang, which cannot be pulled here),
// pushes it, and builds an image through it with `# syntax=`: the stage
// that ships works, not only the `prebuilt` one the other tests use.
func TestShippedFrontendStage(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ref := e.RegistryAddr + "/nix-image/frontend:from-source"
	cmd := exec.CommandContext(ctx, filepath.Join(e.Root, "hack", "check-dockerfile.sh"))
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.Addr, "NIX_IMAGE_REGISTRY="+e.RegistryAddr,
		"BUILDCTL="+e.BuildctlPath, "FRONTEND_REF="+ref)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/check-dockerfile.sh: %v\n%s", err, lastLines(string(out), 40))
	}

	dir := t.TempDir()
	spec := "# syntax=" + ref + "\n" + minimalSpec + "packages: [hello]\n"
	if err := os.WriteFile(filepath.Join(dir, testenv.SpecFile), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
	if err != nil {
		t.Fatalf("build through the shipped frontend: %v\n%s", err, res.Stderr)
	}
	if len(res.Progress.Find("[nix-image] realise")) == 0 {
		t.Fatalf("the build did not go through nix-image's realise step")
	}
	rootfs, cfg := unpackImage(t, out)
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"hello"}})
	if err != nil || !strings.Contains(stdout, "Hello, world!") {
		t.Fatalf("hello in the image: %v\n%s\n%s", err, stdout, stderr)
	}
}

// TestMirrorVerifies runs the offline mirror's own check
// (hack/mirror/verify.sh: its Nix registers itself, builds, substitutes
// from the cache and verifies its store inside a BuildKit build): a broken
// mirror fails here, by name, before it makes other tests fail obscurely.
func TestMirrorVerifies(t *testing.T) {
	testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "hack", "mirror", "verify.sh"), m.Dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/mirror/verify.sh: %v\n%s", err, lastLines(string(out), 40))
	}
}
