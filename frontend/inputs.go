package frontend

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/spec"
)

// Named contexts that replace downloads (--build-context NAME=...), for
// air-gapped builds and mirrors.
const (
	ContextNix     = "nix"
	ContextNixpkgs = "nixpkgs"
)

// loadInputs resolves what llbgen needs from the daemon: the ssh image's
// build secret, the build context of the local expressions, the named
// contexts and, for a spec that pins Nix by
// version only, the release tarball's sha256 from the official install
// script.
func loadInputs(ctx context.Context, c client.Client, bc *dockerui.Client, r *spec.Resolved, opt *llbgen.Options) error {
	if err := loadAuthorizedKeys(ctx, c, bc, r, opt); err != nil {
		return err
	}
	var err error
	if llbgen.NeedsContext(r) {
		// Only the files the expressions and the flake need,
		// .dockerignore applied.
		var opts []llb.LocalOption
		if patterns := llbgen.ContextPatterns(r); patterns != nil {
			opts = append(opts, llb.IncludePatterns(patterns))
		}
		if opt.Context, err = bc.MainContext(ctx, opts...); err != nil {
			return fmt.Errorf("nix-image: the build context of the expressions: %w", err)
		}
	}
	if opt.NixContext, err = namedContext(ctx, bc, ContextNix, opt); err != nil {
		return err
	}
	if opt.NixpkgsContext, err = namedContext(ctx, bc, ContextNixpkgs, opt); err != nil {
		return err
	}
	if opt.NixContext != nil || r.Nix.URL != "" {
		return nil
	}
	system, err := llbgen.NixSystem(opt.Platform)
	if err != nil {
		return fmt.Errorf("nix-image: %w", err)
	}
	ref, err := solve(ctx, c, bc, llbgen.InstallScript(r.Nix, *opt), opt.Platform)
	if err != nil {
		return fmt.Errorf("nix-image: fetching the install script of Nix %s: %w", r.Nix.Version, err)
	}
	script, err := ref.ReadFile(ctx, client.ReadRequest{Filename: llbgen.InstallScriptName})
	if err != nil {
		return fmt.Errorf("nix-image: reading the install script of Nix %s: %w", r.Nix.Version, err)
	}
	if opt.NixSHA256, err = llbgen.ParseInstallHash(script, system); err != nil {
		return fmt.Errorf("nix-image: Nix %s: %s: %w", r.Nix.Version, llbgen.InstallScriptURL(r.Nix), err)
	}
	return nil
}

func namedContext(ctx context.Context, bc *dockerui.Client, name string, opt *llbgen.Options) (*llb.State, error) {
	nc, err := bc.NamedContext(name, dockerui.ContextOpt{Platform: &opt.Platform})
	if err != nil {
		return nil, fmt.Errorf("nix-image: named context %s: %w", name, err)
	}
	if nc == nil {
		return nil, nil
	}
	st, _, err := nc.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("nix-image: loading named context %s: %w", name, err)
	}
	return st, nil
}
