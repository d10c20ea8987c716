package nixstep

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nix-image/nix-image/internal/archive"
)

// Prepare turns a source as a user may give it into an unpacked tree in
// the existing directory dst, whose root then holds marker (".reginfo" for
// a Nix release, "default.nix" for nixpkgs). src may be that tree, a
// directory whose only entry is that tree or a tarball, or a tarball file
// itself (a download). Tarballs usually wrap their content in one top
// directory, as the official Nix releases and GitHub archives do; that
// directory is dropped. source names src in errors (its URL, or the named
// context).
func Prepare(src, dst, marker, source string) error {
	p, tarball, err := locate(src, marker)
	if err != nil {
		return err
	}
	if tarball {
		return unpackTree(p, dst, marker, source)
	}
	return copyChildren(p, dst)
}

// unpackTree unpacks a tarball (described in errors by source) into dst,
// confined to it, and drops its top directories until dst holds marker.
func unpackTree(tarball, dst, marker, source string) error {
	if err := archive.Unpack(tarball, dst, source); err != nil {
		return err
	}
	if err := hoist(dst, marker); err != nil {
		return fmt.Errorf("unpacking %s: %w", source, err)
	}
	return nil
}

// locate finds in src (see Prepare) the tree whose root holds marker, or
// the tarball.
func locate(src, marker string) (p string, tarball bool, err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", false, err
	}
	if fi.Mode().IsRegular() {
		return src, true, nil
	}
	if exists(filepath.Join(src, marker)) {
		return src, false, nil
	}
	only, err := onlyEntry(src)
	if err != nil {
		return "", false, fmt.Errorf("%s has no %s, nor a single directory or tarball that has one", src, marker)
	}
	return locate(only, marker)
}

// hoist moves the content of dst's only directory up into dst, as often as
// needed until dst holds marker. It works in an os.Root of dst and moves
// only real directories' entries: a top "directory" that is a symlink of
// the archive is not followed.
func hoist(dst, marker string) error {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	noMarker := fmt.Errorf("the tarball has no %s at its root, nor in a single top directory", marker)
	for {
		if _, err := root.Lstat(marker); err == nil {
			return nil
		}
		only, err := onlyEntry(dst)
		if err != nil {
			return noMarker
		}
		name := filepath.Base(only)
		fi, err := root.Lstat(name)
		if err != nil || !fi.IsDir() {
			return noMarker
		}
		// Rename the top directory aside first: it may hold an entry of
		// its own name.
		const aside = ".nix-image-hoist"
		if err := root.Rename(name, aside); err != nil {
			return err
		}
		dir, err := root.Open(aside)
		if err != nil {
			return err
		}
		entries, err := dir.ReadDir(-1)
		dir.Close()
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := root.Rename(filepath.Join(aside, e.Name()), e.Name()); err != nil {
				return err
			}
		}
		if err := root.Remove(aside); err != nil {
			return err
		}
	}
}

// onlyEntry returns the path of dir's single entry.
func onlyEntry(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("%s has %d entries", dir, len(entries))
	}
	return filepath.Join(dir, entries[0].Name()), nil
}

func copyChildren(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := CopyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("copying %s: %w", src, err)
		}
	}
	return nil
}
