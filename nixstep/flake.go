package nixstep

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Flake is a flake of the build context (its directory under ContextDir)
// and the outputs of it to install.
type Flake struct {
	Dir string `json:"dir"`
	// Packages are the installables' attributes (`.#ATTR` without `.#`),
	// each with the spec entry that names it.
	Packages []Package `json:"packages"`
	// Where names the spec field flake, for errors.
	Where string `json:"where,omitempty"`
}

// installFlake builds the flake's packages with `nix build` (which finds
// .#ATTR as packages.<system>.ATTR, then legacyPackages.<system>.ATTR) and
// installs their outputs into profile. The flake is read as a path: flake
// (path:DIR), whether or not the context holds a .git, and its flake.lock
// is required, never updated nor written: inputs are the locked ones,
// substituted or fetched.
func (r *realiser) installFlake(ctx context.Context, profile string) (string, error) {
	f := r.cfg.Flake
	dir := filepath.Join(ContextDir, f.Dir)
	lock := filepath.Join(f.Dir, "flake.lock")
	if _, err := os.Stat(filepath.Join(dir, "flake.nix")); err != nil {
		return "", fmt.Errorf("flake %s (%s): %s is not in the build context (or .dockerignore leaves it out)", f.Dir, f.Where, filepath.Join(f.Dir, "flake.nix"))
	}
	if _, err := os.Stat(filepath.Join(dir, "flake.lock")); err != nil {
		return "", fmt.Errorf("flake %s (%s): %s is missing: nix-image builds a flake only with its inputs locked; run `nix flake lock` and add the file", f.Dir, f.Where, lock)
	}
	// --no-update-lock-file alone: with --no-write-lock-file as well, Nix
	// (2.8) only warns about a stale lock and builds with other inputs.
	args := []string{"--extra-experimental-features", "nix-command flakes", "build", "--no-link", "--json",
		"--no-update-lock-file"}
	for _, p := range f.Packages {
		args = append(args, "path:"+dir+"#"+p.Attr)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(r.boot.nix, "bin", "nix"), args...)
	cmd.Env = r.profileEnv(profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
	if err := cmd.Run(); err != nil {
		var attrs []string
		for _, p := range f.Packages {
			attrs = append(attrs, ".#"+p.Attr+" ("+p.Where+")")
		}
		if strings.Contains(stderr.String(), "requires lock file changes") {
			return "", fmt.Errorf("flake %s (%s): %s is stale: it does not lock the inputs flake.nix declares; run `nix flake lock` and commit it (nix-image never writes it)", f.Dir, f.Where, lock)
		}
		return "", fmt.Errorf("building %s of the flake %s (%s): %w", strings.Join(attrs, ", "), f.Dir, f.Where, err)
	}
	var built []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &built); err != nil {
		return "", fmt.Errorf("building the flake %s: unexpected answer of nix build %q: %w", f.Dir, stdout.String(), err)
	}
	var paths []string
	for _, b := range built {
		for _, out := range b.Outputs {
			paths = append(paths, out)
		}
	}
	sort.Strings(paths)
	if err := r.profileNixEnv(ctx, profile, append([]string{"-p", profile, "-i"}, paths...)...); err != nil {
		return "", fmt.Errorf("installing the flake's packages: %w", err)
	}
	gen, err := filepath.EvalSymlinks(profile)
	if err != nil {
		return "", fmt.Errorf("reading profile %s: %w", profile, err)
	}
	return gen, nil
}
