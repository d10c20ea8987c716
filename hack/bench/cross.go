package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The cross-platform pair (issue 12): ours's spec built cold for
// linux/amd64 and for linux/arm64 on the same amd64 daemon, each from an
// empty build cache (emptyCache), in the second stack of every round. The
// arm64 build runs nothing of aarch64: its realise step runs on the
// builder's platform with the builder's Nix release and substitutes the
// aarch64-linux closure from the mirror's cache; the image's Nix is the
// mirror's aarch64-linux release, whose hash the mirror's install script
// lists next to the x86_64 one. arm64_cold_s and amd64_cold_s are the
// medians of those builds' wall times; the target is arm64 <= 1.3 x amd64.

// crossFactor is how much slower than the amd64 build the arm64 one may
// be.
const crossFactor = 1.3

// crossPlatforms are the pair's platforms, in the order odd rounds build
// them (even rounds build arm64 first).
var crossPlatforms = []string{"amd64", "arm64"}

// crossSample is one round of the pair.
type crossSample struct {
	AMD64S      float64 `json:"amd64_cold_s"`
	AMD64CPU    float64 `json:"amd64_cold_cpu_s"`
	AMD64Digest string  `json:"amd64_digest"`
	// AMD64Steps are the longest steps of the amd64 build.
	AMD64Steps  []step  `json:"amd64_cold_slowest_steps"`
	ARM64S      float64 `json:"arm64_cold_s"`
	ARM64CPU    float64 `json:"arm64_cold_cpu_s"`
	ARM64Digest string  `json:"arm64_digest"`
	// ARM64Steps are the longest steps of the arm64 build.
	ARM64Steps []step `json:"arm64_cold_slowest_steps"`
}

// crossPlatform builds ours's spec cold for each platform of the pair,
// the round's number choosing which goes first, each from an empty build
// cache, and checks that each image is its platform's.
func (b *bench) crossPlatform(ctx context.Context, r *round) (crossSample, error) {
	var cs crossSample
	platforms := slices.Clone(crossPlatforms)
	if r.n%2 == 0 {
		slices.Reverse(platforms)
	}
	for _, arch := range platforms {
		if err := b.emptyCache(ctx, r); err != nil {
			return cs, err
		}
		d, p, err := b.build(ctx, r, b.ways[0], b.pkgs, r.env.RegistryAddr+"/bench/cross:"+arch, "--opt", "platform=linux/"+arch)
		if err != nil {
			return cs, fmt.Errorf("ours cold for linux/%s: %w", arch, err)
		}
		if err := checkUnpacked(p); err != nil {
			return cs, fmt.Errorf("ours cold for linux/%s: %w", arch, err)
		}
		digest, got, err := r.reg.platform(ctx, "bench/cross", arch)
		if err != nil {
			return cs, fmt.Errorf("ours cold for linux/%s: %w", arch, err)
		}
		if got != "linux/"+arch {
			return cs, fmt.Errorf("ours cold for linux/%s: the pushed image is for %s", arch, got)
		}
		switch arch {
		case "amd64":
			cs.AMD64S, cs.AMD64CPU, cs.AMD64Digest, cs.AMD64Steps = d.wall, d.cpu, digest, slowest(p, 6)
		case "arm64":
			cs.ARM64S, cs.ARM64CPU, cs.ARM64Digest, cs.ARM64Steps = d.wall, d.cpu, digest, slowest(p, 6)
		}
		b.logf("round %d: ours    cold for linux/%s, empty cache %6.1f s, %6.1f CPU s", r.n, arch, d.wall, d.cpu)
	}
	if cs.AMD64Digest == cs.ARM64Digest {
		return cs, fmt.Errorf("the linux/amd64 and linux/arm64 builds pushed the same image %s", cs.AMD64Digest)
	}
	return cs, nil
}

// crossTarget is the target arm64_cold_s <= crossFactor x amd64_cold_s.
func crossTarget(w runWide) target {
	return target{fmt.Sprintf("arm64_cold_s <= %.1f x amd64_cold_s (ours's spec for linux/arm64 on the amd64 daemon, no emulation)", crossFactor),
		w.ARM64ColdS <= crossFactor*w.AMD64ColdS,
		fmt.Sprintf("%.2f <= %.1f x %.2f = %.2f", w.ARM64ColdS, crossFactor, w.AMD64ColdS, crossFactor*w.AMD64ColdS)}
}

// crossOnly runs only the cross-platform pair, one fresh stack per
// round, and prints its figures and target (-only cross); it writes no
// results file.
func (b *bench) crossOnly(ctx context.Context) ([]target, error) {
	var xs []*roundExtra
	for n := 1; n <= b.runs; n++ {
		x := &roundExtra{}
		err := b.withStack(ctx, n, func(r *round) error {
			var err error
			x.Cross, err = b.crossPlatform(ctx, r)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", n, err)
		}
		xs = append(xs, x)
	}
	w := summarizeExtras(xs)
	targets := []target{crossTarget(w)}
	fmt.Printf("\nnix-image bench -only cross: %d rounds, load %.1f; packages: %s\n", b.runs, loadavg(), strings.Join(b.pkgs, " "))
	fmt.Printf("amd64_cold_s %.2f, arm64_cold_s %.2f\n", w.AMD64ColdS, w.ARM64ColdS)
	printTargets(targets)
	return targets, nil
}
