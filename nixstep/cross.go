package nixstep

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// An image for another system than the builder's (RealiseConfig.System
// and BuildSystem differ) is realised by the builder's own Nix: every
// evaluation is for the image's system, its store paths are substituted
// (substitution has no platform check), the profiles are Nix's built-in
// buildenv and the channel is written by nix-image, so nothing of the
// image's system ever runs. A derivation that no substituter has cannot
// be built (Nix refuses another system's derivations) unless
// ForeignBuilds lets the host's emulation run it.

// cross reports whether the image is for another system than the
// builder's.
func (r *realiser) cross() bool { return r.buildSystem() != r.cfg.System }

// buildSystem is the builder's Nix system type.
func (r *realiser) buildSystem() string {
	if r.cfg.BuildSystem == "" {
		return r.cfg.System
	}
	return r.cfg.BuildSystem
}

// releaseSource names the image's Nix release in errors.
func (r *realiser) releaseSource() string {
	if r.cfg.ImageReleaseSource != "" {
		return r.cfg.ImageReleaseSource
	}
	return r.cfg.ReleaseSource
}

// alwaysAllowSubstitutesSince is the first Nix with the setting
// always-allow-substitutes, which also substitutes the derivations that
// nixpkgs marks allowSubstitutes = false (trivial builders), instead of
// building them.
const alwaysAllowSubstitutesSince = "2.19"

// prepareCross installs the image's release and configures the
// bootstrap Nix for an image of another system: no-op for an image of
// the builder's system.
func (r *realiser) prepareCross(ctx context.Context) error {
	if !r.cross() {
		return nil
	}
	if r.cfg.Flake != nil {
		return fmt.Errorf("flake %s (%s): the packages of a flake are not built for an image of another system than the builder's yet "+
			"(the image is for %s, the builder is %s): build this image on a builder of %s "+
			"(a node of it: docker buildx create --append), or take its packages from nixpkgs",
			r.cfg.Flake.Dir, r.cfg.Flake.Where, r.cfg.System, r.buildSystem(), r.cfg.System)
	}
	if err := r.installImageRelease(ctx); err != nil {
		return err
	}
	var conf []string
	version, err := r.nixVersion(ctx)
	if err != nil {
		return err
	}
	if compareVersions(version, alwaysAllowSubstitutesSince) >= 0 {
		conf = append(conf, "always-allow-substitutes = true")
	}
	if r.cfg.ForeignBuilds {
		// Nix then builds the image's system's derivations here: the
		// kernel runs their programs through binfmt_misc, or fails.
		conf = append(conf, "extra-platforms = "+r.cfg.System)
	}
	if len(conf) == 0 {
		return nil
	}
	f, err := os.OpenFile(r.scratchPath("conf", "nix.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("realise: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(conf, "\n") + "\n"); err != nil {
		return fmt.Errorf("realise: writing nix.conf: %w", err)
	}
	return f.Close()
}

// installImageRelease puts the store paths of the image's release
// (ImageReleaseDir) into the store and registers them with the bootstrap
// Nix, running none of them: it becomes the release of the image (r.rel).
func (r *realiser) installImageRelease(ctx context.Context) error {
	if r.cfg.ImageReleaseSource == "" {
		// system.nix: nixpkgs: the image holds no release.
		return nil
	}
	rel, err := installRelease(ImageReleaseDir, storeDir, releasesDir, r.cfg.ImageReleaseSource)
	if err != nil {
		return fmt.Errorf("the Nix release of the image (%s): %w", r.cfg.ImageReleaseSource, err)
	}
	nix, err := findBootstrap(rel)
	if err != nil {
		return fmt.Errorf("the Nix release of the image (%s): %w", r.cfg.ImageReleaseSource, err)
	}
	if err := registerRelease(ctx, r.env, r.boot.nix, rel); err != nil {
		return fmt.Errorf("the Nix release of the image (%s): %w", r.cfg.ImageReleaseSource, err)
	}
	r.rel, r.releaseNix = rel, nix.nix
	return nil
}

// nixVersion is the version of the bootstrap Nix.
func (r *realiser) nixVersion(ctx context.Context) (string, error) {
	out, err := r.nixOutput(ctx, nil, "nix-instantiate", "--eval", "--json", "-E", "builtins.nixVersion")
	if err != nil {
		return "", fmt.Errorf("reading the version of Nix: %w", err)
	}
	var v string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return "", fmt.Errorf("reading the version of Nix: unexpected answer %q", out)
	}
	return v, nil
}

// imageNixpkgs returns what <nixpkgs> is for the local expressions: the
// pinned nixpkgs itself, or, for an image of another system, a tree of
// links to it whose default.nix imports it for the image's system, so
// that `import <nixpkgs> {}` in them is the image's package set (and
// <nixpkgs/lib> still works).
func (r *realiser) imageNixpkgs(nixpkgs string) (string, error) {
	if !r.cross() {
		return nixpkgs, nil
	}
	dir := r.scratchPath("nixpkgs-" + r.cfg.System)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("realise: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("realise: %w", err)
	}
	entries, err := os.ReadDir(nixpkgs)
	if err != nil {
		return "", fmt.Errorf("realise: reading nixpkgs: %w", err)
	}
	for _, e := range entries {
		if e.Name() == "default.nix" {
			continue
		}
		if err := os.Symlink(filepath.Join(nixpkgs, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return "", fmt.Errorf("realise: %w", err)
		}
	}
	def := fmt.Sprintf("# Written by nix-image: nixpkgs for %s, the image's system.\nargs: import %s ({ system = %s; } // args)\n",
		r.cfg.System, nixpkgs, nixString(r.cfg.System))
	if err := os.WriteFile(filepath.Join(dir, "default.nix"), []byte(def), 0o644); err != nil {
		return "", fmt.Errorf("realise: %w", err)
	}
	return dir, nil
}

// foreignBuildHelp explains, for an image of another system, why the
// derivations built failed and what makes the build work.
func (r *realiser) foreignBuildHelp(subs, built []string, pkgs []Package) string {
	var asked []string
	for _, p := range pkgs {
		asked = append(asked, fmt.Sprintf("%s (%s)", p.Attr, p.Where))
	}
	if r.cfg.ForeignBuilds {
		return fmt.Sprintf("none of the substituters (%s) has these store paths of %s, needed by %s, and building them through the host's emulation "+
			"(NIX_IMAGE_FOREIGN_BUILDS) failed; \"Exec format error\" means the host has no binfmt_misc emulation of %s "+
			"(docker run --privileged --rm tonistiigi/binfmt --install all):\n  %s",
			strings.Join(subs, ", "), r.cfg.System, strings.Join(asked, ", "), r.cfg.System, strings.Join(built, "\n  "))
	}
	return fmt.Sprintf("the image is for %s, and the builder is %s: nix-image runs nothing of %s on it, so every store path of the image "+
		"must come from a binary cache, but none of the substituters (%s) has these, needed by %s:\n  %s\n"+
		"Remedies: a substituter that has them (substituters, or nixConfig.extra-substituters with its key); "+
		"a builder node of %s, which builds the image natively (docker buildx create --append --name BUILDER --platform %s ...); "+
		"or the build arg NIX_IMAGE_FOREIGN_BUILDS=true, which lets Nix build them on this builder through the host's binfmt_misc emulation (QEMU: slow)",
		r.cfg.System, r.buildSystem(), r.cfg.System, strings.Join(subs, ", "), strings.Join(asked, ", "), strings.Join(built, "\n  "),
		r.cfg.System, r.cfg.Platform)
}
