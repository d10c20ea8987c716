package nixstep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Expression is a Nix file of the build context (under ContextDir) and
// the attributes of its value to install.
type Expression struct {
	File  string   `json:"file"`
	Attrs []string `json:"attrs"`
	// Where names the spec entry, for errors.
	Where string `json:"where,omitempty"`
}

// installExpressions installs the attributes of the local expressions into
// profile, after the packages, and returns its last generation. Each file
// is evaluated as nix-env -f does (a function is called with its
// defaults), with <nixpkgs> the pinned nixpkgs and NIXPKGS_CONFIG the
// spec's nixpkgs config, so that `import <nixpkgs> {}` in it is the
// package set of the image.
func (r *realiser) installExpressions(ctx context.Context, nixpkgs, profile string) (string, error) {
	config := r.scratchPath("nixpkgs-config.nix")
	if err := os.WriteFile(config, []byte(r.pkgsConfig+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("realise: writing the nixpkgs config: %w", err)
	}
	pkgsPath, err := r.imageNixpkgs(nixpkgs)
	if err != nil {
		return "", err
	}
	env := append(r.profileEnv(profile),
		"NIX_PATH=nixpkgs="+pkgsPath,
		"NIXPKGS_CONFIG="+config,
	)
	for _, e := range r.cfg.Expressions {
		file := filepath.Join(ContextDir, e.File)
		if _, err := os.Stat(file); err != nil {
			return "", fmt.Errorf("local expression %s (%s): %s is not in the build context (or .dockerignore leaves it out)", e.File, e.Where, e.File)
		}
		// A function is called with system, if it takes it, as nixpkgs is.
		args := append([]string{"-p", profile, "-f", file, "--argstr", "system", r.cfg.System, "-iA"}, e.Attrs...)
		if _, err := run(ctx, env, nil, filepath.Join(r.boot.nix, "bin", "nix-env"), args...); err != nil {
			err = fmt.Errorf("installing %v of the local expression %s (%s): %w", e.Attrs, e.File, e.Where, err)
			if r.cross() {
				err = fmt.Errorf("%w\n(the image is for %s, the builder is %s: what the expression builds must be in a binary cache, "+
					"or the build arg NIX_IMAGE_FOREIGN_BUILDS=true lets the host's emulation build it)", err, r.cfg.System, r.buildSystem())
			}
			return "", err
		}
	}
	gen, err := filepath.EvalSymlinks(profile)
	if err != nil {
		return "", fmt.Errorf("reading profile %s: %w", profile, err)
	}
	return gen, nil
}
