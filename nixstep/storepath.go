package nixstep

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SourcePath is a file tree added to the store as `nix-store --add`
// adds one: a content-addressed store path (recursive sha256, no
// references), with what its registration needs. The nixpkgs unpack step
// writes it (NixpkgsMetaFile), so that the realise step registers the
// source without hashing it again, and the layer of the source is the
// unpack step's own output.
type SourcePath struct {
	Path    string `json:"path"`
	NarHash string `json:"narHash"`
	NarSize int64  `json:"narSize"`
}

// CA is the content address Nix records for the path ("fixed:r:sha256:").
func (s SourcePath) CA() string {
	sum, _ := ParseNarHash(s.NarHash)
	return sourceCA(sum)
}

// StoreSource moves the tree tree (unpacked by Prepare) to
// out/nix/store/<hash>-<name>, made read-only with the store's file times
// as Nix keeps a store path, and writes its SourcePath to meta. If
// wantNarHash is set (a pin, any form ParseNarHash reads), the tree must
// have it (where names the pin in the error).
func StoreSource(tree, out, meta, name, wantNarHash, where string) error {
	// The entries below the top are made read-only with the store's
	// times while the NAR hash is computed, on another core (the NAR has
	// no times and no write bits); the top's after the move, which
	// changes its times.
	canon := make(chan error, 1)
	go func() { canon <- canonicaliseBelow(tree) }()
	sum, size, err := narHashSize(tree)
	if cerr := <-canon; err == nil && cerr != nil {
		return fmt.Errorf("%s: %w", tree, cerr)
	}
	if err != nil {
		return fmt.Errorf("computing the NAR hash of %s: %w", tree, err)
	}
	if err := checkPin(sum, wantNarHash, where); err != nil {
		return err
	}
	src := SourcePath{Path: sourcePath(storeDir, name, sum, nil), NarHash: "sha256:" + NixBase32(sum), NarSize: size}
	store := filepath.Join(out, storeDir)
	if err := os.MkdirAll(store, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(out, src.Path)
	if err := os.Rename(tree, dst); err != nil {
		return fmt.Errorf("moving %s into the store tree: %w", tree, err)
	}
	if err := canonicaliseEntry(unix.AT_FDCWD, dst, dst); err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	for _, d := range []string{store, filepath.Dir(store)} {
		if err := setMtime(d, storeTime); err != nil {
			return err
		}
	}
	data, err := json.MarshalIndent(src, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(meta, append(data, '\n'), 0o644)
}

// canonicaliseBelow gives what the directory p holds (not p itself) the
// modes and times of a store path: no write bits (setuid, setgid and
// sticky bits kept), the store's modification time. It walks the tree by directory descriptors, each entry set by its
// base name in its open directory, a symlink never followed: a nixpkgs
// tree has 74,000 entries, and calls by path, each walking from the top,
// cost it twice the system time.
func canonicaliseBelow(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	return canonicaliseDir(fd, p)
}

// canonicaliseDir canonicalises the entries of the directory fd (the
// directory dir, for errors), and closes fd.
func canonicaliseDir(fd int, dir string) error {
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			if err := canonicaliseDir(sub, p); err != nil {
				return err
			}
		case !errors.Is(err, unix.ENOTDIR) && !errors.Is(err, unix.ELOOP):
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		if err := canonicaliseEntry(fd, name, p); err != nil {
			return err
		}
	}
	return nil
}

// canonicaliseEntry clears the write bits of the entry name of the
// directory dirfd (p, for errors) unless it is a symlink, and sets its
// times.
func canonicaliseEntry(dirfd int, name, p string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&0o222 != 0 {
		// Not a symlink, so fchmodat, which follows one, does not.
		if err := unix.Fchmodat(dirfd, name, readOnly(st.Mode), 0); err != nil {
			return &os.PathError{Op: "chmod", Path: p, Err: err}
		}
	}
	return setMtimeAt(dirfd, name, p, storeTime)
}

// readOnly is the permission bits of the mode (a stat's) of a file or
// directory as Nix keeps it in a store: no write bits, the setuid, setgid
// and sticky bits kept.
func readOnly(mode uint32) uint32 {
	return mode & 0o7777 &^ 0o222
}

// addNixpkgs makes the nixpkgs source, laid out by the unpack step as a
// store tree with its registration, a valid path of the realising Nix and
// returns it. The path in the /nix cache is not a copy but a link to the
// unpack step's tree, which every step that uses this pin mounts at the
// same place (NixpkgsDir; the path's name is a hash of that tree): Nix
// needs the path valid, to register the channel that refers to it, and
// whatever reads it through the store (an expression that adds the source
// by its path) reads the tree, but copying nixpkgs' 45,000 files into the
// cache would double the files a cold build writes. It gets the
// registration `nix-store --add` would give it (content-addressed), so
// the image's DB is the same either way; the image's copy is the unpack
// step's tree itself, its layer. Registered once per pin: a later build
// with the same pin finds it and writes nothing.
func (r *realiser) addNixpkgs(ctx context.Context) (string, error) {
	data, err := os.ReadFile(NixpkgsMetaFile)
	if err != nil {
		return "", fmt.Errorf("reading the registration of nixpkgs (%s): %w", r.cfg.NixpkgsWhere, err)
	}
	var src SourcePath
	if err := json.Unmarshal(data, &src); err != nil {
		return "", fmt.Errorf("reading the registration of nixpkgs (%s): %w", NixpkgsMetaFile, err)
	}
	db, err := sql.Open("sqlite", realiseDB)
	if err != nil {
		return "", fmt.Errorf("opening the realising Nix's DB: %w", err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ValidPaths WHERE path = ?", src.Path).Scan(&n); err != nil {
		return "", fmt.Errorf("looking up nixpkgs in the realising Nix's DB: %w", err)
	}
	if n > 0 && exists(src.Path) {
		return src.Path, nil
	}
	fmt.Fprintf(os.Stderr, "registering nixpkgs in the /nix cache as %s\n", src.Path)
	if _, err := os.Lstat(src.Path); err == nil {
		// Left by an interrupted build, or a copy an older nix-image made.
		if err := removeTree(src.Path); err != nil {
			return "", fmt.Errorf("removing an unregistered nixpkgs from the /nix cache: %w", err)
		}
	}
	if err := os.Symlink(filepath.Join(NixpkgsDir, src.Path), src.Path); err != nil {
		return "", fmt.Errorf("adding nixpkgs (%s) to the store: %w", r.cfg.NixpkgsWhere, err)
	}
	sum, err := ParseNarHash(src.NarHash)
	if err != nil {
		return "", err
	}
	reg := fmt.Sprintf("%s\n%x\n%d\n\n0\n", src.Path, sum, src.NarSize)
	if _, err := run(ctx, r.env, []byte(reg), filepath.Join(r.boot.nix, "bin", "nix-store"), "--load-db"); err != nil {
		return "", fmt.Errorf("registering nixpkgs in the store: %w", err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE ValidPaths SET ultimate = 1, ca = ? WHERE path = ?", src.CA(), src.Path); err != nil {
		return "", fmt.Errorf("registering nixpkgs in the store: %w", err)
	}
	return src.Path, nil
}
