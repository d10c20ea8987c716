package llbgen

import (
	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// buildNixConfig gives the realise step the spec's nixConfig settings that
// apply while building (spec.BuildNixConfigKeys).
func buildNixConfig(s *spec.Spec, r *spec.Resolved, opt Options, cfg *nixstep.RealiseConfig) {
	cfg.NixConfig = r.BuildNixConfig()
	if f := s.NixConfigField(r.Target, "extra-substituters"); f != "" {
		cfg.ExtraSubstitutersWhere = where(s, opt, f)
	}
}

// realiseSecrets mounts the build secrets of the realise step
// (nixstep.RealiseSecrets), each optional, at nixstep.SecretPath. Only
// their ids are in the LLB: BuildKit hands their content to the step's
// container (a tmpfs file) and keys no cache on it, so the step's cache
// key is the same with or without them and a changed secret does not
// re-run the step.
func realiseSecrets() llb.RunOption {
	var opts runOptions
	for _, id := range nixstep.RealiseSecrets {
		opts = append(opts, llb.AddSecret(nixstep.SecretPath(id), llb.SecretID(id), llb.SecretOptional))
	}
	return opts
}

// runOptions applies several run options as one.
type runOptions []llb.RunOption

func (o runOptions) SetRunOption(ei *llb.ExecInfo) {
	for _, opt := range o {
		opt.SetRunOption(ei)
	}
}
