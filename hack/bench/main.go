// Command bench is `make bench`: it builds the same packages four ways on
// a private buildkitd and registry (internal/testenv) against the offline
// Nix mirror (internal/mirror), side by side, and prints and writes
// (bench/results.json) what users of Nix images pay for: cold, no-change
// and add-one-package build times, the bytes a push of the changed image
// uploads, layer reuse, image sizes and reproducibility. It exits non-zero
// when a target is missed (after printing the table and the targets).
//
// The package set is the mirror's real-size one by default
// (nixpkgs-real.tar.gz: about 45,000 files, 230 MB, as nixpkgs), every
// image shipping it as root's nixpkgs channel; -nixpkgs small uses the
// 2 MB one (same packages, same closures) for a quick run.
//
// The four ways:
//   - ours: a nix-image.yaml through the nix-image frontend (`# syntax=`);
//   - flat: a multi-stage Dockerfile, a Nix stage FROM the base image
//     realising the image's packages with nix-env and copying their
//     closure out, then FROM scratch + one COPY of it (one layer). The
//     packages are all those ours puts in its image: the system profile's
//     (Nix, bash, coreutils, ...) and the benchmarked ones, so that the
//     images hold the same closure;
//   - nixenv: a Dockerfile FROM the base image + RUN nix-env -iA (the
//     add-one build changes that line: everything re-runs);
//   - nixenv2: the same, the add-one package installed by a second RUN
//     nix-env -iA line (only that layer is new).
//
// flat copies the channel out of the base image too (its store paths and
// /root/.nix-defexpr/channels with the profile links it goes through);
// the nixenv ways have it from their base image.
//
// Two more figures, in the same rounds: floor_s, the least work of a cold
// build (floor.go: the image's NARs decompressed from the mirror's cache,
// the nixpkgs tree from its tarball, each path tarred, gzipped and hashed
// on every core, nothing else), and syntax_dockerfile (syntax.go): flat's
// Dockerfile through a `# syntax=` gateway image of BuildKit's own
// Dockerfile frontend, whose no-change rebuild pays the same frontend
// container start as ours; and the cross-platform pair (cross.go):
// ours's spec cold for linux/amd64 and linux/arm64 on the amd64 daemon
// (arm64_cold_s, amd64_cold_s).
//
// The base image is our minimal image (no packages: Nix and the system
// profile), built and pushed, untimed, on every fresh stack. Each round
// uses two fresh stacks (buildkitd + registry): on the first, after the
// base image, the cold builds (cold_base_built_s: the daemon holds the
// base image and, for ours, the build cache of the base spec, so every way
// starts from Nix and the system profile already built), the no-change
// rebuilds and the add-one builds; on the second, the base image is pushed
// and its build cache exported to the registry, then the whole build cache
// is pruned (checked: `buildctl du` lists nothing, not even the /nix cache
// mount, and ours's realise step unpacks the Nix release again) and the
// cold builds run from that empty daemon state (cold_s, the issue's
// definition): every input is pulled from the registry or the mirror.
// Then, pruned again, ours once more with --import-cache of the base
// spec's registry cache (cold_cache_from_s): the baselines' base image is
// prebuilt in a registry, as nixos/nix is, and a CI runner has the cache
// of the spec's previous run. Every image built is pulled back and runs
// `nix --version` once.
//
// Usage: go run ./hack/bench [-runs 3] [-nixpkgs real|small] [-out FILE] [-v]
// [-only cross].
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nix-image/nix-image/internal/mirror"
	"github.com/nix-image/nix-image/internal/testenv"
)

func main() {
	runs := flag.Int("runs", 3, "cold/no-change/add-one rounds (each compares three cold builds on fresh daemons); times are medians")
	out := flag.String("out", "bench/results.json", "results file (relative to the repository root)")
	pkgs := flag.String("packages", "curl git hello", "nixpkgs attributes of the benchmarked image")
	add := flag.String("add", "jq", "the attribute the add-one rebuild adds")
	verbose := flag.Bool("v", false, "list the vertices each no-change rebuild executed")
	// A real-size round takes about 45 minutes on 2 cores (2026-12-01),
	// most of it reading, pulling, running and pruning 400 MB images of
	// 45,000 files.
	timeout := flag.Duration("timeout", 4*time.Hour, "give up after this long")
	size := flag.String("nixpkgs", "real", "the package set: real (nixpkgs-real.tar.gz, nixpkgs' size) or small (nixpkgs.tar.gz, same packages)")
	only := flag.String("only", "", "cross: run only the cross-platform pair (ours cold for linux/amd64 and linux/arm64), print it and write no results file")
	flag.Parse()
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 1")
		os.Exit(2)
	}
	if *size != "real" && *size != "small" {
		fmt.Fprintln(os.Stderr, "bench: -nixpkgs must be real or small")
		os.Exit(2)
	}
	if *only != "" && *only != "cross" {
		fmt.Fprintln(os.Stderr, "bench: -only must be cross")
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, *timeout)
	defer cancelT()
	b := &bench{
		runs:    *runs,
		pkgs:    strings.Fields(*pkgs),
		add1:    append(strings.Fields(*pkgs), strings.Fields(*add)...),
		verbose: *verbose,
		size:    *size,
		only:    *only,
	}
	targets, err := b.main(ctx, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	if m := missed(targets); len(m) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d targets missed: %s\n", len(m), strings.Join(m, "; "))
		os.Exit(1)
	}
}

type bench struct {
	runs    int
	pkgs    []string
	add1    []string
	verbose bool
	size    string // "real" or "small"
	only    string // "cross": only the cross-platform pair

	root   string
	tmp    string
	mirror *mirror.Mirror
	// nixpkgs is the package set of every image (its channel).
	nixpkgs mirror.Nixpkgs
	// nixpkgsTarball is its file in the mirror.
	nixpkgsTarball string
	ways           []way
	// frontendDir is the build context of BuildKit's Dockerfile frontend
	// image (syntax.go).
	frontendDir string
}

// main runs the rounds, prints the table and the targets, writes the
// results file and returns the targets.
func (b *bench) main(ctx context.Context, out string) ([]target, error) {
	var err error
	if b.root, err = testenv.RepoRoot(); err != nil {
		return nil, err
	}
	if b.tmp, err = os.MkdirTemp("", "nix-image-bench-"); err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	defer os.RemoveAll(b.tmp)
	if b.mirror, err = mirror.Start(ctx, b.root); err != nil {
		return nil, fmt.Errorf("offline mirror: %w", err)
	}
	defer b.mirror.Close()
	b.nixpkgs, b.nixpkgsTarball = b.mirror.RealNixpkgs, b.mirror.Vars["NIXPKGS_REAL_TARBALL"]
	if b.size == "small" {
		b.nixpkgs, b.nixpkgsTarball = b.mirror.Nixpkgs, b.mirror.Vars["NIXPKGS_TARBALL"]
	}
	b.nixpkgsTarball = filepath.Join(b.mirror.Dir, b.nixpkgsTarball)
	b.ways = b.defineWays()
	if b.only == "cross" {
		return b.crossOnly(ctx)
	}
	if b.frontendDir, err = b.buildDockerfileFrontend(ctx); err != nil {
		return nil, err
	}
	mach, err := machineInfo(ctx, b.root)
	if err != nil {
		return nil, err
	}

	started := time.Now()
	samples := map[string][]*sample{}
	var extras []*roundExtra
	var reproDiffs []string
	diffed := map[string]bool{} // ways whose cold images were compared file by file
	for n := 1; n <= b.runs; n++ {
		got, extra, err := b.round(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", n, err)
		}
		extras = append(extras, extra)
		for _, w := range b.ways {
			s := got[w.name]
			if prev := samples[w.name]; len(prev) > 0 && prev[0].Digest != s.Digest && !diffed[w.name] {
				diffed[w.name] = true
				reproDiffs = append(reproDiffs, w.name+": round 1 "+prev[0].Digest+" vs round "+strconv.Itoa(n)+" "+s.Digest)
				for _, line := range diffImages(prev[0].info, s.info, 40) {
					reproDiffs = append(reproDiffs, "  "+line)
				}
			}
			if s.ColdEmptyDigest != s.Digest {
				reproDiffs = append(reproDiffs, fmt.Sprintf("%s: round %d: %s after an emptied cache vs %s", w.name, n, s.ColdEmptyDigest, s.Digest))
			}
			if s.ColdCacheFromDigest != "" && s.ColdCacheFromDigest != s.Digest {
				reproDiffs = append(reproDiffs, fmt.Sprintf("%s: round %d: %s with the base spec's cache vs %s", w.name, n, s.ColdCacheFromDigest, s.Digest))
			}
			if n > 1 {
				s.info = nil // only round 1's is compared against
			}
			samples[w.name] = append(samples[w.name], s)
		}
	}

	results := map[string]*metrics{}
	for _, w := range b.ways {
		results[w.name] = summarize(samples[w.name])
	}
	wide := summarizeExtras(extras)
	targets := b.targets(results, samples, wide)
	mach.LoadavgEnd = loadavg()
	b.print(mach, results, wide, targets, reproDiffs, time.Since(started))

	doc := map[string]any{
		"machine": mach,
		"packages": map[string]any{
			"packages":      b.pkgs,
			"add1_packages": b.add1,
			"base":          "the nix-image.yaml of ours with no packages (system profile only)",
			// What each image holds: flat realises this list itself.
			"image_packages": b.imagePackages(b.pkgs),
		},
		"scale": map[string]any{
			"nixpkgs":       b.size,
			"nixpkgs_files": b.nixpkgs.Files,
			"nixpkgs_bytes": b.nixpkgs.Bytes,
			"closure_bytes": results["ours"].ClosureBytes,
		},
		"floor_s": wide.FloorS,
		// ours's spec cold for each platform on the amd64 daemon
		// (cross.go).
		"amd64_cold_s": wide.AMD64ColdS,
		"arm64_cold_s": wide.ARM64ColdS,
		"syntax_dockerfile": map[string]any{
			"nochange_s":            wide.SyntaxNochangeS,
			"nochange_ops_executed": wide.SyntaxNochangeOps,
			"cold_base_built_s":     wide.SyntaxColdS,
		},
		"runs":             b.runs,
		"total_s":          round2(time.Since(started).Seconds()),
		"targets":          targets,
		"not_reproducible": reproDiffs,
		"samples":          samples,
		"round_samples":    extras,
	}
	for name, m := range results {
		doc[name] = m
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	p := out
	if !filepath.IsAbs(p) {
		p = filepath.Join(b.root, out)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	fmt.Printf("\nwrote %s\n", p)
	return targets, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}
