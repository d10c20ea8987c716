package spec

import "slices"

// Defaults of a spec. The lead's llbgen reads them only through Resolve.
const (
	// DefaultNixVersion is the Nix release used when the spec names none.
	DefaultNixVersion = "2.33.3"
	// DefaultNixReleases is where official Nix release tarballs live.
	DefaultNixReleases = "https://releases.nixos.org/nix"
	// NixbldGID is the group of the image's Nix build users, who have
	// the uids NixbldGID+1..NixbldGID+NixbldUsers, as in the official
	// image and NixOS.
	NixbldGID   = 30000
	NixbldUsers = 32
	// DefaultLayers is the layer budget of an image.
	DefaultLayers = 100
	// MinLayers is the smallest image: one layer of store paths, /etc,
	// the system tree (Nix DB, profiles, links) and, in the ssh image, the
	// sshd files.
	MinLayers = 4
	// MaxLayers leaves room under the overlayfs limit of 127 layers for
	// images built FROM ours.
	MaxLayers = 120
)

// ReservedUserNames are the accounts and groups every image has, which an
// image's user cannot be named.
var ReservedUserNames = []string{"root", "nobody", "nogroup", "nixbld", "users", "sshd"}

// Default binary cache, used when the spec has no substituters or
// trustedPublicKeys field.
const (
	DefaultSubstituter      = "https://cache.nixos.org"
	DefaultTrustedPublicKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
)

// DefaultSystemPackages make up the system profile
// (/run/current-system/sw) unless system.packages is given; its Nix comes
// from system.nix.
var DefaultSystemPackages = []string{"bashInteractive", "coreutils", "cacert", "shadow"}

// Values of system.nix: the Nix of the system profile.
const (
	// SystemNixRelease is the Nix release of the spec's `nix` (default).
	SystemNixRelease = "release"
	// SystemNixNixpkgs is the pinned nixpkgs' `nix` attribute.
	SystemNixNixpkgs = "nixpkgs"
)

// DefaultImagePackages are installed in root's profile in the default image
// (and in ssh with defaultPackages: true).
var DefaultImagePackages = []string{"curl", "findutils", "git", "gnugrep", "gnused", "gnutar", "gzip", "jq", "less", "man", "procps", "vim", "which", "xz"}

// Target names. Both always exist.
const (
	TargetDefault = "default"
	TargetSSH     = "ssh"
)

// setDefaults fills what the spec left out. It runs once, in Parse, where
// "absent" (nil) can still be told from "explicitly empty" ([]): an empty
// substituters list means no binary cache at all.
func (s *Spec) setDefaults() {
	if s.Version == 0 && !s.wasWritten("version") {
		s.Version = 1
	}
	if s.Nix.Version == "" && s.Nix.URL == "" {
		s.Nix.Version = DefaultNixVersion
	}
	if s.Nix.Version != "" && s.Nix.URL == "" && s.Nix.Releases == "" {
		s.Nix.Releases = DefaultNixReleases
	}
	if s.Layers == 0 {
		s.Layers = DefaultLayers
	}
	if s.System.Nix == "" {
		s.System.Nix = SystemNixRelease
	}
	if len(s.System.Packages) == 0 {
		s.System.Packages = slices.Clone(DefaultSystemPackages)
	}
	if s.Substituters == nil {
		s.Substituters = []string{DefaultSubstituter}
	}
	if s.TrustedPublicKeys == nil {
		s.TrustedPublicKeys = []string{DefaultTrustedPublicKey}
	}
}
