package frontend

import (
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

var targetDescriptions = map[string]string{
	spec.TargetDefault: "interactive Nix image: nix, bash, coreutils, common tools and the pinned nixpkgs channel",
	spec.TargetSSH:     "Nix remote builder: the Nix image with sshd, root login by key only",
}

// listTargets answers --call targets.
func listTargets(s *spec.Spec, sm *llbgen.SourceMap) *targets.List {
	l := &targets.List{Sources: [][]byte{sm.Data()}}
	for _, t := range s.Targets() {
		l.Targets = append(l.Targets, targets.Target{
			Name:        t,
			Default:     t == spec.TargetDefault,
			Description: targetDescriptions[t],
			Location:    sm.Location("images." + t),
		})
	}
	return l
}

// outlineOf answers --call outline: the build args a user may set, with
// their current values, the build secrets it reads and the cache mount it
// uses.
func outlineOf(s *spec.Spec, target string, bc *dockerui.Client, sm *llbgen.SourceMap) *outline.Outline {
	o := &outline.Outline{
		Name:        target,
		Description: targetDescriptions[target],
		Sources:     [][]byte{sm.Data()},
	}
	r, err := s.Resolve(target)
	for _, a := range spec.BuildArgs {
		arg := outline.Arg{Name: a.Name, Description: a.Description, Value: bc.BuildArgs[a.Name]}
		if arg.Value == "" && err == nil && a.Value != nil {
			arg.Value = a.Value(r)
		}
		if a.Field != "" {
			arg.Location = sm.Location(a.Field)
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
