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
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nix-image/nix-image/internal/mirror"
	"github.com/nix-image/nix-image/internal/testenv"
	"github.com/nix-image/nix-image/spec"
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

// missed names the targets that failed, leaving out the informational
// ones (named "(extra) ...").
func missed(targets []target) []string {
	var out []string
	for _, t := range targets {
		if !t.Pass && !strings.HasPrefix(t.Name, "(extra)") {
			out = append(out, t.Name)
		}
	}
	return out
}

// way is one way of building an image with the packages.
type way struct {
	name string
	file string // the file the build context holds and buildctl builds
	// content returns that file for a package list.
	content func(r *round, pkgs []string) string
	// args are the buildctl options besides the output.
	args func(r *round) []string
}

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

// timing is the cost of one build.
type timing struct {
	wall float64 // seconds
	cpu  float64 // CPU seconds of buildkitd and its children (cpuSeconds)
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

// sample is what one round measured for one way.
type sample struct {
	Digest             string   `json:"digest"`
	ColdBaseBuiltS     float64  `json:"cold_base_built_s"`
	ColdBaseBuiltCPU   float64  `json:"cold_base_built_cpu_s"`
	Load               float64  `json:"loadavg_after_cold"`
	NochangeS          float64  `json:"nochange_s"`
	NochangeCPU        float64  `json:"nochange_cpu_s"`
	NochangeOps        int      `json:"nochange_ops_executed"`
	NochangeOpNames    []string `json:"nochange_ops,omitempty"`
	Add1S              float64  `json:"add1_s"`
	Add1CPU            float64  `json:"add1_cpu_s"`
	Add1NewBytes       int64    `json:"add1_new_bytes"`
	Add1ReusedRatio    float64  `json:"add1_reused_bytes_ratio"`
	Add1AllowanceBytes int64    `json:"add1_new_paths_and_system_layers_bytes"`
	Layers             int      `json:"layers"`
	CompressedBytes    int64    `json:"compressed_bytes"`
	ImageBytes         int64    `json:"image_bytes"`
	ImageFileBytes     int64    `json:"image_file_bytes"`
	ClosureBytes       int64    `json:"closure_bytes"`
	LocalPaths         []string `json:"closure_paths_not_in_cache,omitempty"`
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

// metrics are a way's results: the keys of issue 5, plus image_file_bytes.
type metrics struct {
	ColdBaseBuiltS       float64 `json:"cold_base_built_s"`
	ColdBaseBuiltCPU     float64 `json:"cold_base_built_cpu_s"`
	ColdEmptyS           float64 `json:"cold_s"`
	ColdEmptyCPU         float64 `json:"cold_cpu_s"`
	ColdVerifyCPU        float64 `json:"cold_verify_cpu_s,omitempty"`
	ColdCacheFromS       float64 `json:"cold_cache_from_s,omitempty"`
	ColdCacheFromCPU     float64 `json:"cold_cache_from_cpu_s,omitempty"`
	NochangeS            float64 `json:"nochange_s"`
	NochangeCPU          float64 `json:"nochange_cpu_s"`
	NochangeOpsExecuted  int     `json:"nochange_ops_executed"`
	Add1S                float64 `json:"add1_s"`
	Add1CPU              float64 `json:"add1_cpu_s"`
	Add1NewBytes         int64   `json:"add1_new_bytes"`
	Add1ReusedBytesRatio float64 `json:"add1_reused_bytes_ratio"`
	Layers               int     `json:"layers"`
	ImageBytes           int64   `json:"image_bytes"`
	ImageFileBytes       int64   `json:"image_file_bytes"`
	ClosureBytes         int64   `json:"closure_bytes"`
	Reproducible         bool    `json:"reproducible"`
}

type target struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

type machine struct {
	Nproc       int    `json:"nproc"`
	MemoryBytes int64  `json:"memory"` // bytes (MemTotal)
	Kernel      string `json:"kernel"`
	Date        string `json:"date"` // when the run started
	// The 1-minute load average when the run started and ended: other
	// work on the machine slows the wall times (not the CPU times).
	LoadavgStart float64 `json:"loadavg_start"`
	LoadavgEnd   float64 `json:"loadavg_end"`
	// Commit is the checked-out commit the frontend was built from;
	// Modified lists the files that differed from it.
	Commit   string   `json:"commit"`
	Modified []string `json:"modified,omitempty"`
}

// main runs the rounds, prints the table and the targets, writes the
// results file and returns the targets.
func (b *bench) main(ctx context.Context, out string) ([]target, error) {
	var err error
	if b.root, err = repoRoot(); err != nil {
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

// defineWays returns the ways, in the order each phase runs them.
func (b *bench) defineWays() []way {
	epoch := []string{"--opt", "build-arg:SOURCE_DATE_EPOCH=0"}
	dockerfileArgs := func(*round) []string { return epoch }
	return []way{
		{
			name: "ours",
			file: testenv.SpecFile,
			content: func(r *round, pkgs []string) string {
				return "# syntax=" + r.env.FrontendRef + "\n" + b.spec(pkgs)
			},
			args: func(*round) []string { return append(b.mirror.BuildctlOptsWith(b.nixpkgs), epoch...) },
		},
		{
			name: "flat",
			file: "Dockerfile",
			content: func(r *round, pkgs []string) string {
				// What a user writes to get one layer holding a Nix
				// closure: realise it in a Nix stage, copy the closure
				// (and a link to the profile) out, COPY it into scratch.
				// It realises what ours's image holds (the system
				// profile's packages too), so that it gets the same
				// closure, and copies the base image's nixpkgs channel:
				// its closure and the links from ~/.nix-defexpr/channels
				// to it (profiles, generation links), up to the store.
				return fmt.Sprintf(`FROM %s AS nix
RUN nix-env -p /out-profile -iA %s \
 && mkdir -p /out \
 && cp -a --parents $(nix-store -qR /out-profile %s) /out/ \
 && l=%s && while [ -L "$l" ] && [ "${l#/nix/store/}" = "$l" ]; do \
      cp -a --parents "$l" /out/ && t=$(readlink "$l") && case "$t" in /*) l=$t ;; *) l=$(dirname "$l")/$t ;; esac; \
    done \
 && ln -s "$(readlink -f /out-profile)" /out/profile

FROM scratch
COPY --from=nix /out /
ENV PATH=/profile/bin
`, r.base, attrs(b.imagePackages(pkgs)), channelLink, channelLink)
			},
			args: dockerfileArgs,
		},
		{
			name: "nixenv",
			file: "Dockerfile",
			content: func(r *round, pkgs []string) string {
				return fmt.Sprintf("FROM %s\nRUN nix-env -iA %s\n", r.base, attrs(pkgs))
			},
			args: dockerfileArgs,
		},
		{
			// nixenv as the seed's users add a package without re-running
			// the first install: a second RUN line for the new packages
			// only, so that the add-one build adds one layer.
			name: "nixenv2",
			file: "Dockerfile",
			content: func(r *round, pkgs []string) string {
				return nixenvLines(r.base, b.pkgs, pkgs)
			},
			args: dockerfileArgs,
		},
	}
}

// channelLink is root's nixpkgs channel in every image.
const channelLink = "/root/.nix-defexpr/channels"

// nixenvLines is the Dockerfile of nixenv2 for pkgs: FROM base, one RUN
// nix-env -iA for the benchmarked packages first, another for the packages
// after them (the add-one package). Its ENV line only keeps BuildKit from
// taking nixenv's result for the first RUN line, the same command on the
// same daemon (the first bench run of nixenv2 measured a 0.4 s cache hit
// as its cold build).
func nixenvLines(base string, first, pkgs []string) string {
	n := min(len(first), len(pkgs))
	s := fmt.Sprintf("FROM %s\nENV NIX_IMAGE_BENCH_WAY=nixenv2\nRUN nix-env -iA %s\n", base, attrs(pkgs[:n]))
	if len(pkgs) > n {
		s += fmt.Sprintf("RUN nix-env -iA %s\n", attrs(pkgs[n:]))
	}
	return s
}

// spec is the nix-image.yaml of ours (without its syntax line): the system
// profile plus pkgs in root's profile, nothing else.
func (b *bench) spec(pkgs []string) string {
	s := fmt.Sprintf("nix: %s\nnixpkgs:\n  url: %s\n  sha256: %s\n", b.mirror.Vars["NIX_VERSION"], b.nixpkgs.URL, b.nixpkgs.SHA256)
	if len(pkgs) > 0 {
		s += "packages: [" + strings.Join(pkgs, ", ") + "]\n"
	}
	// system.nix: nixpkgs, so that the other ways, which can only
	// realise attributes of the package set, hold the same closure.
	return s + "system:\n  nix: nixpkgs\nimages:\n  default:\n    defaultPackages: false\n"
}

// imagePackages are the packages ours's image holds for pkgs: the system
// profile's, then root's profile's, as the frontend resolves the spec.
func (b *bench) imagePackages(pkgs []string) []string {
	s, err := spec.Parse(testenv.SpecFile, []byte(b.spec(pkgs)))
	if err != nil {
		panic(fmt.Sprintf("the bench's own spec: %v", err))
	}
	r, err := s.Resolve("default")
	if err != nil {
		panic(fmt.Sprintf("the bench's own spec: %v", err))
	}
	var all []string
	for _, p := range append(r.SystemPackages, r.Packages...) {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	return all
}

func attrs(pkgs []string) string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = "nixpkgs." + p
	}
	return strings.Join(out, " ")
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
			d, vs, err := b.build(ctx, r, w, b.pkgs, r.ref(w, "v1"))
			if err != nil {
				return fmt.Errorf("%s no-change rebuild: %w", w.name, err)
			}
			s := got[w.name]
			s.NochangeS, s.NochangeCPU = d.wall, d.cpu
			s.NochangeOpNames = executedOps(vs)
			s.NochangeOps = len(s.NochangeOpNames)
			b.logf("round %d: %-6s no-change %6.1f s, %6.1f CPU s, %d ops executed", n, w.name, d.wall, d.cpu, s.NochangeOps)
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
	d, vs, err := b.build(ctx, r, w, b.pkgs, r.ref(w, "v1"))
	if err != nil {
		return fmt.Errorf("%s no-change rebuild: %w", w.name, err)
	}
	extra.Syntax.NochangeS, extra.Syntax.NochangeCPU, extra.Syntax.NochangeOps = d.wall, d.cpu, executedOps(vs)
	b.logf("round %d: %s no-change %6.1f s, %6.1f CPU s, %d ops executed", r.n, w.name, d.wall, d.cpu, len(extra.Syntax.NochangeOps))
	return nil
}

// cacheRef is where the base spec's build cache goes in the registry.
func (r *round) cacheRef() string {
	return r.env.RegistryAddr + "/bench/cache:base"
}

// checkUnpacked checks that a cold build of ours really started from
// nothing: its realise step unpacked the Nix release, which it skips when
// the /nix cache mount holds it.
func checkUnpacked(p *testenv.Progress) error {
	if !strings.Contains(p.Output("[nix-image] realise "), "unpacking the Nix release") {
		return errors.New("the realise step did not unpack the Nix release: the /nix cache mount survived")
	}
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

// withStack runs f on a fresh buildkitd and registry and stops them.
func (b *bench) withStack(ctx context.Context, n int, f func(r *round) error) (retErr error) {
	b.logf("round %d/%d: starting a fresh buildkitd and registry", n, b.runs)
	env, err := testenv.Start(ctx)
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
	pid, err := daemonPID(env.Dir)
	if err != nil {
		return err
	}
	return f(&round{n: n, env: env, pid: pid, reg: registry{addr: env.RegistryAddr}, base: env.RegistryAddr + "/bench/base:latest"})
}

// ref names the image of way w in the round's registry.
func (r *round) ref(w way, tag string) string {
	return r.env.RegistryAddr + "/bench/" + w.name + ":" + tag
}

// buildBase builds and pushes the base image: the spec of ours without
// packages.
func (b *bench) buildBase(ctx context.Context, r *round) error {
	if _, _, err := b.build(ctx, r, b.ways[0], nil, r.base); err != nil {
		return fmt.Errorf("base image: %w", err)
	}
	return nil
}

// emptyCache prunes the daemon's whole build cache: the cold builds then
// start from empty daemon state, every input (the frontend image, the base
// image, the Nix release, substitutes) coming from the registry or the
// mirror, as on a new CI runner.
func (b *bench) emptyCache(ctx context.Context, r *round) error {
	if _, stderr, err := r.env.Buildctl(ctx, "prune", "--all"); err != nil {
		return fmt.Errorf("pruning the build cache: %w: %s", err, stderr)
	}
	du, _, err := r.env.Buildctl(ctx, "du", "--format", "{{json .}}")
	if err != nil {
		return fmt.Errorf("buildctl du: %w", err)
	}
	left, err := duRecords(du)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("the build cache is not empty after prune --all: %s", strings.Join(left, "; "))
	}
	b.logf("round %d: build cache pruned: buildctl du lists nothing", r.n)
	return nil
}

// duRecords describes the records of `buildctl du --format '{{json .}}'`
// (a JSON array of the daemon's cache records, the cache mounts among
// them: the realise step's /nix).
func duRecords(out string) ([]string, error) {
	var recs []struct {
		ID          string `json:"id"`
		Description string `json:"description"`
		RecordType  string `json:"recordType"`
		Size        int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		return nil, fmt.Errorf("buildctl du: %w: %q", err, out)
	}
	var left []string
	for _, r := range recs {
		left = append(left, fmt.Sprintf("%s %s %q (%d bytes)", r.RecordType, r.ID, r.Description, r.Size))
	}
	return left, nil
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
	cpu0, err := cpuSeconds(r.pid)
	if err != nil {
		return timing{}, nil, err
	}
	args := append([]string{"build",
		"--frontend", "dockerfile.v0",
		"--local", "context=" + dir,
		"--local", "dockerfile=" + dir,
		"--opt", "filename=" + w.file,
		"--progress=rawjson",
	}, w.args(r)...)
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
	if err != nil {
		var msgs []string
		for _, line := range strings.Split(stderr, "\n") {
			if !strings.HasPrefix(line, "{") {
				msgs = append(msgs, line)
			}
		}
		return took, nil, fmt.Errorf("%w\n%s", err, strings.Join(msgs[max(0, len(msgs)-30):], "\n"))
	}
	p, _ := testenv.ParseProgress(stderr)
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

// describe reads the cold image back from the registry: layers, sizes,
// closure.
func (b *bench) describe(ctx context.Context, r *round, w way, s *sample) error {
	im, err := readImage(ctx, r.reg, "bench/"+w.name, "v1", nil)
	if err != nil {
		return err
	}
	s.info = im
	s.Digest = im.digest
	s.Layers = len(im.layers)
	s.CompressedBytes = im.compressed()
	s.ImageBytes = im.tarBytes()
	s.ImageFileBytes = im.fileBytes()
	s.ClosureBytes, s.LocalPaths, err = closureBytes(im, filepath.Join(b.mirror.Dir, "cache"))
	s.ChannelMissing = channelMissing(im, b.nixpkgs.Bytes)
	return err
}

// channelMissing says what of root's nixpkgs channel im lacks: the link
// ~/.nix-defexpr/channels, or a store path holding the package set's tree
// (a path with exactly its bytes); "" when it has both.
func channelMissing(im *imageInfo, nixpkgsBytes int64) string {
	var missing []string
	hasLink := false
	for _, l := range im.layers {
		for _, e := range l.entries {
			hasLink = hasLink || "/"+e.name == channelLink
		}
	}
	if !hasLink {
		missing = append(missing, "no "+channelLink)
	}
	if !slices.Contains(slices.Collect(maps.Values(im.pathFileBytes)), nixpkgsBytes) {
		missing = append(missing, fmt.Sprintf("no store path of the package set's %d bytes", nixpkgsBytes))
	}
	return strings.Join(missing, ", ")
}

// addOne builds w with one package more and measures the push: new blobs,
// reused layer bytes, and (for the ours target) the compressed size of the
// layers holding new store paths or no store path at all.
func (b *bench) addOne(ctx context.Context, r *round, w way, s *sample, oldRef, newRef string) error {
	have, err := r.reg.layerDigests(ctx)
	if err != nil {
		return fmt.Errorf("listing the registry's layers: %w", err)
	}
	d, _, err := b.build(ctx, r, w, b.add1, newRef)
	if err != nil {
		return err
	}
	s.Add1S, s.Add1CPU = d.wall, d.cpu
	repo := "bench/" + w.name
	_, oldM, err := r.reg.image(ctx, repo, strings.TrimPrefix(oldRef, r.env.RegistryAddr+"/"+repo+":"))
	if err != nil {
		return err
	}
	oldDigests := map[string]bool{}
	var oldTotal int64
	for _, l := range oldM.Layers {
		oldDigests[l.Digest] = true
		oldTotal += l.Size
	}
	// Only the layers the old image lacks need reading.
	newIm, err := readImage(ctx, r.reg, repo, "add1", func(d string) bool { return !oldDigests[d] })
	if err != nil {
		return err
	}
	newDigests := map[string]bool{}
	counted := map[string]bool{}
	for _, l := range newIm.layers {
		newDigests[l.digest] = true
		if !have[l.digest] && !counted[l.digest] {
			s.Add1NewBytes += l.compressed
			counted[l.digest] = true
		}
	}
	s.Add1AllowanceBytes = allowance(newIm.layers, oldDigests, s.info.storePaths())
	var reused int64
	for _, l := range oldM.Layers {
		if newDigests[l.Digest] {
			reused += l.Size
		}
	}
	if oldTotal > 0 {
		s.Add1ReusedRatio = float64(reused) / float64(oldTotal)
	}
	b.logf("round %d: %-6s add-one   %6.1f s, %6.1f CPU s, %d new bytes, %.3f of the old bytes reused", r.n, w.name, d.wall, d.cpu, s.Add1NewBytes, s.Add1ReusedRatio)
	return nil
}

// allowance is what an add-one push may upload: the compressed bytes of
// the new image's layers that the old image lacks and that hold either
// only store paths the old image lacks (the new package's) or no store
// path at all (the system layers: /etc, the Nix DB and profiles). A layer
// that holds an old path too (a shared layer re-uploading unchanged paths)
// is not allowed for.
func allowance(layers []layerInfo, oldDigests, oldPaths map[string]bool) int64 {
	var n int64
	for _, l := range layers {
		if oldDigests[l.digest] {
			continue
		}
		onlyNew := true
		for p := range l.storePaths {
			onlyNew = onlyNew && !oldPaths[p]
		}
		if onlyNew {
			n += l.compressed
		}
	}
	return n
}

// summarize takes the medians over the rounds (every figure but the times
// is the same in each round when the builds are reproducible).
func summarize(ss []*sample) *metrics {
	f := func(get func(*sample) float64) float64 { return medianOf(ss, get) }
	i := func(get func(*sample) int64) int64 {
		return int64(f(func(s *sample) float64 { return float64(get(s)) }))
	}
	repro := true
	for _, s := range ss {
		repro = repro && s.Digest == ss[0].Digest && s.ColdEmptyDigest == ss[0].Digest &&
			(s.ColdCacheFromDigest == "" || s.ColdCacheFromDigest == ss[0].Digest)
	}
	return &metrics{
		ColdBaseBuiltS:       round2(f(func(s *sample) float64 { return s.ColdBaseBuiltS })),
		ColdBaseBuiltCPU:     round2(f(func(s *sample) float64 { return s.ColdBaseBuiltCPU })),
		ColdEmptyS:           round2(f(func(s *sample) float64 { return s.ColdEmptyS })),
		ColdEmptyCPU:         round2(f(func(s *sample) float64 { return s.ColdEmptyCPU })),
		ColdVerifyCPU:        round2(f(func(s *sample) float64 { return s.ColdVerifyCPU })),
		ColdCacheFromS:       round2(f(func(s *sample) float64 { return s.ColdCacheFromS })),
		ColdCacheFromCPU:     round2(f(func(s *sample) float64 { return s.ColdCacheFromCPU })),
		NochangeS:            round2(f(func(s *sample) float64 { return s.NochangeS })),
		NochangeCPU:          round2(f(func(s *sample) float64 { return s.NochangeCPU })),
		NochangeOpsExecuted:  int(i(func(s *sample) int64 { return int64(s.NochangeOps) })),
		Add1S:                round2(f(func(s *sample) float64 { return s.Add1S })),
		Add1CPU:              round2(f(func(s *sample) float64 { return s.Add1CPU })),
		Add1NewBytes:         i(func(s *sample) int64 { return s.Add1NewBytes }),
		Add1ReusedBytesRatio: round4(f(func(s *sample) float64 { return s.Add1ReusedRatio })),
		Layers:               int(i(func(s *sample) int64 { return int64(s.Layers) })),
		ImageBytes:           i(func(s *sample) int64 { return s.ImageBytes }),
		ImageFileBytes:       i(func(s *sample) int64 { return s.ImageFileBytes }),
		ClosureBytes:         i(func(s *sample) int64 { return s.ClosureBytes }),
		Reproducible:         repro,
	}
}

// medianOf is the median of get over xs.
func medianOf[T any](xs []T, get func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = get(x)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
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
	ColdBaseBuiltS float64  `json:"cold_base_built_s"`
	NochangeS      float64  `json:"nochange_s"`
	NochangeCPU    float64  `json:"nochange_cpu_s"`
	NochangeOps    []string `json:"nochange_ops,omitempty"`
}

// runWide are the medians of the rounds' extras.
type runWide struct {
	FloorS            float64
	SyntaxColdS       float64
	SyntaxNochangeS   float64
	SyntaxNochangeOps int
	AMD64ColdS        float64
	ARM64ColdS        float64
}

func summarizeExtras(xs []*roundExtra) runWide {
	return runWide{
		FloorS:            round2(medianOf(xs, func(x *roundExtra) float64 { return x.Floor.Seconds })),
		SyntaxColdS:       round2(medianOf(xs, func(x *roundExtra) float64 { return x.Syntax.ColdBaseBuiltS })),
		SyntaxNochangeS:   round2(medianOf(xs, func(x *roundExtra) float64 { return x.Syntax.NochangeS })),
		SyntaxNochangeOps: int(medianOf(xs, func(x *roundExtra) float64 { return float64(len(x.Syntax.NochangeOps)) })),
		AMD64ColdS:        round2(medianOf(xs, func(x *roundExtra) float64 { return x.Cross.AMD64S })),
		ARM64ColdS:        round2(medianOf(xs, func(x *roundExtra) float64 { return x.Cross.ARM64S })),
	}
}

// farBelow is how much smaller ours' add-one upload must be than the
// baselines' to count as "far below": at most a quarter (issue 5's
// informational target; issue 11 asks for 0.1 x nixenv's).
const farBelow = 0.25

// baselines are the ways ours is compared with.
var baselines = []string{"flat", "nixenv", "nixenv2"}

// targets are the bench's verdicts: issue 11's "done when" (at the size
// of the run's package set) and the guarantees the earlier issues set.
// Cold builds: ours from an empty daemon (cold_s) does what flat does
// (realise and copy the whole closure) and at most half again the floor;
// flat and the nixenv ways start FROM a base image prebuilt in the
// registry, so ours is also measured with the base spec's registry cache
// (cold_cache_from_s, what a CI runner has from the spec's previous run),
// compared with flat, and (informational) with the others.
func (b *bench) targets(res map[string]*metrics, samples map[string][]*sample, wide runWide) []target {
	o := res["ours"]
	ours := samples["ours"]
	allow := int64(medianOf(ours, func(s *sample) float64 { return float64(s.Add1AllowanceBytes) }))
	baseline := int64(-1)
	var others []string
	for _, name := range baselines {
		if baseline < 0 || res[name].Add1NewBytes < baseline {
			baseline = res[name].Add1NewBytes
		}
		others = append(others, fmt.Sprintf("%s %d", name, res[name].Add1NewBytes))
	}
	var noChannel []string
	images := 0
	for _, name := range append([]string{"ours"}, baselines...) {
		for i, s := range samples[name] {
			images++
			if s.ChannelMissing != "" {
				noChannel = append(noChannel, fmt.Sprintf("%s round %d: %s", name, i+1, s.ChannelMissing))
			}
		}
	}
	channelDetail := fmt.Sprintf("%d cold images have %s and the package set's tree", images, channelLink)
	if len(noChannel) > 0 {
		channelDetail = strings.Join(noChannel, "; ")
	}
	nixenv, flat := res["nixenv"], res["flat"]
	ts := []target{
		{"ours.nochange_ops_executed = 0", o.NochangeOpsExecuted == 0,
			fmt.Sprintf("%d (%s)", o.NochangeOpsExecuted, strings.Join(ours[0].NochangeOpNames, "; "))},
		{"ours.nochange_s <= 1.2 x syntax_dockerfile.nochange_s", o.NochangeS <= 1.2*wide.SyntaxNochangeS,
			fmt.Sprintf("%.2f <= 1.2 x %.2f = %.2f", o.NochangeS, wide.SyntaxNochangeS, 1.2*wide.SyntaxNochangeS)},
		{"ours.add1_s <= nixenv.add1_s", o.Add1S <= nixenv.Add1S, fmt.Sprintf("%.2f <= %.2f", o.Add1S, nixenv.Add1S)},
		{"ours.add1_reused_bytes_ratio >= 0.95", o.Add1ReusedBytesRatio >= 0.95,
			fmt.Sprintf("%.4f", o.Add1ReusedBytesRatio)},
		{"ours.add1_new_bytes <= 1.05 x (layers of only new store paths + system layers)", float64(o.Add1NewBytes) <= 1.05*float64(allow),
			fmt.Sprintf("%d <= 1.05 x %d = %.0f", o.Add1NewBytes, allow, 1.05*float64(allow))},
		{"ours.add1_new_bytes <= 0.1 x nixenv.add1_new_bytes", float64(o.Add1NewBytes) <= 0.1*float64(nixenv.Add1NewBytes),
			fmt.Sprintf("%d <= 0.1 x %d = %.0f", o.Add1NewBytes, nixenv.Add1NewBytes, 0.1*float64(nixenv.Add1NewBytes))},
		// No file twice, none beyond the closure; and no more tar
		// overhead than one layer of the same content (at nixpkgs' size
		// the tar headers and padding of its 45,000 files alone are a
		// seventh of the image, so the tar bytes are compared with
		// flat's, not with the NAR sizes).
		{"ours.image_file_bytes <= 1.03 x ours.closure_bytes", float64(o.ImageFileBytes) <= 1.03*float64(o.ClosureBytes),
			fmt.Sprintf("%d <= 1.03 x %d = %.0f (ratio %.4f)", o.ImageFileBytes, o.ClosureBytes, 1.03*float64(o.ClosureBytes), float64(o.ImageFileBytes)/float64(o.ClosureBytes))},
		{"ours.image_bytes <= 1.03 x flat.image_bytes", float64(o.ImageBytes) <= 1.03*float64(flat.ImageBytes),
			fmt.Sprintf("%d <= 1.03 x %d = %.0f (ratio %.4f)", o.ImageBytes, flat.ImageBytes, 1.03*float64(flat.ImageBytes), float64(o.ImageBytes)/float64(flat.ImageBytes))},
		{"ours.reproducible", o.Reproducible, fmt.Sprintf("%d cold builds on fresh daemons: %s", 3*len(ours), digests(ours))},
		coldTarget("ours.cold_s", o.ColdEmptyS, 1.0, "flat.cold_s", flat.ColdEmptyS, ""),
		coldTarget("ours.cold_s", o.ColdEmptyS, 1.5, "floor_s", wide.FloorS, ""),
		{"ours.cold_verify_cpu_s <= 0.1 x ours.cold_cpu_s (store path checks a small share of a cold build)", o.ColdVerifyCPU <= 0.1*o.ColdEmptyCPU,
			fmt.Sprintf("%.2f <= 0.1 x %.2f = %.2f", o.ColdVerifyCPU, o.ColdEmptyCPU, 0.1*o.ColdEmptyCPU)},
		{"every image ships the nixpkgs channel (the same image content)", len(noChannel) == 0, channelDetail},
		coldTarget("ours.cold_cache_from_s", o.ColdCacheFromS, 1.2, "flat.cold_s", flat.ColdEmptyS, ""),
		crossTarget(wide),
	}
	for _, name := range baselines[1:] {
		ts = append(ts, coldTarget("ours.cold_cache_from_s", o.ColdCacheFromS, 1.2, name+".cold_s", res[name].ColdEmptyS, "(extra) "))
		ts = append(ts, coldTarget("ours.cold_s", o.ColdEmptyS, 1.2, name+".cold_s", res[name].ColdEmptyS, "(extra) "))
	}
	for _, name := range baselines {
		ts = append(ts, coldTarget("ours.cold_base_built_s", o.ColdBaseBuiltS, 1.2, name+".cold_base_built_s", res[name].ColdBaseBuiltS, "(extra) "))
	}
	return append(ts, target{fmt.Sprintf("(extra) ours.add1_new_bytes far below every baseline (<= %.2f x the smallest)", farBelow), float64(o.Add1NewBytes) <= farBelow*float64(baseline),
		fmt.Sprintf("%d vs %s (%.3f x the smallest)", o.Add1NewBytes, strings.Join(others, ", "), float64(o.Add1NewBytes)/float64(baseline))})
}

// coldTarget is the target "ours <= factor x base" of a cold build time.
func coldTarget(ours string, o, factor float64, base string, v float64, prefix string) target {
	return target{fmt.Sprintf("%s%s <= %.1f x %s", prefix, ours, factor, base), o <= factor*v,
		fmt.Sprintf("%.2f <= %.1f x %.2f = %.2f", o, factor, v, factor*v)}
}

// digests lists the distinct digests of the cold builds, with how many
// builds gave each.
func digests(ss []*sample) string {
	count := map[string]int{}
	var order []string
	for _, s := range ss {
		for _, d := range []string{s.Digest, s.ColdEmptyDigest, s.ColdCacheFromDigest} {
			if count[d] == 0 {
				order = append(order, d)
			}
			count[d]++
		}
	}
	var out []string
	for _, d := range order {
		out = append(out, fmt.Sprintf("%s (%d)", d, count[d]))
	}
	return strings.Join(out, ", ")
}

func (b *bench) print(m machine, res map[string]*metrics, wide runWide, targets []target, diffs []string, took time.Duration) {
	fmt.Printf("\nnix-image bench: %d rounds, %s; %d cores, %.1f GiB, Linux %s, %s, load %.1f -> %.1f\n",
		b.runs, took.Round(time.Second), m.Nproc, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.Date, m.LoadavgStart, m.LoadavgEnd)
	fmt.Printf("commit %s", m.Commit)
	if len(m.Modified) > 0 {
		fmt.Printf(" with %d modified files (%s)", len(m.Modified), strings.Join(m.Modified, " "))
	}
	fmt.Println()
	fmt.Printf("packages: %s (add-one: +%s)\n", strings.Join(b.pkgs, " "), strings.Join(b.add1[len(b.pkgs):], " "))
	fmt.Printf("scale: %s nixpkgs, %d files, %s unpacked; ours's closure %s\n", b.size, b.nixpkgs.Files, bytesStr(b.nixpkgs.Bytes), bytesStr(res["ours"].ClosureBytes))
	fmt.Printf("floor_s %.2f; syntax_dockerfile.nochange_s %.2f (%d ops executed)\n\n", wide.FloorS, wide.SyntaxNochangeS, wide.SyntaxNochangeOps)
	rows := []struct {
		key string
		val func(*metrics) string
	}{
		{"cold_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdEmptyS) }},
		{"cold_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdEmptyCPU) }},
		{"cold_verify_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdVerifyCPU) }},
		{"cold_cache_from_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdCacheFromS) }},
		{"cold_base_built_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdBaseBuiltS) }},
		{"cold_base_built_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdBaseBuiltCPU) }},
		{"nochange_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.NochangeS) }},
		{"nochange_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.NochangeCPU) }},
		{"nochange_ops_executed", func(m *metrics) string { return strconv.Itoa(m.NochangeOpsExecuted) }},
		{"add1_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.Add1S) }},
		{"add1_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.Add1CPU) }},
		{"add1_new_bytes", func(m *metrics) string { return bytesStr(m.Add1NewBytes) }},
		{"add1_reused_bytes_ratio", func(m *metrics) string { return fmt.Sprintf("%.4f", m.Add1ReusedBytesRatio) }},
		{"layers", func(m *metrics) string { return strconv.Itoa(m.Layers) }},
		{"image_bytes", func(m *metrics) string { return bytesStr(m.ImageBytes) }},
		{"image_file_bytes", func(m *metrics) string { return bytesStr(m.ImageFileBytes) }},
		{"closure_bytes", func(m *metrics) string { return bytesStr(m.ClosureBytes) }},
		{"reproducible", func(m *metrics) string { return strconv.FormatBool(m.Reproducible) }},
	}
	header := "| " + fmt.Sprintf("%-23s", "metric")
	rule := "|" + strings.Repeat("-", 25)
	for _, w := range b.ways {
		header += fmt.Sprintf(" | %-20s", w.name)
		rule += "|" + strings.Repeat("-", 22)
	}
	fmt.Println(header + " |")
	fmt.Println(rule + "|")
	for _, r := range rows {
		line := "| " + fmt.Sprintf("%-23s", r.key)
		for _, w := range b.ways {
			line += fmt.Sprintf(" | %-20s", r.val(res[w.name]))
		}
		fmt.Println(line + " |")
	}
	// The cross-platform pair: ours's spec only, one figure per platform.
	for _, r := range []struct {
		key string
		val float64
	}{{"amd64_cold_s", wide.AMD64ColdS}, {"arm64_cold_s", wide.ARM64ColdS}} {
		line := "| " + fmt.Sprintf("%-23s", r.key)
		for _, w := range b.ways {
			v := ""
			if w.name == "ours" {
				v = fmt.Sprintf("%.2f", r.val)
			}
			line += fmt.Sprintf(" | %-20s", v)
		}
		fmt.Println(line + " |")
	}
	fmt.Println()
	printTargets(targets)
	if len(diffs) > 0 {
		fmt.Println("\nnot reproducible:")
		for _, d := range diffs {
			fmt.Println("  " + d)
		}
	}
}

// printTargets prints each target's verdict.
func printTargets(targets []target) {
	for _, t := range targets {
		verdict := "FAIL"
		if t.Pass {
			verdict = "PASS"
		}
		fmt.Printf("%s %s: %s\n", verdict, t.Name, t.Detail)
	}
}

func bytesStr(n int64) string {
	return fmt.Sprintf("%d (%.1f MB)", n, float64(n)/1e6)
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
func round4(f float64) float64 { return float64(int64(f*10000+0.5)) / 10000 }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func machineInfo(ctx context.Context, root string) (machine, error) {
	m := machine{Nproc: runtime.NumCPU(), Date: time.Now().UTC().Format(time.RFC3339), LoadavgStart: loadavg()}
	commit, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return m, fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	m.Commit = strings.TrimSpace(string(commit))
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return m, fmt.Errorf("git status: %w", err)
	}
	for _, line := range strings.Split(strings.TrimRight(string(status), "\n"), "\n") {
		if len(line) > 3 {
			m.Modified = append(m.Modified, line[3:])
		}
	}
	kernel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return m, fmt.Errorf("reading the kernel release: %w", err)
	}
	m.Kernel = strings.TrimSpace(string(kernel))
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return m, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	for _, line := range strings.Split(string(meminfo), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return m, fmt.Errorf("parsing MemTotal: %w", err)
			}
			m.MemoryBytes = kb * 1024
		}
	}
	return m, nil
}

// repoRoot walks up from the working directory to the one holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}
