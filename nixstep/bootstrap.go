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

var nixPathName = regexp.MustCompile(`^[0-9a-z]{32}-nix-\d`)

// installBootstrap copies the store paths of an unpacked Nix release
// (store/ and .reginfo, the official tarball's layout) into /nix/store,
// which is the step's persistent cache mount, and registers them with
// the environment env. Paths
// that are already there (from an earlier build) are kept: a path is
// copied under a temporary name and renamed, so an interrupted build never
// leaves a half-copied store path behind.
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
	for _, name := range names {
		src := filepath.Join(dir, "store", name)
		dst := filepath.Join(storeDir, name)
		if _, err := os.Lstat(dst); err != nil {
			tmp := filepath.Join(storeDir, ".nix-image-tmp-"+name)
			if err := os.RemoveAll(tmp); err != nil {
				return b, fmt.Errorf("installing bootstrap Nix: %w", err)
			}
			if err := CopyTree(src, tmp); err != nil {
				return b, fmt.Errorf("installing bootstrap Nix: %w", err)
			}
			if err := os.Rename(tmp, dst); err != nil {
				return b, fmt.Errorf("installing bootstrap Nix: %w", err)
			}
		}
		if b.nix == "" && nixPathName.MatchString(name) && exists(filepath.Join(dst, "bin", "nix-store")) {
			b.nix = dst
		}
		if b.caBundle == "" && exists(filepath.Join(dst, "etc/ssl/certs/ca-bundle.crt")) {
			b.caBundle = filepath.Join(dst, "etc/ssl/certs/ca-bundle.crt")
		}
	}
	if b.nix == "" {
		return b, fmt.Errorf("the Nix release has no store path named nix-<version> with bin/nix-store")
	}
	reginfo, err := os.ReadFile(filepath.Join(dir, ".reginfo"))
	if err != nil {
		return b, fmt.Errorf("reading the Nix release's registration: %w", err)
	}
	if _, err := run(ctx, env, reginfo, filepath.Join(b.nix, "bin", "nix-store"), "--load-db"); err != nil {
		return b, fmt.Errorf("registering the bootstrap Nix: %w", err)
	}
	return b, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
