package llbgen

import (
	"cmp"
	"encoding/json"
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// nixpkgsSource returns the named context `nixpkgs` or the pinned tarball.
// A tarball pinned by its NAR hash is downloaded unverified: nixpkgsCheck
// checks the tree it unpacks to.
func nixpkgsSource(r *spec.Resolved, opt Options) llb.State {
	if opt.NixpkgsContext != nil {
		return *opt.NixpkgsContext
	}
	loc := stepOpts(opt, opt.SourceMap.Constraints("nixpkgs.url")...)
	if r.Nixpkgs.NarHash != "" {
		return fetchUnverified(r.Nixpkgs.URL, "nixpkgs.tar", loc...)
	}
	return fetch(r.Nixpkgs.URL, r.Nixpkgs.SHA256, "nixpkgs.tar", loc...)
}

// nixpkgsSourceName names the nixpkgs source in the unpack step's errors:
// its URL only, not the spec line, which would make the step's cache key
// change whenever the line moves.
func nixpkgsSourceName(r *spec.Resolved, opt Options) string {
	if opt.NixpkgsContext != nil {
		return `the named context "nixpkgs"`
	}
	return r.Nixpkgs.URL
}

// describeURL is a download with the spec field that gave it, if the spec
// has it.
func describeURL(url, where string) string {
	if where == "" {
		return url
	}
	return url + ", given at " + where
}

// unpackNixpkgs unpacks the nixpkgs source (a download or the named
// context) with the frontend binary (Go decompressors: no xz needed on the
// daemon's host) into a store tree, nix/store/<hash>-nixpkgs: the layer
// of the source in the image, and the tree the realise step adds to its
// store; meta holds the path's registration (nixstep.SourcePath), which
// it checks against nixpkgs.narHash when the spec pins one. Both
// depend on the pin only, so a build with the same pin reuses them.
func unpackNixpkgs(r *spec.Resolved, opt Options) (tree, meta llb.State) {
	step := nixstep.PrepareStep{Marker: "default.nix", Source: nixpkgsSourceName(r, opt), StoreName: nixpkgsStoreName}
	if r.Nixpkgs.NarHash != "" {
		step.NarHash, step.Where = r.Nixpkgs.NarHash, cmp.Or(where(r, opt, "nixpkgs.narHash"), "nixpkgs.narHash")
	}
	ropts := []llb.RunOption{onBuilder(opt), llb.WithCustomName("[nix-image] unpack nixpkgs")}
	for _, o := range opt.SourceMap.Constraints("nixpkgs.narHash") {
		ropts = append(ropts, o)
	}
	return step.Run(opt.Tool, nixpkgsSource(r, opt), stepOpts(opt, ropts...)...)
}

// nixpkgsStoreName is the name of the nixpkgs source's store path, as
// `nix-store --add` of a directory named nixpkgs gives it.
const nixpkgsStoreName = "nixpkgs"

// packages pairs attributes with the spec location that asked for them.
func packages(r *spec.Resolved, opt Options, attrs []string) []nixstep.Package {
	pkgs := make([]nixstep.Package, len(attrs))
	for i, a := range attrs {
		pkgs[i] = nixstep.Package{Attr: a, Where: packageWhere(r, opt, a)}
	}
	return pkgs
}

// packageWhere describes the spec entry that names attr
// (spec.Resolved.PackageField), or the default package it is.
func packageWhere(r *spec.Resolved, opt Options, attr string) string {
	if f := r.PackageField(attr); f != "" {
		return where(r, opt, f)
	}
	return "default package of the " + r.Target + " image"
}

// where describes a spec field as FILE:LINE:COL (path), or "" when the
// field is not in the source (a default).
func where(r *spec.Resolved, opt Options, path string) string {
	pos, ok := r.Position(path)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d (%s)", opt.Filename, pos.Line, pos.Col, path)
}

// origin describes where a spec field's value comes from, for errors of
// the build steps: its place in the spec (see where), the build arg that
// set it, or its default.
func origin(r *spec.Resolved, opt Options, path string) string {
	if w := where(r, opt, path); w != "" {
		return w
	}
	if arg := r.OverriddenBy(path); arg != "" {
		return "build-arg:" + arg
	}
	return "the default " + path
}

// nixpkgsConfig is the spec's nixpkgs.config as the JSON nixpkgs reads
// (the spec's JSON names are nixpkgs' option names), or nil for none.
func nixpkgsConfig(r *spec.Resolved) (json.RawMessage, error) {
	data, err := json.Marshal(r.Nixpkgs.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding nixpkgs.config: %w", err)
	}
	if string(data) == "{}" {
		return nil, nil
	}
	return data, nil
}

// nixWhere says what chose the Nix release: a spec line, a build arg or
// the default.
func nixWhere(r *spec.Resolved, opt Options) string {
	field := "nix.version"
	if r.Nix.URL != "" {
		field = "nix.url"
	}
	if w := where(r, opt, field); w != "" {
		return w
	}
	if arg := r.OverriddenBy(field); arg != "" {
		return "the build arg " + arg
	}
	return "the default (" + opt.Filename + " has no nix: field)"
}

// buildNixConfig gives the realise step the spec's nixConfig settings that
// apply while building (spec.BuildNixConfigKeys).
func buildNixConfig(r *spec.Resolved, opt Options, cfg *nixstep.RealiseConfig) {
	cfg.NixConfig = r.BuildNixConfig()
	if f := r.NixConfigField("extra-substituters"); f != "" {
		cfg.ExtraSubstitutersWhere = where(r, opt, f)
	}
}
