package nixstep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// releasesDir, in the /nix cache mount, keeps the files of the release
// tarballs unpacked there (all but their store paths, which are moved into
// /nix/store), one directory per tarball's sha256.
const releasesDir = "/nix/var/nix-image/releases"

// storePathsFile, in a release's directory under releasesDir, lists the
// names of its store paths.
const storePathsFile = "store-paths"

// release is a Nix release whose store paths are in /nix/store.
type release struct {
	dir   string   // holds its .reginfo and install script
	names []string // its store paths' names
}

// bootstrap is the Nix of the release, installed in /nix/store.
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

// installRelease puts the store paths of the Nix release at src (a
// tarball, or an unpacked release: store/ and .reginfo, the official
// tarball's layout; see Prepare for where they may lie) into the store
// directory (/nix/store, in the step's persistent cache mount), keeping
// those already there. A tarball is unpacked in releases (releasesDir, on
// the same file system) and its store paths moved into place, each at
// once, so that an interrupted build never leaves half a store path; its
// other files stay in releases/<sha256 of the tarball>, where a later
// build with the same tarball finds them and unpacks nothing. source names
// the release in errors.
func installRelease(src, store, releases, source string) (release, error) {
	p, tarball, err := locate(src, ".reginfo")
	if err != nil {
		return release{}, fmt.Errorf("finding the Nix release: %w", err)
	}
	if err := os.MkdirAll(store, 0o755); err != nil {
		return release{}, fmt.Errorf("creating %s: %w", store, err)
	}
	rel, err := placeRelease(p, tarball, store, releases, source)
	if err != nil {
		return rel, fmt.Errorf("installing the Nix release: %w", err)
	}
	// As the official installer does: the tarball's files keep their
	// write bits, a store's do not.
	err = parallel(len(rel.names), func(i int) error { return makeReadOnly(filepath.Join(store, rel.names[i])) })
	if err != nil {
		return rel, fmt.Errorf("installing the Nix release: %w", err)
	}
	return rel, nil
}

// placeRelease puts the release's store paths into store (see
// installRelease).
func placeRelease(p string, tarball bool, store, releases, source string) (release, error) {
	if !tarball {
		return copyRelease(p, store)
	}
	sum, err := fileSHA256(p)
	if err != nil {
		return release{}, err
	}
	dir := filepath.Join(releases, sum)
	if rel, err := readRelease(dir); err == nil && rel.installedIn(store) {
		return rel, nil
	}
	return unpackRelease(p, dir, store, source)
}

// makeReadOnly clears the write bits of every file and directory under p,
// as Nix has them in a store.
func makeReadOnly(p string) error {
	return filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink != 0 {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(q, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: q, Err: err}
		}
		if st.Mode&0o222 == 0 {
			return nil
		}
		// Not a symlink (above), so chmod, which follows one, does not.
		if err := unix.Chmod(q, readOnly(st.Mode)); err != nil {
			return &os.PathError{Op: "chmod", Path: q, Err: err}
		}
		return nil
	})
}

// copyRelease copies the store paths of the unpacked release dir that
// store lacks.
func copyRelease(dir, store string) (release, error) {
	names, err := storeNames(filepath.Join(dir, "store"))
	if err != nil {
		return release{}, err
	}
	err = parallel(len(names), func(i int) error {
		return installPath(filepath.Join(dir, "store", names[i]), filepath.Join(store, names[i]))
	})
	return release{dir: dir, names: names}, err
}

// installPath copies the store path src to dst unless dst exists, under a
// temporary name first.
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

// unpackRelease unpacks the release tarball next to dir (on the file
// system of store), moves the store paths store lacks into it, and leaves
// the release's other files and the list of its store paths in dir.
func unpackRelease(tarball, dir, store, source string) (release, error) {
	fmt.Fprintf(os.Stderr, "unpacking the Nix release %s\n", filepath.Base(tarball))
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return release{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return release{}, err
	}
	defer os.RemoveAll(tmp)
	if err := unpackTree(tarball, tmp, ".reginfo", source); err != nil {
		return release{}, err
	}
	names, err := storeNames(filepath.Join(tmp, "store"))
	if err != nil {
		return release{}, fmt.Errorf("unpacking %s: %w", source, err)
	}
	for _, name := range names {
		dst := filepath.Join(store, name)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if err := os.Rename(filepath.Join(tmp, "store", name), dst); err != nil {
			return release{}, err
		}
	}
	if err := os.RemoveAll(filepath.Join(tmp, "store")); err != nil {
		return release{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, storePathsFile), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return release{}, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return release{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return release{}, err
	}
	return release{dir: dir, names: names}, nil
}

// readRelease reads what unpackRelease left in dir.
func readRelease(dir string) (release, error) {
	data, err := os.ReadFile(filepath.Join(dir, storePathsFile))
	if err != nil {
		return release{}, err
	}
	names := strings.Fields(string(data))
	if len(names) == 0 {
		return release{}, errors.New("no store paths")
	}
	return release{dir: dir, names: names}, nil
}

// installedIn reports whether all of the release's store paths are in
// store.
func (r release) installedIn(store string) bool {
	for _, name := range r.names {
		if _, err := os.Lstat(filepath.Join(store, name)); err != nil {
			return false
		}
	}
	return true
}

// storeNames lists the entries of a release's store directory (a real
// directory, not a symlink of the archive), sorted.
func storeNames(store string) ([]string, error) {
	if fi, err := os.Lstat(store); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("the Nix release has no store directory")
	}
	entries, err := os.ReadDir(store)
	if err != nil {
		return nil, fmt.Errorf("reading the Nix release: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d, err := digest.SHA256.FromReader(f)
	if err != nil {
		return "", err
	}
	return d.Encoded(), nil
}

// findBootstrap finds the release's Nix and CA bundle in /nix/store,
// running nothing.
func findBootstrap(rel release) (bootstrap, error) {
	var b bootstrap
	for _, name := range rel.names {
		if bundle := filepath.Join(storeDir, name, "etc/ssl/certs/ca-bundle.crt"); exists(bundle) {
			b.caBundle = bundle
			break
		}
	}
	nix, err := releaseNix(rel.dir, storeDir, rel.names)
	if err != nil {
		return b, err
	}
	b.nix = filepath.Join(storeDir, nix)
	return b, nil
}

// registerRelease registers the store paths of rel in the Nix DB with the
// nix-store of the bootstrap Nix nix and the environment env: the
// bootstrap's own release, or the image's (whose Nix is never run).
func registerRelease(ctx context.Context, env []string, nix string, rel release) error {
	reginfo, err := os.ReadFile(filepath.Join(rel.dir, ".reginfo"))
	if err != nil {
		return fmt.Errorf("reading the Nix release's registration: %w", err)
	}
	if _, err := run(ctx, env, reginfo, filepath.Join(nix, "bin", "nix-store"), "--load-db"); err != nil {
		return fmt.Errorf("registering the store paths of the Nix release: %w", err)
	}
	return nil
}

// releaseNix names the store path of Nix itself among a release's store
// paths (names, in the directory store): the one its install script (in
// dir) names, else one named nix-<version>, else any with bin/nix-store
// (newer releases split Nix into several paths).
func releaseNix(dir, store string, names []string) (string, error) {
	hasNixStore := func(name string) bool { return exists(filepath.Join(store, name, "bin", "nix-store")) }
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

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
