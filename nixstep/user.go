package nixstep

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// User is an image's non-root user. It owns /nix (the store directory,
// the Nix DB, the profiles and gcroots) and its home, so that Nix works
// for it as a single-user install: nix-env, nix-build and nix repl open
// the local store directly.
type User struct {
	Name string `json:"name"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Home string `json:"home"`
}

// writeUserTree gives the user of the image its profile (the packages
// root gets without a user), its channels, its nixpkgs config and channel
// list, and hands /nix and its home to it. Every owner is set here, in
// the system tree the layer is copied from: no chown layer follows.
func (r *realiser) writeUserTree(root string, roots Roots) error {
	u := r.cfg.User
	profiles := "/nix/var/nix/profiles/per-user/" + u.Name
	links := []link{
		{profiles + "/channels-1-link", roots.Channel},
		{profiles + "/channels", "channels-1-link"},
		{u.Home + "/.nix-profile", profiles + "/profile"},
		{u.Home + "/.nix-defexpr/channels", profiles + "/channels"},
	}
	if roots.Profile != "" {
		links = append(links,
			link{profiles + "/profile-1-link", roots.Profile},
			link{profiles + "/profile", "profile-1-link"},
			link{"/nix/var/nix/gcroots/nix-image/profile", roots.Profile},
		)
	}
	for _, d := range []string{profiles, "/nix/var/nix/gcroots/per-user/" + u.Name, u.Home + "/.nix-defexpr"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := os.Chmod(filepath.Join(root, u.Home), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", u.Home, err)
	}
	for _, l := range links {
		if err := os.Symlink(l.target, filepath.Join(root, l.path)); err != nil {
			return fmt.Errorf("linking %s: %w", l.path, err)
		}
	}
	if err := r.writeHomeFiles(root, u.Home); err != nil {
		return err
	}
	// /nix is the user's, and all below it in the system tree (the store
	// directory and its .links, the DB, profiles, gcroots), and its whole
	// home.
	for _, d := range []string{"/nix", u.Home} {
		if err := chownTree(filepath.Join(root, d), u.UID, u.GID); err != nil {
			return fmt.Errorf("giving %s to %s: %w", d, u.Name, err)
		}
	}
	return nil
}

// chownTree gives every file under dir, dir included, to uid:gid, links
// themselves rather than their targets.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
