package llbgen

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// nixTarballSHA256 is the sha256 the release tarball must have.
func nixTarballSHA256(r *spec.Resolved, opt Options) string {
	if r.Nix.URL != "" {
		return r.Nix.SHA256
	}
	return opt.NixSHA256
}

// nixRelease returns the Nix release as the realise step unpacks it: the
// named context `nix`, or the official tarball, checksum-verified.
func nixRelease(s *spec.Spec, r *spec.Resolved, system string, opt Options) (llb.State, error) {
	if opt.NixContext != nil {
		return *opt.NixContext, nil
	}
	sum := nixTarballSHA256(r, opt)
	if sum == "" {
		return llb.State{}, fmt.Errorf("no sha256 for the Nix %s tarball of %s", r.Nix.Version, system)
	}
	field := "nix.version"
	if r.Nix.URL != "" {
		field = "nix.url"
	}
	return fetch(ReleaseTarballURL(r.Nix, system), sum, "nix.tar", locate(s, opt, field)...), nil
}

// nixpkgsSource returns the named context `nixpkgs` or the pinned tarball.
func nixpkgsSource(s *spec.Spec, r *spec.Resolved, opt Options) llb.State {
	if opt.NixpkgsContext != nil {
		return *opt.NixpkgsContext
	}
	return fetch(r.Nixpkgs.URL, r.Nixpkgs.SHA256, "nixpkgs.tar", locate(s, opt, "nixpkgs.url")...)
}

// nixReleaseSource names the Nix release in the realise step's errors.
func nixReleaseSource(s *spec.Spec, r *spec.Resolved, system string, opt Options) string {
	if opt.NixContext != nil {
		return `the named context "nix"`
	}
	field := "nix.version"
	if r.Nix.URL != "" {
		field = "nix.url"
	}
	return describeURL(ReleaseTarballURL(r.Nix, system), where(s, opt, field))
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

// prepare unpacks a source (described in errors by source) into a tree
// whose root holds marker, with the frontend binary (Go decompressors: no
// xz needed on the daemon's host).
func prepare(opt Options, name string, src llb.State, marker, source string) llb.State {
	const in, out = "/in", "/out"
	run := llb.Scratch().Run(
		llb.Args([]string{nixstep.ToolDir + ToolBinary, "step", "prepare", "--marker", marker, "--source", source, in, out}),
		llb.AddMount(nixstep.ToolDir, opt.Tool, llb.Readonly),
		llb.AddMount(in, src, llb.Readonly),
		llb.Network(pb.NetMode_NONE),
		llb.WithCustomName("[nix-image] unpack "+name),
	)
	return run.AddMount(out, llb.Scratch())
}

// packages pairs attributes with the spec location that asked for them.
func packages(s *spec.Spec, r *spec.Resolved, opt Options, attrs []string) []nixstep.Package {
	pkgs := make([]nixstep.Package, len(attrs))
	for i, a := range attrs {
		pkgs[i] = nixstep.Package{Attr: a, Where: packageWhere(s, r, opt, a)}
	}
	return pkgs
}

// packageWhere finds the spec entry that names attr.
func packageWhere(s *spec.Spec, r *spec.Resolved, opt Options, attr string) string {
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
			if a == attr {
				if w := where(s, opt, fmt.Sprintf("%s[%d]", l.path, i)); w != "" {
					return w
				}
			}
		}
	}
	return "default package of the " + r.Target + " image"
}

// where describes a spec field as FILE:LINE:COL (path), or "" when the
// field is not in the source (a default).
func where(s *spec.Spec, opt Options, path string) string {
	pos, ok := s.Position(path)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d (%s)", opt.Filename, pos.Line, pos.Col, path)
}

// locate attaches the source location of a spec field to a step, so that
// buildx prints the YAML line when the step fails.
func locate(s *spec.Spec, opt Options, path string) []llb.ConstraintsOpt {
	pos, ok := s.Position(path)
	if !ok || opt.SourceMap == nil {
		return nil
	}
	return []llb.ConstraintsOpt{opt.SourceMap.Location([]*pb.Range{{
		Start: &pb.Position{Line: int32(pos.Line)},
		End:   &pb.Position{Line: int32(pos.Line)},
	}})}
}
