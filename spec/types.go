// Package spec is the nix-image.yaml format: its types, strict parsing with
// source positions, defaults, validation and build-arg overrides.
//
// Data flows one way: spec -> llbgen -> frontend. This package imports
// neither of the others.
package spec

import "strings"

// Spec is a parsed, defaulted and validated nix-image.yaml (format v1).
type Spec struct {
	// Version of the spec format. Only 1 exists; it may be omitted.
	Version int `yaml:"version,omitempty" json:"version,omitempty"`
	// Nix is the Nix release used to realise the closure and installed in
	// the image. In YAML it may be a bare version string (`nix: 2.33.3`).
	Nix Nix `yaml:"nix,omitempty" json:"nix,omitempty"`
	// Nixpkgs is the pinned package set, also bundled as root's channel.
	Nixpkgs Nixpkgs `yaml:"nixpkgs" json:"nixpkgs"`
	// System lists the packages of the system profile
	// (/run/current-system/sw).
	System System `yaml:"system,omitempty" json:"system,omitempty"`
	// Packages are extra nixpkgs attributes installed in root's profile in
	// every image.
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	// Flake is the directory of a flake in the build context ("." for its
	// top); packages written `.#ATTR` are its outputs.
	Flake string `yaml:"flake,omitempty" json:"flake,omitempty"`
	// Expressions are Nix files of the build context whose attributes are
	// installed, after Packages, in root's profile (or the image user's)
	// in every image.
	Expressions []Expression `yaml:"expressions,omitempty" json:"expressions,omitempty"`
	// Substituters are binary caches, in order (nix.conf `substituters`).
	Substituters []string `yaml:"substituters,omitempty" json:"substituters,omitempty"`
	// TrustedPublicKeys verify the substituters' signatures.
	TrustedPublicKeys []string `yaml:"trustedPublicKeys,omitempty" json:"trustedPublicKeys,omitempty"`
	// NixConfig holds extra nix.conf settings for every image.
	NixConfig map[string]string `yaml:"nixConfig,omitempty" json:"nixConfig,omitempty"`
	// Layers is the layer budget of each image (default 100, at most 120).
	Layers int `yaml:"layers,omitempty" json:"layers,omitempty"`
	// Config is the image configuration shared by every image.
	Config ImageConfig `yaml:"config,omitempty" json:"config,omitempty"`
	// Images are the build targets, selected with --target. `default` and
	// `ssh` always exist; listing them here customises them.
	Images map[string]Image `yaml:"images,omitempty" json:"images,omitempty"`

	// src is where the spec came from: positions for errors and Position,
	// and which values build args replaced.
	src *source
}

// Expression is a Nix file of the build context and the attributes of
// its value to install. The file is evaluated with <nixpkgs> on NIX_PATH
// being the pinned nixpkgs; a function is called with its defaults (as
// nix-env -f does), so `{ pkgs ? import <nixpkgs> {} }: ...` works.
type Expression struct {
	// File is the path of the Nix file in the build context: relative,
	// clean, without "..".
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// Attrs are the attribute paths of the file's value to install.
	Attrs []string `yaml:"attrs,omitempty" json:"attrs,omitempty"`
	// Include lists the other paths of the build context the expression
	// reads (imported files, sources), directories with all they hold.
	// Only File and these reach the build, so a change elsewhere in the
	// context rebuilds nothing.
	Include []string `yaml:"include,omitempty" json:"include,omitempty"`
}

// Nix selects the Nix release. Either Version (the tarball and its sha256
// are then found from Releases) or URL plus SHA256.
type Nix struct {
	// Version is a Nix release number such as 2.33.3 (default 2.33.3 when
	// no url is given).
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
	// Releases is the base URL of Nix releases
	// (default https://releases.nixos.org/nix); the tarball is
	// <releases>/nix-<version>/nix-<version>-<system>.tar.xz and its sha256
	// is read from <releases>/nix-<version>/install.
	Releases string `yaml:"releases,omitempty" json:"releases,omitempty"`
	// URL of a release tarball in the official layout; requires SHA256.
	// `{system}` in it stands for a Nix system type (x86_64-linux,
	// aarch64-linux, ...): the URL of each system's tarball, for builds
	// whose image is for another system than the builder's (both
	// releases are needed).
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// SHA256 of the tarball at URL: hex, Nix base32 or SRI (sha256-...).
	// Normalised to lowercase hex by Parse. For a URL with `{system}`,
	// a mapping from Nix system type to the sha256 of that system's
	// tarball.
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// SystemSHA256 is nix.sha256 written as a mapping: the sha256 of
	// each system's tarball, for a URL with `{system}`.
	SystemSHA256 map[string]string `yaml:"-" json:"-"`
}

// SystemPlaceholder in nix.url stands for a Nix system type.
const SystemPlaceholder = "{system}"

// PerSystem reports whether nix.url names each system's tarball
// (SystemPlaceholder), so that it can give the releases of several
// systems.
func (n Nix) PerSystem() bool { return strings.Contains(n.URL, SystemPlaceholder) }

// SystemURL is nix.url for the tarball of system.
func (n Nix) SystemURL(system string) string {
	return strings.ReplaceAll(n.URL, SystemPlaceholder, system)
}

// TarballSHA256 is the sha256 nix.url's tarball of system must have, or ""
// when the spec gives none for it.
func (n Nix) TarballSHA256(system string) string {
	if n.PerSystem() {
		return n.SystemSHA256[system]
	}
	return n.SHA256
}

// Nixpkgs is a pinned nixpkgs tarball, pinned by exactly one of SHA256
// and NarHash, and the nixpkgs config every evaluation of it gets.
type Nixpkgs struct {
	// URL of the tarball (http or https), e.g.
	// https://github.com/NixOS/nixpkgs/archive/<commit>.tar.gz.
	URL string `yaml:"url" json:"url"`
	// SHA256 of the tarball file: hex, Nix base32 or SRI (sha256-...).
	// Normalised to lowercase hex by Parse.
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// NarHash is the NAR hash of the unpacked tree, the tree inside the
	// tarball's single top directory: flake.lock's narHash, fetchTarball's
	// sha256, what `nix-prefetch-url --unpack <url>` prints. SRI
	// (sha256-...), Nix base32 or hex. Normalised to SRI by Parse.
	NarHash string `yaml:"narHash,omitempty" json:"narHash,omitempty"`
	// Config is nixpkgs' config (`import <nixpkgs> { config = ...; }`) for
	// every evaluation of the build, also written to root's
	// ~/.config/nixpkgs/config.nix in the image.
	Config NixpkgsConfig `yaml:"config,omitempty" json:"config,omitempty"`
}

// NixpkgsConfig holds the nixpkgs config options a spec may set: the ones
// that decide which packages evaluate at all. They reach Nix as JSON
// (builtins.fromJSON), never as Nix text.
type NixpkgsConfig struct {
	// AllowUnfree lets packages with an unfree license evaluate
	// (nixpkgs' allowUnfree, NIXPKGS_ALLOW_UNFREE=1).
	AllowUnfree *bool `yaml:"allowUnfree,omitempty" json:"allowUnfree,omitempty"`
	// AllowBroken lets packages marked broken evaluate (allowBroken).
	AllowBroken *bool `yaml:"allowBroken,omitempty" json:"allowBroken,omitempty"`
	// PermittedInsecurePackages are the name-version of packages with known
	// vulnerabilities allowed to evaluate, e.g. openssl-1.1.1w (nixpkgs'
	// permittedInsecurePackages).
	PermittedInsecurePackages []string `yaml:"permittedInsecurePackages,omitempty" json:"permittedInsecurePackages,omitempty"`
}

// System is the system profile.
type System struct {
	// Nix says which Nix the system profile provides: "release" (default),
	// the store path of the Nix release named by `nix` (its whole closure
	// goes into the image), or "nixpkgs", the pinned nixpkgs' `nix`
	// attribute (the release then only realises the image).
	Nix string `yaml:"nix,omitempty" json:"nix,omitempty"`
	// Packages default to bashInteractive, coreutils, cacert, shadow.
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
}

// Image is one build target.
type Image struct {
	// DefaultPackages adds the usual command-line tools (curl, git, jq,
	// ...; see DefaultImagePackages) to root's profile. Default: true for
	// the default image, false for ssh.
	DefaultPackages *bool `yaml:"defaultPackages,omitempty" json:"defaultPackages,omitempty"`
	// Packages are added to root's profile in this image only.
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	// NixConfig settings for this image, over the top-level ones.
	NixConfig map[string]string `yaml:"nixConfig,omitempty" json:"nixConfig,omitempty"`
	// AuthorizedKeys are ssh public keys allowed to log in as root
	// (ssh image). Private keys are rejected.
	AuthorizedKeys []string `yaml:"authorizedKeys,omitempty" json:"authorizedKeys,omitempty"`
	// Layers overrides the top-level layer budget for this image.
	Layers int `yaml:"layers,omitempty" json:"layers,omitempty"`
	// Config is merged over the top-level config: scalars and lists
	// replace, maps merge key by key.
	Config ImageConfig `yaml:"config,omitempty" json:"config,omitempty"`
	// User is a non-root user the image runs as, owning /nix and its own
	// profile (single-user Nix). Not in the ssh image, which stays
	// root-only.
	User User `yaml:"user,omitempty" json:"user,omitempty"`
}

// User is the non-root user of an image: in /etc/passwd, /etc/group and
// /etc/shadow, with its home /home/<name>, owner of /nix, and the image
// config's User.
type User struct {
	// Name is the login name: lowercase letters, digits, _ and -, not
	// starting with a digit or -, at most 32 characters.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// UID is the user id, 1..65533 outside the Nix build users' ids.
	UID int `yaml:"uid,omitempty" json:"uid,omitempty"`
	// GID is the primary group id (default: the uid). A group named after
	// the user is added, but for 100, the image's group users.
	GID int `yaml:"gid,omitempty" json:"gid,omitempty"`
}

// Home is the user's home directory.
func (u User) Home() string { return "/home/" + u.Name }

// IsSet reports whether the spec names a user.
func (u User) IsSet() bool { return u != User{} }

// ImageConfig is the OCI image configuration a spec may set.
type ImageConfig struct {
	// Env holds environment variables of the image.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Cmd is the default command.
	Cmd []string `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	// Entrypoint is the command Cmd is appended to.
	Entrypoint []string `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	// User is the user the container runs as.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// WorkingDir is an absolute path.
	WorkingDir string `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	// Labels are OCI image labels.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// ExposedPorts are ports such as 8080 or 53/udp (stored as N/proto).
	ExposedPorts []string `yaml:"exposedPorts,omitempty" json:"exposedPorts,omitempty"`
}
