package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nix-image/nix-image/internal/testenv"
)

// A round: its phases on two fresh stacks (cold, no-change and add-one
// builds on the first; cold builds from an emptied cache, with the base
// spec's registry cache and the cross-platform pair on the second), the
// stack it runs on and what it measured (sample, roundExtra).

// round is one cold/no-change/add-one round on a fresh stack.
type round struct {
	n    int
	env  *testenv.Env
	pid  int // the env's buildkitd
	reg  registry
	base string // the base image's ref
	// syntaxRef is BuildKit's Dockerfile frontend image in the registry.
	syntaxRef string
}

// sample is what one round measured for one way.
type sample struct {
	Digest             string    `json:"digest"`
	ColdBaseBuiltS     float64   `json:"cold_base_built_s"`
	ColdBaseBuiltCPU   float64   `json:"cold_base_built_cpu_s"`
	Load               float64   `json:"loadavg_after_cold"`
	NochangeS          float64   `json:"nochange_s"`
	NochangeCPU        float64   `json:"nochange_cpu_s"`
	NochangeRuns       []float64 `json:"nochange_runs_s"`
	NochangeOps        int       `json:"nochange_ops_executed"`
	NochangeOpNames    []string  `json:"nochange_ops,omitempty"`
	Add1S              float64   `json:"add1_s"`
	Add1CPU            float64   `json:"add1_cpu_s"`
	Add1NewBytes       int64     `json:"add1_new_bytes"`
	Add1ReusedRatio    float64   `json:"add1_reused_bytes_ratio"`
	Add1AllowanceBytes int64     `json:"add1_new_paths_and_system_layers_bytes"`
	Layers             int       `json:"layers"`
	CompressedBytes    int64     `json:"compressed_bytes"`
	ImageBytes         int64     `json:"image_bytes"`
	ImageFileBytes     int64     `json:"image_file_bytes"`
	ClosureBytes       int64     `json:"closure_bytes"`
	LocalPaths         []string  `json:"closure_paths_not_in_cache,omitempty"`
	// ChannelMissing says what of the nixpkgs channel the image lacks
	// ("" when it ships it).
	ChannelMissing string `json:"channel_missing,omitempty"`
	// ColdBaseBuiltSteps are the longest steps of the cold build, where its time
	// went.
	ColdBaseBuiltSteps []step `json:"cold_base_built_slowest_steps"`
	// The cold build again, on a stack whose build cache was emptied after
	// the base image was built (see emptyCache).
	ColdEmptyS   float64 `json:"cold_s"`
	ColdEmptyCPU float64 `json:"cold_cpu_s"`
	// ColdVerifyCPU is ours's CPU time checking the store paths against
	// their NAR hashes in that build.
	ColdVerifyCPU   float64 `json:"cold_verify_cpu_s,omitempty"`
	ColdEmptyDigest string  `json:"cold_digest"`
	ColdEmptySteps  []step  `json:"cold_slowest_steps"`
	// Ours's cold build again from an empty daemon, with the registry
	// cache of the base spec (ours only).
	ColdCacheFromS      float64 `json:"cold_cache_from_s,omitempty"`
	ColdCacheFromCPU    float64 `json:"cold_cache_from_cpu_s,omitempty"`
	ColdCacheFromDigest string  `json:"cold_cache_from_digest,omitempty"`

	info *imageInfo // the cold image, for the reproducibility diff
}

// roundExtra is what a round measured besides the ways: the floor of a
// cold build of ours's image, the syntax_dockerfile builds and the
// cross-platform pair.
type roundExtra struct {
	Floor  floorResult  `json:"floor"`
	Syntax syntaxSample `json:"syntax_dockerfile"`
	Cross  crossSample  `json:"cross"`
}

// syntaxSample is one round of syntax_dockerfile: its cold build (on the
// daemon that built flat, so mostly from its cache: not a figure to
// compare) and its no-change rebuild.
type syntaxSample struct {
	ColdBaseBuiltS float64   `json:"cold_base_built_s"`
	NochangeS      float64   `json:"nochange_s"`
	NochangeCPU    float64   `json:"nochange_cpu_s"`
	NochangeRuns   []float64 `json:"nochange_runs_s"`
	NochangeOps    []string  `json:"nochange_ops,omitempty"`
}

// round runs one round: on a fresh stack, the cold builds, no-change
// rebuilds and add-one builds of the ways (each phase runs them in turn, starting with a different way each round, so that no way always
// runs first on a fresh daemon); then, on another fresh stack, the cold
// builds again from an empty build cache.
func (b *bench) round(ctx context.Context, n int) (map[string]*sample, *roundExtra, error) {
	got := map[string]*sample{}
	extra := &roundExtra{}
	k := (n - 1) % len(b.ways)
	ways := append(slices.Clone(b.ways[k:]), b.ways[:k]...)
	err := b.withStack(ctx, n, func(r *round) error {
		if err := b.buildBase(ctx, r); err != nil {
			return err
		}
		for _, w := range ways {
			d, vs, err := b.build(ctx, r, w, b.pkgs, r.ref(w, "v1"))
			if err != nil {
				return fmt.Errorf("%s cold: %w", w.name, err)
			}
			got[w.name] = &sample{ColdBaseBuiltS: d.wall, ColdBaseBuiltCPU: d.cpu, Load: loadavg(), ColdBaseBuiltSteps: slowest(vs, 6)}
			b.logf("round %d: %-6s cold      %6.1f s, %6.1f CPU s", n, w.name, d.wall, d.cpu)
		}
		for _, w := range ways {
			if err := b.describe(ctx, r, w, got[w.name]); err != nil {
				return fmt.Errorf("%s: reading the image back: %w", w.name, err)
			}
			if err := b.runImage(ctx, r, w, "v1"); err != nil {
				return err
			}
		}
		if err := b.floor(ctx, r, got["ours"], extra); err != nil {
			return err
		}
		for _, w := range ways {
			d, err := b.nochange(ctx, r, w)
			if err != nil {
				return err
			}
			s := got[w.name]
			s.NochangeS, s.NochangeCPU, s.NochangeRuns = d.wall, d.cpu, d.runs
			s.NochangeOpNames = d.ops
			s.NochangeOps = len(s.NochangeOpNames)
			b.logf("round %d: %-6s no-change %6.2f s (median of %v), %6.2f CPU s, %d ops executed", n, w.name, d.wall, d.runs, d.cpu, s.NochangeOps)
		}
		if err := b.syntaxDockerfile(ctx, r, extra); err != nil {
			return err
		}
		for _, w := range ways {
			if err := b.addOne(ctx, r, w, got[w.name], r.ref(w, "v1"), r.ref(w, "add1")); err != nil {
				return fmt.Errorf("%s add-one: %w", w.name, err)
			}
			if err := b.runImage(ctx, r, w, "add1"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = b.withStack(ctx, n, func(r *round) error {
		// The base spec's cache goes to the registry, as a CI runner's
		// previous run of the spec before its packages were added left
		// it: the counterpart of the baselines' prebuilt base image.
		if _, _, err := b.build(ctx, r, b.ways[0], nil, r.base, "--export-cache", "type=registry,ref="+r.cacheRef()+",mode=max"); err != nil {
			return fmt.Errorf("base image: %w", err)
		}
		if err := b.emptyCache(ctx, r); err != nil {
			return err
		}
		for _, w := range ways {
			d, p, err := b.build(ctx, r, w, b.pkgs, r.ref(w, "v1"))
			if err != nil {
				return fmt.Errorf("%s cold from an empty cache: %w", w.name, err)
			}
			if w.name == "ours" {
				if err := checkUnpacked(p); err != nil {
					return fmt.Errorf("ours cold from an empty cache: %w", err)
				}
			}
			s := got[w.name]
			if w.name == "ours" {
				v, ok := verifyCPU(p)
				if !ok {
					return errors.New("ours cold from an empty cache: the realise step did not log its store path check")
				}
				s.ColdVerifyCPU = v
			}
			s.ColdEmptyS, s.ColdEmptyCPU, s.ColdEmptySteps = d.wall, d.cpu, slowest(p, 6)
			if s.ColdEmptyDigest, _, err = r.reg.image(ctx, "bench/"+w.name, "v1"); err != nil {
				return err
			}
			b.logf("round %d: %-7s cold, empty cache %6.1f s, %6.1f CPU s", n, w.name, d.wall, d.cpu)
		}
		// Ours again from an empty daemon, with the base spec's registry
		// cache.
		if err := b.emptyCache(ctx, r); err != nil {
			return err
		}
		d, p, err := b.build(ctx, r, b.ways[0], b.pkgs, r.ref(b.ways[0], "cachefrom"), "--import-cache", "type=registry,ref="+r.cacheRef())
		if err != nil {
			return fmt.Errorf("ours cold with the base spec's cache: %w", err)
		}
		if err := checkUnpacked(p); err != nil {
			return fmt.Errorf("ours cold with the base spec's cache: %w", err)
		}
		s := got["ours"]
		s.ColdCacheFromS, s.ColdCacheFromCPU = d.wall, d.cpu
		if s.ColdCacheFromDigest, _, err = r.reg.image(ctx, "bench/ours", "cachefrom"); err != nil {
			return err
		}
		b.logf("round %d: ours    cold, base spec's cache %6.1f s, %6.1f CPU s", n, d.wall, d.cpu)
		extra.Cross, err = b.crossPlatform(ctx, r)
		return err
	})
	return got, extra, err
}

// stateFSBytes bounds a stack's buildkitd state (a sparse file: only what
// is written takes room); a round's stack holds every way's images and
// caches, about 10 GB at real size.
const stateFSBytes = 48 << 30

// withStack runs f on a fresh buildkitd and registry and stops them.
func (b *bench) withStack(ctx context.Context, n int, f func(r *round) error) (retErr error) {
	b.logf("round %d/%d: starting a fresh buildkitd and registry", n, b.runs)
	// buildkitd's state on a file system of its own, new for every
	// stack: on this machine's root file system, creating files soon
	// after deleting many (a prune, the previous stack's removal) costs
	// up to six times the system time (testenv.Options.StateFS), which
	// would time the bench's own deletions, not the builds.
	env, err := testenv.StartWith(ctx, testenv.Options{StateFS: stateFSBytes})
	if err != nil {
		return fmt.Errorf("starting the stack: %w", err)
	}
	defer func() {
		if retErr != nil {
			fmt.Fprintf(os.Stderr, "daemon logs:\n%s", env.LogTail(30))
		}
		if err := env.Stop(); err != nil && retErr == nil {
			retErr = fmt.Errorf("stopping the stack: %w", err)
		}
	}()
	return f(&round{n: n, env: env, pid: env.BuildkitdPID(), reg: registry{addr: env.RegistryAddr}, base: env.RegistryAddr + "/bench/base:latest"})
}

// ref names the image of way w in the round's registry.
func (r *round) ref(w way, tag string) string {
	return r.env.RegistryAddr + "/bench/" + w.name + ":" + tag
}

// cacheRef is where the base spec's build cache goes in the registry.
func (r *round) cacheRef() string {
	return r.env.RegistryAddr + "/bench/cache:base"
}

// buildBase builds and pushes the base image: the spec of ours without
// packages.
func (b *bench) buildBase(ctx context.Context, r *round) error {
	if _, _, err := b.build(ctx, r, b.ways[0], nil, r.base); err != nil {
		return fmt.Errorf("base image: %w", err)
	}
	return nil
}

// floor times the floor of a cold build of ours's image (floor.go), on
// an idle daemon.
func (b *bench) floor(ctx context.Context, r *round, ours *sample, extra *roundExtra) error {
	jobs, skipped, err := floorJobs(ours.info, filepath.Join(b.mirror.Dir, "cache"), b.nixpkgsTarball, b.nixpkgs.Bytes)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	if extra.Floor, err = runFloor(ctx, jobs); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	extra.Floor.Skipped = skipped
	b.logf("round %d: floor          %6.1f s: %d paths, %d tar bytes, %d gzip bytes (%d paths built in the build left out)",
		r.n, extra.Floor.Seconds, extra.Floor.Paths, extra.Floor.TarBytes, extra.Floor.GzBytes, len(skipped))
	return nil
}

// syntaxDockerfile builds flat's Dockerfile through BuildKit's Dockerfile
// frontend as a gateway image (syntax.go), then again with no change.
func (b *bench) syntaxDockerfile(ctx context.Context, r *round, extra *roundExtra) error {
	var err error
	if r.syntaxRef, err = b.pushDockerfileFrontend(ctx, r); err != nil {
		return err
	}
	i := slices.IndexFunc(b.ways, func(w way) bool { return w.name == "flat" })
	w := syntaxWay(b.ways[i])
	d, _, err := b.build(ctx, r, w, b.pkgs, r.ref(w, "v1"))
	if err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	extra.Syntax.ColdBaseBuiltS = d.wall
	n, err := b.nochange(ctx, r, w)
	if err != nil {
		return err
	}
	extra.Syntax.NochangeS, extra.Syntax.NochangeCPU, extra.Syntax.NochangeRuns, extra.Syntax.NochangeOps = n.wall, n.cpu, n.runs, n.ops
	b.logf("round %d: %s no-change %6.2f s (median of %v), %6.2f CPU s, %d ops executed", r.n, w.name, n.wall, n.runs, n.cpu, len(n.ops))
	return nil
}

// runImage runs `nix --version` once in w's image tag, pulled from the
// registry: a broken image is not measured.
func (b *bench) runImage(ctx context.Context, r *round, w way, tag string) error {
	tar := filepath.Join(b.tmp, w.name+"-"+tag+".oci.tar")
	defer os.Remove(tar)
	if _, err := testenv.PullOCI(ctx, r.env.RegistryAddr, "bench/"+w.name, tag, tar); err != nil {
		return fmt.Errorf("%s:%s: %w", w.name, tag, err)
	}
	stdout, stderr, err := r.env.Run(ctx, testenv.RunSpec{Image: tar, Args: []string{"nix", "--version"}})
	if err != nil || !strings.HasPrefix(stdout, "nix (Nix) ") {
		return fmt.Errorf("%s:%s: nix --version: %q, %v\n%s", w.name, tag, stdout, err, stderr)
	}
	return nil
}
