package frontend

import (
	"maps"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
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

// buildArg is a build arg a user may set, the spec field it overrides
// and its current value.
type buildArg struct {
	name, field, description string
	value                    func(*spec.Resolved) string
}

func joined(l func(*spec.Resolved) []string) func(*spec.Resolved) string {
	return func(r *spec.Resolved) string { return strings.Join(l(r), " ") }
}

var buildArgs = []buildArg{
	{"NIX_VERSION", "nix.version", "Nix release: realises the image, and is its Nix unless system.nix is nixpkgs", func(r *spec.Resolved) string { return r.Nix.Version }},
	{"NIX_RELEASES", "nix.releases", "base URL of Nix releases", func(r *spec.Resolved) string { return r.Nix.Releases }},
	{"NIX_URL", "nix.url", "URL of a Nix release tarball (with NIX_SHA256)", func(r *spec.Resolved) string { return r.Nix.URL }},
	{"NIX_SHA256", "nix.sha256", "sha256 of the Nix release tarball (SYSTEM=SHA256 pairs for a NIX_URL with {system})", nixSHA256Arg},
	{"NIXPKGS_URL", "nixpkgs.url", "URL of the nixpkgs tarball", func(r *spec.Resolved) string { return r.Nixpkgs.URL }},
	{"NIXPKGS_SHA256", "nixpkgs.sha256", "sha256 of the nixpkgs tarball", func(r *spec.Resolved) string { return r.Nixpkgs.SHA256 }},
	{"NIXPKGS_NAR_HASH", "nixpkgs.narHash", "NAR hash of the unpacked nixpkgs tree (flake.lock narHash)", func(r *spec.Resolved) string { return r.Nixpkgs.NarHash }},
	{"SUBSTITUTERS", "substituters", "binary caches, space-separated", joined(func(r *spec.Resolved) []string { return r.Substituters })},
	{"TRUSTED_PUBLIC_KEYS", "trustedPublicKeys", "keys of the binary caches, space-separated", joined(func(r *spec.Resolved) []string { return r.TrustedPublicKeys })},
	{"EXTRA_PACKAGES", "packages", "nixpkgs attributes added to root's profile, space-separated", nil},
	{"SOURCE_DATE_EPOCH", "", "Unix time written into the image (default 0)", nil},
	{argMergeOp, "", "false: stack the layers with copies instead of MergeOp", nil},
	{argForeignBuilds, "", "true: an image for another platform than the builder's may build what no binary cache has, through the host's binfmt_misc emulation", nil},
	{spec.ArgHTTPProxy, "", "proxy for http:// substituters, used by the realise step (also http_proxy)", nil},
	{spec.ArgHTTPSProxy, "", "proxy for https:// substituters, used by the realise step (also https_proxy)", nil},
	{spec.ArgFTPProxy, "", "proxy for ftp:// downloads of the realise step (also ftp_proxy)", nil},
	{spec.ArgNoProxy, "", "hosts reached without the proxy, comma-separated (also no_proxy)", nil},
	{spec.ArgAllProxy, "", "proxy for the schemes without their own, e.g. socks5://host:1080 (also all_proxy)", nil},
}

// nixSHA256Arg is nix.sha256 as the build arg NIX_SHA256 gives it.
func nixSHA256Arg(r *spec.Resolved) string {
	if len(r.Nix.SystemSHA256) == 0 {
		return r.Nix.SHA256
	}
	var pairs []string
	for _, system := range slices.Sorted(maps.Keys(r.Nix.SystemSHA256)) {
		pairs = append(pairs, system+"="+r.Nix.SystemSHA256[system])
	}
	return strings.Join(pairs, " ")
}

// outlineOf answers --call outline: the build args a user may set, with
// their current values, the build secrets it reads and the cache mount it
// uses.
func outlineOf(s *spec.Spec, target string, bc *dockerui.Client, sm *llb.SourceMap) *outline.Outline {
	o := &outline.Outline{
		Name:        target,
		Description: targetDescriptions[target],
		Sources:     [][]byte{sm.Data},
	}
	r, err := s.Resolve(target)
	for _, a := range buildArgs {
		arg := outline.Arg{Name: a.name, Description: a.description, Value: bc.BuildArgs[a.name]}
		if arg.Value == "" && err == nil && a.value != nil {
			arg.Value = a.value(r)
		}
		if a.field != "" {
			arg.Location = location(s, a.field)
		}
		o.Args = append(o.Args, arg)
	}
	o.Cache = []outline.CacheMount{{ID: "nix-image/nix (the /nix store of the realise step)"}}
	// The realise step's build secrets, all optional.
	for _, id := range nixstep.RealiseSecrets {
		o.Secrets = append(o.Secrets, outline.Secret{Name: id})
	}
	return o
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
