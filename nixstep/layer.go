package nixstep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WriteLayer writes the layer of cfg.Paths into out, each path checked
// against its NAR hash and size: copied from the /nix cache (cache, the
// mount of CacheDir) when it holds the path intact, else from the Nix
// release (its own store paths) or substituted by the release's Nix into
// the step's private /nix (a tmpfs), as the realise step would.
func WriteLayer(ctx context.Context, cfg LayerConfig, cache, out string) error {
	var missing []LayerPath
	for _, p := range cfg.Paths {
		_, err := writeCheckedTree(filepath.Join(cache, "store"), out, p)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrNotExist), errors.Is(err, errMismatch):
			if !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(os.Stderr, "%v: getting it again\n", err)
			}
			missing = append(missing, p)
		default:
			return err
		}
	}
	if len(missing) > 0 {
		if err := fetchPaths(ctx, cfg, out, missing); err != nil {
			return err
		}
	}
	if cfg.Owner != nil {
		if err := chownTree(filepath.Join(out, "nix"), cfg.Owner.UID, cfg.Owner.GID); err != nil {
			return err
		}
	}
	return nil
}

// writeCheckedTree copies the store path p from the store directory store
// into the layer tree top, as top/nix/store/<name> (see writeStoreTree),
// and checks the copy against p's NAR hash and size; a copy that does not
// match is removed. It returns what the copy and the check cost.
func writeCheckedTree(store, top string, p LayerPath) (treeCost, error) {
	var cost treeCost
	name := filepath.Base(p.Path)
	src := filepath.Join(store, name)
	if _, err := os.Lstat(src); err != nil {
		return cost, err
	}
	dst := filepath.Join(top, storeDir, name)
	start := time.Now()
	err := writeStoreTree(src, top)
	copied := time.Now()
	cost.copy = copied.Sub(start)
	if err == nil {
		cost.size, err = checkPath(dst, PathInfo{Path: p.Path, NarHash: p.NarHash, NarSize: p.NarSize})
		cost.check = time.Since(copied)
	}
	if err != nil {
		if rerr := removeTree(dst); rerr != nil {
			return cost, fmt.Errorf("%w (and removing the copy: %v)", err, rerr)
		}
		return cost, err
	}
	return cost, nil
}

// treeCost is what writeCheckedTree spent on a store path: the bytes of
// NAR it checked, the time copying and the time checking.
type treeCost struct {
	size        int64
	copy, check time.Duration
}

// fetchPaths gets store paths the /nix cache lacks: the release's own from
// the release, the others from the substituters, with the release's Nix
// running on the step's private /nix.
func fetchPaths(ctx context.Context, cfg LayerConfig, out string, paths []LayerPath) error {
	var names []string
	for _, p := range paths {
		names = append(names, p.Path)
	}
	r, rel, err := layerNix(ctx, cfg)
	if err != nil {
		return fmt.Errorf("the /nix cache lacks %s; fetching them with the Nix release (%s): %w", strings.Join(names, ", "), cfg.ReleaseSource, err)
	}
	ofRelease := map[string]bool{}
	for _, n := range rel.names {
		ofRelease[filepath.Join(storeDir, n)] = true
	}
	var substitute []string
	for _, p := range paths {
		if !ofRelease[p.Path] {
			substitute = append(substitute, p.Path)
		}
	}
	if len(substitute) > 0 {
		fmt.Fprintf(os.Stderr, "the /nix cache lacks %d store paths of this layer: substituting them\n", len(substitute))
		if err := r.nix(ctx, "nix-store", append([]string{"--realise"}, substitute...)...); err != nil {
			return fmt.Errorf("the /nix cache lacks %s and the substituters (%s) could not give them: %w",
				strings.Join(substitute, ", "), strings.Join(cfg.Substituters, " "), err)
		}
	}
	for _, p := range paths {
		if _, err := writeCheckedTree(storeDir, out, p); err != nil {
			return fmt.Errorf("writing the layer of %s: %w", p.Path, err)
		}
	}
	return nil
}

// layerNix installs the release's Nix on the step's private /nix and
// returns it configured as the realise step's, with the release. A
// missing or broken release fails it before it writes any configuration.
func layerNix(ctx context.Context, cfg LayerConfig) (*realiser, release, error) {
	rel, err := installRelease(ReleaseDir, storeDir, releasesDir, cfg.ReleaseSource)
	if err != nil {
		return nil, rel, err
	}
	r := &realiser{cfg: RealiseConfig{
		Substituters:      cfg.Substituters,
		TrustedPublicKeys: cfg.TrustedPublicKeys,
		NixConfig:         cfg.NixConfig,
		ReleaseSource:     cfg.ReleaseSource,
	}, secrets: SecretsDir, scratch: scratchDir}
	if err := r.configure(); err != nil {
		return nil, rel, err
	}
	boot, err := findBootstrap(rel)
	if err != nil {
		return nil, rel, err
	}
	if err := registerRelease(ctx, r.env, boot.nix, rel); err != nil {
		return nil, rel, err
	}
	r.boot = boot
	r.env = append(r.env, "PATH="+boot.nix+"/bin")
	ca, err := r.caBundle(boot.caBundle)
	if err != nil {
		return nil, rel, err
	}
	if ca != "" {
		r.env = append(r.env, "NIX_SSL_CERT_FILE="+ca, "SSL_CERT_FILE="+ca)
	}
	return r, rel, nil
}
