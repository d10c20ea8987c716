package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// One build of a way and what it cost: its build context, the buildctl
// invocation, the wall time and buildkitd's CPU time (cpu.go).

// timing is the cost of one build.
type timing struct {
	wall float64 // seconds
	cpu  float64 // CPU seconds of buildkitd and its children (cpuSeconds)
}

// build writes w's build context for pkgs and builds it with buildctl
// (the Dockerfile frontend, which forwards a nix-image.yaml to the frontend
// its `# syntax=` line names), pushing ref unless ref is "". It returns the
// wall time of the build and push in seconds, and the build's vertices.
func (b *bench) build(ctx context.Context, r *round, w way, pkgs []string, ref string, extra ...string) (timing, *testenv.Progress, error) {
	dir, err := os.MkdirTemp(b.tmp, w.name+"-")
	if err != nil {
		return timing{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, w.file), []byte(w.content(r, pkgs)), 0o644); err != nil {
		return timing{}, nil, err
	}
	// The disk first writes out what earlier builds, prunes and
	// read-backs left dirty (hundreds of MB of images, tens of thousands
	// of nixpkgs files), so that a build pays for its own writes only.
	syscall.Sync()
	cpu0, err := cpuSeconds(r.pid)
	if err != nil {
		return timing{}, nil, err
	}
	// Not testenv's Build: it parses the progress before it returns, and
	// the wall time would include that.
	args := testenv.BuildctlArgs(dir, w.file, w.args(r)...)
	if ref != "" {
		args = append(args, "--output", "type=image,name="+ref+",push=true")
	}
	args = append(args, extra...)
	start := time.Now()
	_, stderr, err := r.env.Buildctl(ctx, args...)
	took := timing{wall: round2(time.Since(start).Seconds())}
	cpu1, cerr := cpuSeconds(r.pid)
	if cerr != nil {
		return took, nil, cerr
	}
	took.cpu = round2(cpu1 - cpu0)
	p, rest := testenv.ParseProgress(stderr)
	if err != nil {
		msgs := strings.Split(rest, "\n")
		return took, nil, fmt.Errorf("%w\n%s", err, strings.Join(msgs[max(0, len(msgs)-30):], "\n"))
	}
	if b.verbose {
		for _, v := range p.Vertices {
			var at, took time.Duration
			if v.FirstStarted != nil && v.Completed != nil {
				at, took = v.FirstStarted.Sub(start), v.Completed.Sub(*v.FirstStarted)
			}
			fmt.Fprintf(os.Stderr, "    ran=%-5v cached=%-5v starts=%d at %6.2fs took %6.2fs %s\n",
				v.Ran(), v.Cached, v.Starts(), at.Seconds(), took.Seconds(), v.Name)
		}
	}
	return took, p, nil
}
