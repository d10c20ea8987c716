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

// TestBuildkitdKilled kills buildkitd with SIGKILL (and its build steps
// with it) at several points of a cold build, restarts it on the same
// state directory, and builds the same spec again: the build must succeed
// and its image pass `nix-store --verify --check-contents`. Each point
// has a cache namespace of its own, so that the first build is cold and
// reaches it, and an epoch of its own, so that its realise step runs.
func TestBuildkitdKilled(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	logHas := func(s string) func(*testenv.Progress) bool {
		return func(p *testenv.Progress) bool {
			for _, l := range p.Logs {
				if strings.Contains(string(l.Data), s) {
					return true
				}
			}
			return false
		}
	}
	points := []struct {
		name  string
		until func(*testenv.Progress) bool
		delay time.Duration
		// notYet is log output of the next phase: the kill must come
		// before it.
		notYet string
	}{
		{"while unpacking the release", logHas("unpacking the Nix release"), 0, "copying path '"},
		{"while substituting", logHas("copying path '"), 0, "nixpkgs-channel.drv"},
		{"while writing the layer trees", logHas("copying the closure's store paths out of the cache"), 100 * time.Millisecond, "checked them against their registered NAR hashes"},
		{"while exporting", func(p *testenv.Progress) bool {
			for _, v := range p.Vertices {
				if strings.HasPrefix(v.Name, "exporting") && v.Started != nil {
					return true
				}
			}
			return false
		}, 0, ""},
	}
	spec := exampleSpec(t, "default")
	for i, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			// BuildKit leaves cache mount ids out of cache keys: another
			// epoch makes the realise step run again.
			opts := append(m.BuildctlOpts(),
				"--opt", fmt.Sprintf("build-arg:BUILDKIT_CACHE_MOUNT_NS=killed-%d-%d", i, time.Now().UnixNano()),
				"--opt", fmt.Sprintf("build-arg:SOURCE_DATE_EPOCH=%d", time.Now().Unix()+int64(i)))
			dir := e.SpecContext(t, spec, nil)
			out := filepath.Join(t.TempDir(), "img.tar")
			prog, err := e.BuildUntil(ctx, dir, testenv.SpecFile, pt.until, pt.delay, append(opts, "--output", "type=oci,dest="+out)...)
			// Whatever happened, the next tests need a daemon.
			if rerr := e.RestartBuildkitd(ctx); rerr != nil {
				t.Fatal(rerr)
			}
			if err != nil {
				t.Fatalf("killing buildkitd %s: %v\n%s", pt.name, err, tailLines(prog.Output(""), 20))
			}
			if log := prog.Output(""); pt.notYet != "" && strings.Contains(log, pt.notYet) {
				t.Fatalf("buildkitd was killed too late: the log already has %q:\n%s", pt.notYet, tailLines(log, 10))
			} else {
				t.Logf("killed after: %s", tailLines(log, 1))
			}
			res, err := e.BuildSpec(ctx, dir, append(opts, "--output", "type=oci,dest="+out)...)
			if err != nil {
				t.Fatalf("build after the restart: %v\n%s", err, tailLines(res.Progress.Output(""), 30))
			}
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			cfg, err := testenv.UnpackOCI(out, rootfs)
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c",
				"nix-store --verify --check-contents 2>&1 && nix --version && echo '{\"a\":7}' | jq .a"}})
			if err != nil || strings.Contains(stdout, "was modified") || !strings.Contains(stdout, "7") {
				t.Errorf("in the image: %v\n%s\n%s", err, stdout, stderr)
			}
		})
	}
}
