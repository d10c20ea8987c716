// Package nixstep is the code that runs inside nix-image's build steps: it
// unpacks release tarballs and realises the Nix closure of an image. The
// frontend binary runs it as `nix-image-frontend step ...` in containers
// whose root is scratch, so it may rely on nothing but the mounts llbgen
// gives it.
package nixstep

import "encoding/json"

// Mount points of the realise step. llbgen mounts its inputs here.
const (
	ToolDir = "/.nix-image/tool"
	// ReleaseDir holds the Nix release: its tarball, or the named
	// context `nix` (see Prepare for the shapes it may have).
	ReleaseDir = "/.nix-image/release"
	// ImageReleaseDir holds the Nix release of the image's system when
	// the builder's is another (RealiseConfig.BuildSystem): unpacked into
	// the image, never run.
	ImageReleaseDir = "/.nix-image/image-release"
	// NixpkgsDir holds nixpkgs as the unpack step lays it out, a store
	// tree (nix/store/<hash>-nixpkgs), and NixpkgsMetaFile its
	// registration (SourcePath).
	NixpkgsDir      = "/.nix-image/nixpkgs"
	NixpkgsMetaFile = "/.nix-image/nixpkgs-meta/nixpkgs.json"
	ConfigFile      = "/.nix-image/config/realise.json"
	// ContextDir holds the files of the build context the local
	// expressions need (RealiseConfig.Expressions).
	ContextDir = "/.nix-image/context"
	OutDir     = "/out"
)

// Files of the realise step's output (OutDir).
const (
	// ClosureFile describes the closure (Closure, JSON).
	ClosureFile = "closure.json"
	// LayersDir holds one tree per store path the realise step built
	// (Origin Built): LayersDir/<name>/nix/store/<name>.
	LayersDir = "layers"
	// SystemDir is the system tree: the Nix DB, profiles, gcroots, links.
	SystemDir = "root"
)

// Package is one nixpkgs attribute path with the place in the spec that
// asked for it, so that errors can point back at the YAML.
type Package struct {
	Attr  string `json:"attr"`
	Where string `json:"where,omitempty"`
}

// RealiseConfig tells the realise step what to build. llbgen writes it as
// JSON; every list is in spec order and every map is sorted by encoding/json,
// so the same spec gives the same bytes.
type RealiseConfig struct {
	// System is the Nix system type of the image, e.g. x86_64-linux.
	System string `json:"system"`
	// Platform is the image's OCI platform (linux/arm64), for messages.
	Platform string `json:"platform,omitempty"`
	// BuildSystem is the Nix system type of the builder, whose Nix
	// release (ReleaseDir) realises the image. When it is not System,
	// every evaluation is for System, the closure is substituted, and
	// the image's release is the one at ImageReleaseDir.
	BuildSystem string `json:"buildSystem,omitempty"`
	// ForeignBuilds lets Nix build derivations of System on a builder of
	// another BuildSystem (the host's binfmt_misc emulation runs them);
	// without it they must be substituted.
	ForeignBuilds bool `json:"foreignBuilds,omitempty"`
	// NixpkgsWhere names the spec field of the nixpkgs pin.
	NixpkgsWhere string `json:"nixpkgsWhere,omitempty"`
	// NixpkgsURL is the pin's URL, root's channel in the image
	// (/root/.nix-channels).
	NixpkgsURL string `json:"nixpkgsURL,omitempty"`
	// NixpkgsConfig is nixpkgs' config as JSON (spec nixpkgs.config), given
	// to every evaluation of nixpkgs with builtins.fromJSON; empty means {}.
	NixpkgsConfig json.RawMessage `json:"nixpkgsConfig,omitempty"`
	// NixpkgsConfigWhere names the spec field of the config.
	NixpkgsConfigWhere string `json:"nixpkgsConfigWhere,omitempty"`
	// NixWhere says where the spec chose the Nix release, for errors
	// about its version.
	NixWhere string `json:"nixWhere,omitempty"`
	// SystemPackages make up /run/current-system/sw.
	SystemPackages []Package `json:"systemPackages"`
	// ReleaseNix puts the Nix of the release (and the release's whole
	// closure) into the system profile, besides SystemPackages.
	ReleaseNix bool `json:"releaseNix,omitempty"`
	// Packages make up root's profile.
	Packages []Package `json:"packages,omitempty"`
	// Substituters and TrustedPublicKeys configure the Nix that realises.
	Substituters      []string `json:"substituters,omitempty"`
	TrustedPublicKeys []string `json:"trustedPublicKeys,omitempty"`
	// SubstitutersWhere names the spec field of the substituters.
	SubstitutersWhere string `json:"substitutersWhere,omitempty"`
	// NixConfig holds the spec's nixConfig settings that apply while
	// building (spec.BuildNixConfigKeys), set after nix-image's own.
	NixConfig map[string]string `json:"nixConfig,omitempty"`
	// ExtraSubstitutersWhere names the spec field of nixConfig's
	// extra-substituters.
	ExtraSubstitutersWhere string `json:"extraSubstitutersWhere,omitempty"`
	// RegistrationTime is written into the image's Nix DB for every path,
	// so that the DB does not change from one build to the next.
	RegistrationTime int64 `json:"registrationTime"`
	// Expressions are the spec's local expressions, installed into the
	// profile of Packages after them.
	Expressions []Expression `json:"expressions,omitempty"`
	// Flake is the spec's flake and the outputs of it to install into the
	// profile of Packages, after Expressions; nil for none.
	Flake *Flake `json:"flake,omitempty"`
	// User is the image's non-root user, nil for root: Packages make up
	// its profile instead of root's, and it owns /nix and its home in
	// the system tree (see User).
	User *User `json:"user,omitempty"`
	// ReleaseSource names the Nix release (its URL and spec field, or the
	// named context) in errors about its tarball.
	ReleaseSource string `json:"releaseSource,omitempty"`
	// ImageReleaseSource names the image's release (ImageReleaseDir),
	// when it is not the builder's.
	ImageReleaseSource string `json:"imageReleaseSource,omitempty"`
}

// Closure describes the store paths of an image, as written by the
// realise step to /out/closure.json.
type Closure struct {
	// Roots name the store paths the image keeps alive.
	Roots Roots `json:"roots"`
	// Paths are every store path of the closure, sorted by path.
	Paths []PathInfo `json:"paths"`
}

// Roots are the store paths the image's links and gcroots point at.
type Roots struct {
	System  string `json:"system"`
	Profile string `json:"profile,omitempty"`
	Channel string `json:"channel"`
	Nixpkgs string `json:"nixpkgs"`
	Shell   string `json:"shell"`
	Env     string `json:"env"`
	// Release lists, when the system profile's Nix is the release's
	// (RealiseConfig.ReleaseNix), the release's store paths that none of
	// its others refers to: with their closure, every store path of the
	// release goes into the image (as the official installer puts them
	// into a store), each kept by a gcroot.
	Release []string `json:"release,omitempty"`
}

// PathInfo is the registration of one store path.
type PathInfo struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    int64    `json:"narSize"`
	Deriver    string   `json:"deriver,omitempty"`
	References []string `json:"references"`
	// Origin says where the path's layer comes from (the realise step
	// sets it in the closure it writes).
	Origin Origin `json:"origin,omitempty"`
}

// Origin is where a store path of the closure came from, and so where its
// layer is taken from.
type Origin string

const (
	// Fetched paths were substituted from a binary cache or are the Nix
	// release's: a layer step gets them (LayerConfig) from the /nix
	// cache, the release or the substituters, whatever built the closure.
	Fetched Origin = "fetched"
	// Built paths were made by the realise step (profiles, the channel,
	// local expressions): only its output has them, in LayersDir.
	Built Origin = "built"
	// Source is the nixpkgs source, whose layer is the unpack step's
	// output.
	Source Origin = "source"
)
