package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nix-image/nix-image/internal/testenv"
	"github.com/nix-image/nix-image/spec"
)

// The four ways of building an image with the packages (see the package
// comment): each way's build file (ours's nix-image.yaml, the Dockerfiles
// of flat, nixenv and nixenv2) and buildctl options, and the packages
// ours's image holds.

// way is one way of building an image with the packages.
type way struct {
	name string
	file string // the file the build context holds and buildctl builds
	// content returns that file for a package list.
	content func(r *round, pkgs []string) string
	// args are the buildctl options besides the output.
	args func(r *round) []string
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
