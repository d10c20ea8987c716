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
	image, build, err := llbgen.Systems(*opt)
	if err != nil {
		return fmt.Errorf("nix-image: %w", err)
	}
	// The releases the build needs (the builder's, and the image's when
	// it holds one of another system) may each come from a named context
	// of their own.
	systems := []string{build}
	if image != build && r.SystemNix == spec.SystemNixRelease {
		systems = append(systems, image)
	}
	var download []string
	for _, system := range systems {
		st, err := namedContext(ctx, bc, llbgen.SystemContextName(system), opt)
		if err != nil {
			return err
		}
		if st != nil {
			if opt.NixSystemContexts == nil {
				opt.NixSystemContexts = map[string]llb.State{}
			}
			opt.NixSystemContexts[system] = *st
		} else {
			download = append(download, system)
		}
	}
	if opt.NixContext != nil || r.Nix.URL != "" || len(download) == 0 {
		return nil
	}
	return loadInstallHashes(ctx, c, bc, r, opt, image, download)
}

// loadInstallHashes reads, for a spec that pins Nix by version only, the
// sha256 of each system's release tarball from the official install
// script: the image's (Options.NixSHA256) and the builder's
// (Options.BuildNixSHA256).
func loadInstallHashes(ctx context.Context, c client.Client, bc *dockerui.Client, r *spec.Resolved, opt *llbgen.Options, image string, systems []string) error {
	ref, err := solve(ctx, c, bc, llbgen.InstallScript(r.Nix, *opt), opt.Platform)
	if err != nil {
		return fmt.Errorf("nix-image: fetching the install script of Nix %s: %w", r.Nix.Version, err)
	}
	script, err := ref.ReadFile(ctx, client.ReadRequest{Filename: llbgen.InstallScriptName})
	if err != nil {
		return fmt.Errorf("nix-image: reading the install script of Nix %s: %w", r.Nix.Version, err)
	}
	for _, system := range systems {
		sum, err := llbgen.ParseInstallHash(script, system)
		if err != nil {
			return fmt.Errorf("nix-image: Nix %s: %s: %w", r.Nix.Version, llbgen.InstallScriptURL(r.Nix), err)
		}
		if system == image {
			opt.NixSHA256 = sum
		} else {
			opt.BuildNixSHA256 = sum
		}
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
