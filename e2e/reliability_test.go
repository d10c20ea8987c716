package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBuildkitdKilledMidBuild kills buildkitd with SIGKILL at several
// points of a build (on a stack of its own: the shared one must live),
// restarts it on the same state directory, and builds the same spec
// again: the build succeeds and the image's store verifies. Each phase
// uses a cache mount namespace of its own and another package, so that
// its build unpacks the release, substitutes and writes layer trees anew.
func TestBuildkitdKilledMidBuild(t *testing.T) {
	testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	own := ownStack(t, testenv.Options{})

	phases := []struct {
		name, marker, pkg string
	}{
		// nixstep's log line, before the release's store paths are moved.
		{"unpacking the release", "unpacking the Nix release", "hello"},
		// Nix's log line for a substitution.
		{"substituting", "copying path", "jq"},
		// nixstep's log line, before the per-path copies.
		{"writing the layer trees", "writing the layer trees", "less"},
		// BuildKit's exporter vertex.
		{"exporting", "exporting layers", "gzip"},
	}
	for i, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			spec := fmt.Sprintf(minimalSpec+"packages: [%s]\n", ph.pkg)
			dir := own.SpecContext(t, spec, nil)
			out := filepath.Join(t.TempDir(), "image.tar")
			args := append(m.BuildctlOpts(),
				"--opt", fmt.Sprintf("build-arg:BUILDKIT_CACHE_MOUNT_NS=crash-%d", i),
				"--output", "type=oci,dest="+out)

			// Mounts of another buildkitd on the machine are not the
			// killed one's.
			before := buildkitdTempMounts(t)
			var once sync.Once
			killed := make(chan error, 1)
			res, err := own.BuildWatch(ctx, dir, testenv.SpecFile, func(event string) {
				if strings.Contains(event, ph.marker) {
					once.Do(func() { killed <- own.KillBuildkitd() })
				}
			}, args...)
			select {
			case kerr := <-killed:
				if kerr != nil {
					t.Fatalf("killing buildkitd: %v", kerr)
				}
			default:
				t.Fatalf("the build never reached %q (err %v):\n%s\nrealise step:\n%s", ph.marker, err, res.Stderr, lastLines(res.Progress.Output("[nix-image] realise"), 40))
			}
			if err == nil {
				t.Fatalf("the build succeeded although buildkitd was killed at %q", ph.marker)
			}
			if leaked := newMounts(before, buildkitdTempMounts(t)); len(leaked) > 0 {
				t.Errorf("the killed buildkitd left mounts outside its stack's directory, which the stack's cleanup does not unmount: %v", leaked)
			}
			if err := own.RestartBuildkitd(ctx); err != nil {
				t.Fatalf("restarting buildkitd on the same state directory: %v", err)
			}

			res, err = own.BuildSpec(ctx, dir, args...)
			if err != nil {
				t.Fatalf("the build after the restart: %v\nrealise step:\n%s", err, lastLines(res.Progress.Output("[nix-image] realise"), 40))
			}
			rootfs, cfg := unpackImage(t, out)
			stdout, stderr, err := own.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg,
				Args: []string{"/bin/sh", "-c", "nix-store --verify --check-contents && " + ph.pkg + " --version"}})
			if err != nil {
				t.Fatalf("in the image: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			if strings.Contains(stderr, "was modified") || strings.Contains(stderr, "error") {
				t.Errorf("nix-store --verify --check-contents complains:\n%s", stderr)
			}
		})
	}
}

// buildkitdTempMounts lists the mounts in the test process's temp dir of
// the kind buildkitd makes to read and diff snapshots (buildkit-mount*):
// a stack's buildkitd must make them in the stack's own directory.
func buildkitdTempMounts(t *testing.T) []string {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	mounts, err := testenv.MountsUnder(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var leaked []string
	for _, m := range mounts {
		if filepath.Dir(m) == tmp && strings.HasPrefix(filepath.Base(m), "buildkit-mount") {
			leaked = append(leaked, m)
		}
	}
	return leaked
}

// newMounts returns the mounts of after that are not in before.
func newMounts(before, after []string) []string {
	var added []string
	for _, m := range after {
		if !slices.Contains(before, m) {
			added = append(added, m)
		}
	}
	return added
}

// TestConcurrentBuilds runs four builds at once on one daemon, two of
// them of the same spec: all succeed (they share the locked /nix cache
// mount), and the equal specs give the same image digest.
func TestConcurrentBuilds(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	specs := []string{
		minimalSpec + "packages: [gnused]\n",
		minimalSpec + "packages: [gnused]\n",
		minimalSpec + "packages: [gnugrep]\n",
		minimalSpec + "packages: [gzip, gnutar]\n",
	}
	outs := make([]string, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		dir := e.SpecContext(t, spec, nil)
		outs[i] = filepath.Join(t.TempDir(), "image.tar")
		args := append(m.BuildctlOpts(), "--output", "type=oci,dest="+outs[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.BuildSpec(ctx, dir, args...)
			if err != nil {
				errs[i] = fmt.Errorf("%w\n%s", err, res.Stderr)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
	}
	digests := make([]string, len(outs))
	for i, out := range outs {
		digests[i] = readOCI(t, out).Descriptor.Digest.String()
	}
	if digests[0] != digests[1] {
		t.Errorf("the same spec built at the same time gave %s and %s", digests[0], digests[1])
	}
	if digests[0] == digests[2] || digests[2] == digests[3] {
		t.Errorf("different specs gave the same image: %v", digests)
	}
}

// TestRegistryGoneDuringPush kills the registry while the image is being
// pushed: the build fails with an error naming the registry, and once the
// registry is back the same push succeeds.
func TestRegistryGoneDuringPush(t *testing.T) {
	testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	own := ownStack(t, testenv.Options{})
	dir := own.SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
	ref := own.RegistryAddr + "/nix-image/push-test:latest"
	args := append(m.BuildctlOpts(), "--output", "type=image,name="+ref+",push=true")

	var once sync.Once
	killed := make(chan error, 1)
	res, err := own.BuildWatch(ctx, dir, testenv.SpecFile, func(event string) {
		if strings.HasPrefix(event, "pushing layers") {
			once.Do(func() { killed <- own.KillRegistry() })
		}
	}, args...)
	select {
	case kerr := <-killed:
		if kerr != nil {
			t.Fatalf("killing the registry: %v", kerr)
		}
	default:
		t.Fatalf("the build never pushed (err %v):\n%s", err, res.Stderr)
	}
	if err == nil {
		t.Fatal("the push succeeded although the registry was killed")
	}
	if !strings.Contains(res.Stderr, own.RegistryAddr) {
		t.Errorf("the error does not name the registry %s:\n%s", own.RegistryAddr, res.Stderr)
	}
	if err := own.RestartRegistry(ctx); err != nil {
		t.Fatalf("restarting the registry: %v", err)
	}
	if res, err := own.BuildSpec(ctx, dir, args...); err != nil {
		t.Fatalf("the push after the registry came back: %v\n%s", err, res.Stderr)
	}
	// The registry has the whole image: its manifest and every blob.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+own.RegistryAddr+"/v2/nix-image/push-test/manifests/latest", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", ocispecs.MediaTypeImageManifest+", "+ocispecs.MediaTypeImageIndex)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var man ocispecs.Manifest
	if err := json.NewDecoder(resp.Body).Decode(&man); err != nil || resp.StatusCode != http.StatusOK || len(man.Layers) == 0 {
		t.Fatalf("GET the pushed manifest: %s, %v, %d layers", resp.Status, err, len(man.Layers))
	}
	for _, l := range man.Layers {
		head, err := http.Head("http://" + own.RegistryAddr + "/v2/nix-image/push-test/blobs/" + l.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		head.Body.Close()
		if head.StatusCode != http.StatusOK {
			t.Errorf("layer %s of the pushed image: %s", l.Digest, head.Status)
		}
	}
}
