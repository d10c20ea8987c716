package nixstep

import (
	"fmt"
	"os"
	"path/filepath"
)

// Prepare turns a source as a user may give it into an unpacked tree in
// the existing directory dst, whose root holds marker (".reginfo" for a Nix release, "default.nix"
// for nixpkgs). src may be that tree, a directory whose only entry is that
// tree or a tarball, or a tarball file itself (a download). Tarballs
// usually wrap their content in one top directory, as the official Nix
// releases and GitHub archives do; that directory is dropped.
func Prepare(src, dst, marker string) error {
	scratch, err := os.MkdirTemp("", "nix-image-unpack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	root, err := findRoot(src, marker, filepath.Join(scratch, "0"))
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := CopyTree(filepath.Join(root, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("copying %s: %w", root, err)
		}
	}
	return nil
}

func findRoot(src, marker, scratch string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if fi.Mode().IsRegular() {
		if err := Unpack(src, scratch, 0); err != nil {
			return "", err
		}
		return findRoot(scratch, marker, scratch+"-inner")
	}
	if exists(filepath.Join(src, marker)) {
		return src, nil
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	if len(entries) == 1 {
		return findRoot(filepath.Join(src, entries[0].Name()), marker, scratch)
	}
	return "", fmt.Errorf("%s has no %s, nor a single directory or tarball that has one", src, marker)
}
