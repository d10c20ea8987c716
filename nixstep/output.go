package nixstep

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// writeOutput writes the layer trees of the paths it built (and of those
// it fetched, with RealiseConfig.FetchedTrees), the closure's description
// and the system tree.
func (r *realiser) writeOutput(ctx context.Context, roots Roots, out string) error {
	infos, reg, err := r.closure(ctx, roots)
	if err != nil {
		return err
	}
	if err := r.writeMeta(ctx, roots, infos, out); err != nil {
		return err
	}
	if err := r.setOrigins(ctx, roots, infos); err != nil {
		return err
	}
	var trees []PathInfo
	for _, info := range infos {
		if info.Origin == Built || info.Origin == Fetched && r.cfg.FetchedTrees {
			trees = append(trees, info)
		}
	}
	if err := r.writeCheckedLayerTrees(ctx, out, trees); err != nil {
		return err
	}
	data, err := json.MarshalIndent(Closure{Roots: roots, Paths: infos}, "", "  ")
	if err != nil {
		return fmt.Errorf("realise: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, ClosureFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("realise: %w", err)
	}
	root := filepath.Join(out, SystemTreeDir)
	if err := r.writeDB(ctx, root, roots, reg, infos); err != nil {
		return err
	}
	if err := writeLinks(root, roots, r.cfg.User); err != nil {
		return err
	}
	if err := r.writeUserFiles(root); err != nil {
		return err
	}
	if r.cfg.User != nil {
		if err := r.writeUserTree(root, roots); err != nil {
			return err
		}
	}
	return setTimes(root, time.Unix(r.cfg.RegistrationTime, 0))
}

// setTimes gives every file under root the build's epoch, so that the
// system layer does not change with the time of the build.
func setTimes(root string, t time.Time) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("listing the system tree: %w", err)
	}
	// Children first: setting a child's time does not change its
	// directory's, but creating it did.
	for i := len(paths) - 1; i >= 0; i-- {
		if err := setMtime(paths[i], t); err != nil {
			return err
		}
	}
	return nil
}

// setOrigins tells for each path of the closure where its layer comes from
// (Origin): the nixpkgs source; fetched, which a layer step can fetch
// again, when it is the release's or a substituter signed it (a
// substituted path keeps the cache's signatures in the realising Nix's
// DB); else built here (profiles, the channel, local expressions, text
// files nix-env wrote), which only the realise step's output has.
func (r *realiser) setOrigins(ctx context.Context, roots Roots, infos []PathInfo) error {
	db, err := sql.Open("sqlite", "file:"+realiseDB+"?mode=ro")
	if err != nil {
		return fmt.Errorf("opening the realising Nix's DB: %w", err)
	}
	defer db.Close()
	release := map[string]bool{}
	for _, n := range r.bootRel.names {
		release[filepath.Join(storeDir, n)] = true
	}
	for i, info := range infos {
		var sigs sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT sigs FROM ValidPaths WHERE path = ?", info.Path).Scan(&sigs); err != nil {
			return fmt.Errorf("reading the registration of %s: %w", info.Path, err)
		}
		switch {
		case info.Path == roots.Nixpkgs:
			infos[i].Origin = Source
		case release[info.Path] || strings.TrimSpace(sigs.String) != "":
			infos[i].Origin = Fetched
		default:
			infos[i].Origin = Built
		}
	}
	return nil
}

// writeStoreTree copies the store path at src into the layer tree top, as
// top/nix/store/<name> with /nix and /nix/store in it, so that a layer
// made from there holds the same bytes whenever the store path is the
// same.
func writeStoreTree(src, top string) error {
	name := filepath.Base(src)
	store := filepath.Join(top, storeDir)
	if err := os.MkdirAll(store, 0o755); err != nil {
		return fmt.Errorf("writing the layer tree of %s: %w", name, err)
	}
	if err := CopyTree(src, filepath.Join(store, name)); err != nil {
		return fmt.Errorf("copying %s out of the cache: %w", src, err)
	}
	for _, d := range []string{store, filepath.Dir(store), top} {
		if err := setMtime(d, storeTime); err != nil {
			return err
		}
	}
	return nil
}

// writeDB registers the closure in the image's own Nix DB with the Nix of
// the system profile (its schema is the one the image will open; the
// bootstrap Nix for an image of another system, whose programs are never
// run, nor when the profile has no nix-store), gives
// each path the signatures, content address and trust of its registration
// in the realising Nix's DB (which the registration dump leaves out), then
// pins every registration time and drops the lock and reserve files, so
// that the same closure always gives the same DB file.
func (r *realiser) writeDB(ctx context.Context, root string, roots Roots, reg string, infos []PathInfo) error {
	nixStore := filepath.Join(roots.System, "bin", "nix-store")
	if r.cross() || !exists(nixStore) {
		nixStore = filepath.Join(r.boot.nix, "bin", "nix-store")
	}
	if _, err := run(ctx, r.env, []byte(reg), nixStore, "--store", root, "--load-db"); err != nil {
		return fmt.Errorf("registering the closure in the image's Nix DB: %w", err)
	}
	dbDir := filepath.Join(root, "nix/var/nix/db")
	db, err := sql.Open("sqlite", filepath.Join(dbDir, "db.sqlite"))
	if err != nil {
		return fmt.Errorf("opening the image's Nix DB: %w", err)
	}
	defer db.Close()
	if err := copyTrust(ctx, realiseDB, db, infos); err != nil {
		return err
	}
	for _, stmt := range []string{
		fmt.Sprintf("UPDATE ValidPaths SET registrationTime = %d", r.cfg.RegistrationTime),
		"PRAGMA journal_mode = DELETE",
		"VACUUM",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("normalising the image's Nix DB (%s): %w", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("closing the image's Nix DB: %w", err)
	}
	// Keep only the DB and its schema version: everything else --load-db
	// made (locks, the reserve file, temproots) is runtime state.
	keep := map[string]bool{"db": true}
	varNix := filepath.Join(root, "nix/var/nix")
	entries, err := os.ReadDir(varNix)
	if err != nil {
		return fmt.Errorf("reading the image's Nix state: %w", err)
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(varNix, e.Name())); err != nil {
				return fmt.Errorf("cleaning the image's Nix state: %w", err)
			}
		}
	}
	dbEntries, err := os.ReadDir(dbDir)
	if err != nil {
		return fmt.Errorf("reading the image's Nix DB: %w", err)
	}
	for _, e := range dbEntries {
		if e.Name() != "db.sqlite" && e.Name() != "schema" {
			if err := os.RemoveAll(filepath.Join(dbDir, e.Name())); err != nil {
				return fmt.Errorf("cleaning the image's Nix DB: %w", err)
			}
		}
	}
	return nil
}

// realiseDB is the Nix DB of the realising Nix, in the /nix cache mount.
const realiseDB = "/nix/var/nix/db/db.sqlite"

// copyTrust copies each path's signatures (sigs), content address (ca)
// and ultimate flag (built here, not substituted) from the Nix DB at src
// to the image's DB dst: what `nix path-info --sigs` and `nix store
// verify` read.
func copyTrust(ctx context.Context, src string, dst *sql.DB, infos []PathInfo) error {
	from, err := sql.Open("sqlite", "file:"+src+"?mode=ro")
	if err != nil {
		return fmt.Errorf("opening the realising Nix's DB: %w", err)
	}
	defer from.Close()
	tx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing signatures into the image's Nix DB: %w", err)
	}
	defer tx.Rollback()
	for _, info := range infos {
		var ultimate sql.NullInt64
		var sigs, ca sql.NullString
		err := from.QueryRowContext(ctx, "SELECT ultimate, sigs, ca FROM ValidPaths WHERE path = ?", info.Path).Scan(&ultimate, &sigs, &ca)
		if err != nil {
			return fmt.Errorf("reading the signatures of %s from the realising Nix's DB: %w", info.Path, err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE ValidPaths SET ultimate = ?, sigs = ?, ca = ? WHERE path = ?", ultimate, sigs, ca, info.Path); err != nil {
			return fmt.Errorf("writing the signatures of %s into the image's Nix DB: %w", info.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing signatures into the image's Nix DB: %w", err)
	}
	return nil
}

// link is a symlink of the system tree.
type link struct{ path, target string }

// writeLinks creates the profiles, gcroots and global links of the image.
// With a user, the packages' profile is that user's (writeUserTree), not
// root's.
// Profiles follow Nix's own layout (NAME -> NAME-1-link -> store path), so
// nix-env can add generations to them later.
func writeLinks(root string, roots Roots, user *User) error {
	profiles := "/nix/var/nix/profiles"
	links := []link{
		{profiles + "/system-1-link", roots.System},
		{profiles + "/system", "system-1-link"},
		{profiles + "/per-user/root/channels-1-link", roots.Channel},
		{profiles + "/per-user/root/channels", "channels-1-link"},
		{"/nix/var/nix/gcroots/profiles", profiles},
		{"/nix/var/nix/gcroots/nix-image/system", roots.System},
		{"/nix/var/nix/gcroots/nix-image/channel", roots.Channel},
		{"/nix/var/nix/gcroots/nix-image/nixpkgs", roots.Nixpkgs},
		{"/run/current-system/sw", profiles + "/system"},
		{"/var/run", "/run"},
		{"/bin/sh", roots.Shell},
		{"/usr/bin/env", roots.EnvBinary},
		{"/root/.nix-profile", profiles + "/default"},
		{"/root/.nix-defexpr/channels", profiles + "/per-user/root/channels"},
	}
	for _, p := range roots.Release {
		links = append(links, link{"/nix/var/nix/gcroots/nix-image/release/" + filepath.Base(p), p})
	}
	if roots.Profile != "" && user == nil {
		links = append(links,
			link{profiles + "/default-1-link", roots.Profile},
			link{profiles + "/default", "default-1-link"},
			link{"/nix/var/nix/gcroots/nix-image/profile", roots.Profile},
		)
	}
	dirs := []struct {
		path string
		mode os.FileMode
	}{
		{"/nix", 0o755}, {"/nix/store", 0o755}, {"/nix/var", 0o755}, {"/nix/var/nix", 0o755},
		{"/nix/var/nix/profiles", 0o755}, {"/nix/var/nix/profiles/per-user", 0o755},
		{"/nix/var/nix/profiles/per-user/root", 0o755}, {"/nix/var/nix/gcroots", 0o755},
		{"/nix/var/nix/gcroots/nix-image", 0o755}, {"/nix/var/nix/gcroots/nix-image/release", 0o755}, {"/run", 0o755}, {"/run/current-system", 0o755},
		{"/var", 0o755}, {"/bin", 0o755}, {"/usr", 0o755}, {"/usr/bin", 0o755},
		{"/root", 0o700}, {"/root/.nix-defexpr", 0o755},
		{"/tmp", os.ModeSticky | 0o777}, {"/var/tmp", os.ModeSticky | 0o777}, {"/var/empty", 0o555},
	}
	for _, d := range dirs {
		p := filepath.Join(root, d.path)
		if err := os.MkdirAll(p, d.mode); err != nil {
			return fmt.Errorf("creating %s: %w", d.path, err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("creating %s: %w", d.path, err)
		}
	}
	for _, l := range links {
		if err := os.Symlink(l.target, filepath.Join(root, l.path)); err != nil {
			return fmt.Errorf("linking %s: %w", l.path, err)
		}
	}
	return nil
}
