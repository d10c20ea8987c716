package spec

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Resolved is everything llbgen needs to build one target: defaults
// applied and the image's settings merged over the top-level ones, and
// where in the spec each value came from (Position, PackageField). Its
// slices and maps are copies; changing them does not change the Spec.
type Resolved struct {
	Target string
	// SSHServer makes the image an ssh server, a Nix remote builder (the
	// ssh target): openssh in the system profile, sshd's user, its
	// configuration and authorized keys (AuthorizedKeys and the build
	// secret authorized_keys), root as a trusted Nix user, port 22 and
	// sshd as the command.
	SSHServer bool
	Nix       Nix
	Nixpkgs   Nixpkgs
	// SystemNix is system.nix: the system profile's Nix is the release
	// (SystemNixRelease) or the nixpkgs attribute nix (SystemNixNixpkgs,
	// then first in SystemPackages).
	SystemNix string
	// SystemPackages make up the system profile; ssh adds openssh.
	SystemPackages []string
	// Packages go into root's profile: the default packages (if the image
	// uses them), then the top-level packages, then the image's, without
	// duplicates, in that order.
	Packages []string
	// Substituters may be empty: no binary cache, build everything.
	Substituters      []string
	TrustedPublicKeys []string
	// NixConfig is the top-level nixConfig with the image's over it.
	NixConfig      map[string]string
	AuthorizedKeys []string
	Layers         int
	Config         ImageConfig
	// Flake is the spec's flake directory; FlakePackages the attributes
	// of it the packages name as `.#ATTR` (without the `.#`), which are
	// not in Packages.
	Flake         string
	FlakePackages []string
	// Expressions are the spec's expressions, for every image.
	Expressions []Expression
	// User is the image's non-root user (images.<name>.user), its GID
	// defaulted to its UID; zero when the image runs as root.
	User User

	// origins say where in the spec the values came from.
	origins origins
}

// origins say where in the spec the values of a Resolved came from.
type origins struct {
	// src is the spec's source (read only, shared with the Spec): the
	// positions of its fields and the build args that replaced them.
	src *source
	// packages maps each package list entry (as written, `.#ATTR` for
	// flake outputs) to the first field that names it at a position of
	// the source (see PackageField).
	packages map[string]string
	// nixConfig maps each nixConfig key to the field that sets it.
	nixConfig map[string]string
}

// Position is where the field path was written in the spec (see
// Spec.Position).
func (r *Resolved) Position(path string) (Pos, bool) { return r.origins.src.position(path) }

// OverriddenBy is the build arg that replaced the field path, or "".
func (r *Resolved) OverriddenBy(path string) string { return r.origins.src.overriddenBy(path) }

// PackageField is the spec field that names the package attr (an entry
// of SystemPackages or Packages, or `.#ATTR` for a flake output), e.g.
// "packages[2]", or "" for a default package: the first of
// system.packages, packages and images.<target>.packages that names it
// in the source, or system.nix for the nix of nixpkgs.
func (r *Resolved) PackageField(attr string) string { return r.origins.packages[attr] }

// NixConfigField is the spec field that sets the nixConfig setting key
// (see Spec.NixConfigField), or "".
func (r *Resolved) NixConfigField(key string) string { return r.origins.nixConfig[key] }

// findOrigins finds where in the spec s the values of r came from.
func (r *Resolved) findOrigins(s *Spec) {
	o := origins{src: s.src, packages: map[string]string{}, nixConfig: map[string]string{}}
	r.origins = o
	lists := []struct {
		path  string
		attrs []string
	}{
		{"system.packages", s.System.Packages},
		{"packages", s.Packages},
		{"images." + r.Target + ".packages", s.Images[r.Target].Packages},
	}
	for _, l := range lists {
		for i, a := range l.attrs {
			f := fmt.Sprintf("%s[%d]", l.path, i)
			if _, seen := o.packages[a]; seen {
				continue
			}
			if _, ok := r.Position(f); ok {
				o.packages[a] = f
			}
		}
	}
	if _, seen := o.packages["nix"]; !seen && r.SystemNix == SystemNixNixpkgs {
		if _, ok := r.Position("system.nix"); ok {
			o.packages["nix"] = "system.nix"
		}
	}
	for k := range r.NixConfig {
		o.nixConfig[k] = s.NixConfigField(r.Target, k)
	}
}

// Resolve returns the build of target ("default" or "ssh").
func (s *Spec) Resolve(target string) (*Resolved, error) {
	if !slices.Contains(s.Targets(), target) {
		return nil, fmt.Errorf("unknown target %q: valid targets are %s", target, strings.Join(s.Targets(), ", "))
	}
	img := s.Images[target]
	pkgs := s.Nixpkgs
	nix := s.Nix
	nix.SystemSHA256 = maps.Clone(nix.SystemSHA256)
	pkgs.Config.PermittedInsecurePackages = slices.Clone(pkgs.Config.PermittedInsecurePackages)
	r := &Resolved{
		Target:            target,
		Nix:               nix,
		Nixpkgs:           pkgs,
		SystemNix:         s.System.Nix,
		SystemPackages:    slices.Clone(s.System.Packages),
		Substituters:      slices.Clone(s.Substituters),
		TrustedPublicKeys: slices.Clone(s.TrustedPublicKeys),
		NixConfig:         mergeMaps(s.NixConfig, img.NixConfig),
		AuthorizedKeys:    slices.Clone(img.AuthorizedKeys),
		Layers:            cmp.Or(img.Layers, s.Layers, DefaultLayers),
		Config:            mergeConfig(s.Config, img.Config),
		User:              img.User,
	}
	for _, e := range s.Expressions {
		r.Expressions = append(r.Expressions, Expression{File: e.File, Attrs: slices.Clone(e.Attrs), Include: slices.Clone(e.Include)})
	}
	if r.User.IsSet() && r.User.GID == 0 {
		r.User.GID = r.User.UID
	}
	if r.SystemNix == SystemNixNixpkgs {
		r.SystemPackages = appendUnique([]string{"nix"}, r.SystemPackages...)
	}
	withDefaults := target == TargetDefault
	if img.DefaultPackages != nil {
		withDefaults = *img.DefaultPackages
	}
	if withDefaults {
		r.Packages = appendUnique(r.Packages, DefaultImagePackages...)
	}
	r.Packages = appendUnique(r.Packages, s.Packages...)
	r.Packages = appendUnique(r.Packages, img.Packages...)
	r.SSHServer = target == TargetSSH
	if r.SSHServer {
		r.SystemPackages = appendUnique(r.SystemPackages, "openssh")
		if r.Config.ExposedPorts == nil {
			r.Config.ExposedPorts = []string{"22/tcp"}
		}
	}
	var attrs []string
	for _, p := range r.Packages {
		if attr, ok := strings.CutPrefix(p, FlakePrefix); ok {
			r.FlakePackages = append(r.FlakePackages, attr)
		} else {
			attrs = append(attrs, p)
		}
	}
	r.Packages = attrs
	if len(r.FlakePackages) > 0 {
		r.Flake = s.Flake
	}
	r.findOrigins(s)
	return r, nil
}

// appendUnique appends the items not already in list, keeping order.
func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// mergeMaps returns base with over's entries on top, or nil if both are
// empty.
func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, over)
	return m
}

// mergeConfig lays an image's config over the top-level one: scalars and
// lists the image sets replace (an explicit empty list clears), maps merge
// key by key.
func mergeConfig(base, over ImageConfig) ImageConfig {
	c := ImageConfig{
		Env:          mergeMaps(base.Env, over.Env),
		Cmd:          slices.Clone(base.Cmd),
		Entrypoint:   slices.Clone(base.Entrypoint),
		User:         base.User,
		WorkingDir:   base.WorkingDir,
		Labels:       mergeMaps(base.Labels, over.Labels),
		ExposedPorts: slices.Clone(base.ExposedPorts),
	}
	if over.Cmd != nil {
		c.Cmd = slices.Clone(over.Cmd)
	}
	if over.Entrypoint != nil {
		c.Entrypoint = slices.Clone(over.Entrypoint)
	}
	if over.User != "" {
		c.User = over.User
	}
	if over.WorkingDir != "" {
		c.WorkingDir = over.WorkingDir
	}
	if over.ExposedPorts != nil {
		c.ExposedPorts = slices.Clone(over.ExposedPorts)
	}
	return c
}

// FlakePrefix starts a package that is an output of the spec's flake.
const FlakePrefix = ".#"

// ContextPaths are the paths of the build context the expressions and the
// flake need: their files and includes, the flake's directory ("." being
// the whole context), sorted, without duplicates; nil without
// expressions.
func (r *Resolved) ContextPaths() []string {
	var paths []string
	if r.Flake != "" {
		paths = append(paths, r.Flake)
	}
	for _, e := range r.Expressions {
		paths = append(paths, e.File)
		paths = append(paths, e.Include...)
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}
