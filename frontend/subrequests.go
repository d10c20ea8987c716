package frontend

import (
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/spec"
)

var targetDescriptions = map[string]string{
	spec.TargetDefault: "interactive Nix image: nix, bash, coreutils, common tools and the pinned nixpkgs channel",
	spec.TargetSSH:     "Nix remote builder: the Nix image with sshd, root login by key only",
}

// listTargets answers --call targets.
func listTargets(s *spec.Spec, sm *llb.SourceMap) *targets.List {
	l := &targets.List{Sources: [][]byte{sm.Data}}
	for _, t := range s.Targets() {
		l.Targets = append(l.Targets, targets.Target{
			Name:        t,
			Default:     t == spec.TargetDefault,
			Description: targetDescriptions[t],
			Location:    location(s, "images."+t),
		})
	}
	return l
}

// buildArgs are the build args a spec value can be overridden with.
var buildArgs = []struct{ name, field, description string }{
	{"NIX_VERSION", "nix.version", "Nix release to install"},
	{"NIX_RELEASES", "nix.releases", "base URL of Nix releases"},
	{"NIX_URL", "nix.url", "URL of a Nix release tarball (with NIX_SHA256)"},
	{"NIX_SHA256", "nix.sha256", "sha256 of the Nix release tarball"},
	{"NIXPKGS_URL", "nixpkgs.url", "URL of the nixpkgs tarball"},
	{"NIXPKGS_SHA256", "nixpkgs.sha256", "sha256 of the nixpkgs tarball"},
	{"SUBSTITUTERS", "substituters", "binary caches, space-separated"},
	{"TRUSTED_PUBLIC_KEYS", "trustedPublicKeys", "keys of the binary caches, space-separated"},
	{"EXTRA_PACKAGES", "packages", "nixpkgs attributes added to root's profile, space-separated"},
	{"SOURCE_DATE_EPOCH", "", "Unix time written into the image (default 0)"},
	{argMergeOp, "", "false: stack the layers with copies instead of MergeOp"},
}

// outlineOf answers --call outline: the build args a user may set, with
// their current values, and the cache mount the build uses.
func outlineOf(s *spec.Spec, target string, bc *dockerui.Client, sm *llb.SourceMap) *outline.Outline {
	o := &outline.Outline{
		Name:        target,
		Description: targetDescriptions[target],
		Sources:     [][]byte{sm.Data},
	}
	r, err := s.Resolve(target)
	for _, a := range buildArgs {
		arg := outline.Arg{Name: a.name, Description: a.description, Value: bc.BuildArgs[a.name]}
		if arg.Value == "" && err == nil {
			arg.Value = currentValue(r, a.name)
		}
		if a.field != "" {
			arg.Location = location(s, a.field)
		}
		o.Args = append(o.Args, arg)
	}
	o.Cache = []outline.CacheMount{{ID: "nix-image/nix (the /nix store of the realise step)"}}
	return o
}

func currentValue(r *spec.Resolved, name string) string {
	switch name {
	case "NIX_VERSION":
		return r.Nix.Version
	case "NIX_RELEASES":
		return r.Nix.Releases
	case "NIX_URL":
		return r.Nix.URL
	case "NIX_SHA256":
		return r.Nix.SHA256
	case "NIXPKGS_URL":
		return r.Nixpkgs.URL
	case "NIXPKGS_SHA256":
		return r.Nixpkgs.SHA256
	case "SUBSTITUTERS":
		return strings.Join(r.Substituters, " ")
	case "TRUSTED_PUBLIC_KEYS":
		return strings.Join(r.TrustedPublicKeys, " ")
	}
	return ""
}

// location points at a spec field, for subrequest answers.
func location(s *spec.Spec, path string) *pb.Location {
	pos, ok := s.Position(path)
	if !ok {
		return nil
	}
	return &pb.Location{Ranges: []*pb.Range{{
		Start: &pb.Position{Line: int32(pos.Line)},
		End:   &pb.Position{Line: int32(pos.Line)},
	}}}
}
