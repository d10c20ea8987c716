package llbgen

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// SystemContextName is the named context that gives the Nix release of
// a Nix system type, e.g. nix-aarch64-linux (--build-context
// nix-aarch64-linux=DIR); the named context `nix` gives the release of
// the one system a build needs when it has no context of its own.
func SystemContextName(system string) string { return "nix-" + system }

// buildPlatform is the platform the steps that run the frontend binary or
// Nix run on (Options.BuildPlatform, or the image's).
func buildPlatform(opt Options) ocispecs.Platform {
	if opt.BuildPlatform.OS == "" {
		return opt.Platform
	}
	return opt.BuildPlatform
}

// onBuilder runs a step on the build platform: the programs it runs (the
// frontend binary, the build system's Nix) are the builder's own, so
// BuildKit never emulates them, whatever the image's platform.
func onBuilder(opt Options) llb.ConstraintsOpt { return llb.Platform(buildPlatform(opt)) }

// Systems returns the Nix system types of the image and of the builder.
func Systems(opt Options) (image, build string, err error) {
	if image, err = NixSystem(opt.Platform); err != nil {
		return "", "", err
	}
	if build, err = NixSystem(buildPlatform(opt)); err != nil {
		return "", "", fmt.Errorf("the builder: %w", err)
	}
	return image, build, nil
}

// nixRelease is one Nix release a build needs.
type nixRelease struct {
	system string
	state  llb.State
	// source names the release in errors: its URL and the spec field
	// that gave it, or the named context; name is the URL or context
	// only, for the layer steps, whose cache key must not change when a
	// spec line moves.
	source, name string
	// id names it in the /nix cache mount's id: the tarball's sha256,
	// or "context".
	id string
	// one describes its source when that gives one release only (the
	// named context nix, a nix.url without {system}); "" otherwise.
	one string
}

// nixReleases are the Nix releases of a build: the build system's, whose
// Nix realises the image, and, when the image holds a release (system.nix:
// release) and is for another system, that system's, which is unpacked
// into the image and never run.
type nixReleases struct {
	build nixRelease
	image *nixRelease
}

// releasesOf finds the releases of a build. A source that gives one
// release cannot give two: a build that needs the releases of two systems
// from it fails, naming both.
func releasesOf(r *spec.Resolved, opt Options) (nixReleases, error) {
	image, build, err := Systems(opt)
	if err != nil {
		return nixReleases{}, err
	}
	b, err := releaseOf(r, opt, build, image)
	if err != nil {
		return nixReleases{}, err
	}
	rels := nixReleases{build: b}
	if build == image || r.SystemNix != spec.SystemNixRelease {
		return rels, nil
	}
	i, err := releaseOf(r, opt, image, image)
	if err != nil {
		return nixReleases{}, err
	}
	if b.one != "" && b.one == i.one {
		return nixReleases{}, fmt.Errorf("%s gives one Nix release, but this build needs two: the %s one, whose Nix realises the image on the builder (platform %s), "+
			"and the %s one, which the image holds (platform %s); give both: a nix.url with %s in it and nix.sha256 per system, "+
			"nix.version (the official releases of every system), or the named contexts %s and %s",
			b.one, build, platformString(buildPlatform(opt)), image, platformString(opt.Platform), spec.SystemPlaceholder,
			SystemContextName(build), SystemContextName(image))
	}
	rels.image = &i
	return rels, nil
}

// releaseOf is the release of system: its named context, the named
// context nix, or the spec's download (nix.version or nix.url), its
// tarball checksum-verified. image is the image's system.
func releaseOf(r *spec.Resolved, opt Options, system, image string) (nixRelease, error) {
	if st, ok := opt.NixSystemContexts[system]; ok {
		src := fmt.Sprintf("the named context %q", SystemContextName(system))
		return nixRelease{system: system, state: st, source: src, name: src, id: "context"}, nil
	}
	if opt.NixContext != nil {
		src := `the named context "nix"`
		return nixRelease{system: system, state: *opt.NixContext, source: src, name: src, id: "context", one: src}, nil
	}
	field := "nix.version"
	if r.Nix.URL != "" {
		field = "nix.url"
	}
	url := ReleaseTarballURL(r.Nix, system)
	rel := nixRelease{system: system, source: describeURL(url, where(r, opt, field)), name: url}
	if r.Nix.URL != "" && !r.Nix.PerSystem() {
		rel.one = "nix.url (" + origin(r, opt, "nix.url") + ")"
	}
	rel.id = r.Nix.TarballSHA256(system)
	switch {
	case r.Nix.URL == "" && system == image:
		rel.id = opt.NixSHA256
	case r.Nix.URL == "":
		rel.id = opt.BuildNixSHA256
	}
	if rel.id == "" {
		if r.Nix.URL != "" {
			return nixRelease{}, fmt.Errorf("nix.sha256 (%s) has no sha256 for %s, %s: add %s: <sha256 of %s>",
				origin(r, opt, "nix.sha256"), system, systemRole(opt, system, image), system, url)
		}
		return nixRelease{}, fmt.Errorf("no sha256 for the Nix %s tarball of %s", r.Nix.Version, system)
	}
	rel.state = fetch(url, rel.id, "nix.tar", stepOpts(opt, opt.SourceMap.Constraints(field)...)...)
	return rel, nil
}

// systemRole says why a build needs the release of system.
func systemRole(opt Options, system, image string) string {
	if system == image {
		return "the image's system (platform " + platformString(opt.Platform) + ")"
	}
	return "the builder's, whose Nix realises the image (platform " + platformString(buildPlatform(opt)) + ")"
}

func platformString(p ocispecs.Platform) string {
	return p.OS + "/" + p.Architecture + variantSuffix(p.Variant)
}
