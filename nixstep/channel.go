package nixstep

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// channelName is the name of root's channel store path.
const channelName = "nixpkgs-channel"

// channel writes root's channel: a store path holding a `nixpkgs` link to
// the pinned source and an empty manifest.nix, the layout nix-channel
// itself produces, so `nix-env -iA nixpkgs.hello` and <nixpkgs> find the
// bundled pin. It is written straight into the store as a
// content-addressed path (as `nix-store --add` makes, with a reference
// to the source) and registered with the bootstrap Nix: nothing is built
// or run for it, so it is the same for an image of any system.
func (r *realiser) channel(ctx context.Context, roots Roots) (string, error) {
	tmp, err := os.MkdirTemp(storeDir, ".nix-image-channel-")
	if err != nil {
		return "", fmt.Errorf("realise: %w", err)
	}
	defer removeTree(tmp)
	if err := writeChannelTree(tmp, roots.Nixpkgs); err != nil {
		return "", err
	}
	sum, size, err := narHashSize(tmp)
	if err != nil {
		return "", fmt.Errorf("hashing the channel: %w", err)
	}
	refs := []string{roots.Nixpkgs}
	p := sourcePath(storeDir, channelName, sum, refs)
	invalid, err := r.nixOutput(ctx, nil, "nix-store", "--check-validity", "--print-invalid", p)
	if err != nil {
		return "", fmt.Errorf("checking %s: %w", p, err)
	}
	if strings.TrimSpace(invalid) == "" {
		// Written by an earlier build on this /nix cache.
		return p, nil
	}
	// Not registered: whatever an interrupted build left there goes.
	if err := removeTree(p); err != nil {
		return "", fmt.Errorf("removing the unregistered %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("realise: %w", err)
	}
	reg := fmt.Sprintf("%s\n%s\n%d\n\n%d\n%s\n", p, hex.EncodeToString(sum), size, len(refs), strings.Join(refs, "\n"))
	if _, err := r.nixOutput(ctx, []byte(reg), "nix-store", "--load-db"); err != nil {
		return "", fmt.Errorf("registering %s: %w", p, err)
	}
	if err := setContentAddress(ctx, realiseDB, p, sourceCA(sum)); err != nil {
		return "", err
	}
	return p, nil
}

// writeChannelTree writes the channel's files into dir, with the modes
// and times of a store path.
func writeChannelTree(dir, nixpkgs string) error {
	if err := os.Symlink(nixpkgs, filepath.Join(dir, "nixpkgs")); err != nil {
		return fmt.Errorf("writing the channel: %w", err)
	}
	manifest := filepath.Join(dir, "manifest.nix")
	if err := os.WriteFile(manifest, []byte("[]\n"), 0o444); err != nil {
		return fmt.Errorf("writing the channel: %w", err)
	}
	for _, p := range []string{filepath.Join(dir, "nixpkgs"), manifest, dir} {
		if err := setMtime(p, storeTime); err != nil {
			return fmt.Errorf("writing the channel: %w", err)
		}
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		return fmt.Errorf("writing the channel: %w", err)
	}
	return nil
}

// removeTree deletes a tree whose directories may be read-only, as a
// store path's are; a missing tree is no error.
func removeTree(p string) error {
	err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		// Before WalkDir reads it, and before RemoveAll empties it.
		return os.Chmod(q, 0o755)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(p)
}

// sourcePath is the store path Nix gives a tree added to the store by
// its NAR hash (`nix-store --add`, builtins.path) that refers to the
// store paths refs: the hash of "source:<refs>:sha256:<hex>:<store>:<name>"
// folded to 20 bytes, in Nix's base32.
func sourcePath(store, name string, narHash []byte, refs []string) string {
	typ := "source"
	for _, ref := range refs {
		typ += ":" + ref
	}
	h := sha256.Sum256([]byte(typ + ":sha256:" + hex.EncodeToString(narHash) + ":" + store + ":" + name))
	var folded [20]byte
	for i, b := range h {
		folded[i%len(folded)] ^= b
	}
	return store + "/" + NixBase32(folded[:]) + "-" + name
}

// sourceCA is the content address of such a path, as Nix registers it.
func sourceCA(narHash []byte) string {
	return "fixed:r:sha256:" + NixBase32(narHash)
}

// setContentAddress records a path's content address in the Nix DB at
// db, which `nix-store --load-db` leaves out: with it, Nix trusts the
// path without a signature, as it trusts what `nix-store --add` made.
func setContentAddress(ctx context.Context, db, path, ca string) error {
	d, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("opening the Nix DB: %w", err)
	}
	defer d.Close()
	res, err := d.ExecContext(ctx, "UPDATE ValidPaths SET ca = ? WHERE path = ?", ca, path)
	if err != nil {
		return fmt.Errorf("recording the content address of %s: %w", path, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("recording the content address of %s: %d rows, %v", path, n, err)
	}
	return d.Close()
}
