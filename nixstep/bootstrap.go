package nixstep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// bootstrap is the Nix of the release tarball, installed in /nix/store.
type bootstrap struct {
	nix      string // store path of Nix itself
	caBundle string // a CA bundle from the release, if it has one
}

var (
	nixPathName = regexp.MustCompile(`^[0-9a-z]{32}-nix-\d`)
	// installNix is the line of a release's install script that names its
	// Nix: nix="@nix@" in the official script, substituted.
	installNix = regexp.MustCompile(`(?m)^\s*nix="?/nix/store/([0-9a-z]{32}-[^"\s/]+)"?\s*$`)
)

// releaseNix names the store path of Nix itself in an unpacked release:
// the one its install script names, else one named nix-<version>, else
// any with bin/nix-store (newer releases split Nix into several paths).
func releaseNix(dir string, names []string) (string, error) {
	hasNixStore := func(name string) bool { return exists(filepath.Join(dir, "store", name, "bin", "nix-store")) }
	if script, err := os.ReadFile(filepath.Join(dir, "install")); err == nil {
		if m := installNix.FindSubmatch(script); m != nil && hasNixStore(string(m[1])) {
			return string(m[1]), nil
		}
	}
	var any string
	for _, name := range names {
		if !hasNixStore(name) {
			continue
		}
		if nixPathName.MatchString(name) {
			return name, nil
		}
		if any == "" {
			any = name
		}
	}
	if any == "" {
		return "", fmt.Errorf("the Nix release has no store path with bin/nix-store")
	}
	return any, nil
}

// installBootstrap copies the store paths of an unpacked Nix release
// (store/ and .reginfo, the official tarball's layout) into /nix/store,
// which is the step's persistent cache mount, and registers them with
// the environment env. Paths that are already there (from an earlier
// build) are kept.
func installBootstrap(ctx context.Context, dir string, env []string) (bootstrap, error) {
	var b bootstrap
	entries, err := os.ReadDir(filepath.Join(dir, "store"))
	if err != nil {
		return b, fmt.Errorf("reading the Nix release: %w", err)
	}
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return b, fmt.Errorf("creating %s: %w", storeDir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	err = parallel(len(names), func(i int) error {
		return installPath(filepath.Join(dir, "store", names[i]), filepath.Join(storeDir, names[i]))
	})
	if err != nil {
		return b, fmt.Errorf("installing bootstrap Nix: %w", err)
	}
	for _, name := range names {
		if bundle := filepath.Join(storeDir, name, "etc/ssl/certs/ca-bundle.crt"); exists(bundle) {
			b.caBundle = bundle
			break
		}
	}
	nix, err := releaseNix(dir, names)
	if err != nil {
		return b, err
	}
	b.nix = filepath.Join(storeDir, nix)
	reginfo, err := os.ReadFile(filepath.Join(dir, ".reginfo"))
	if err != nil {
		return b, fmt.Errorf("reading the Nix release's registration: %w", err)
	}
	if _, err := run(ctx, env, reginfo, filepath.Join(b.nix, "bin", "nix-store"), "--load-db"); err != nil {
		return b, fmt.Errorf("registering the bootstrap Nix: %w", err)
	}
	return b, nil
}

// installPath copies the store path src to dst unless dst exists, under a
// temporary name first, so that an interrupted build never leaves a
// half-copied store path behind.
func installPath(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(dst), ".nix-image-tmp-"+filepath.Base(dst))
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := CopyTree(src, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
