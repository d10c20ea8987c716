package nixstep

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/gateway/client"
)

// The realise step (`step realise`) realises the closure of an image on
// the builder's Nix release, with /nix as a persistent cache mount, from
// the config (RealiseConfig) in ConfigFile; its output (OutDir) holds the
// closure (ClosureFile), the trees of the store paths it built (LayersDir),
// the system tree (SystemTreeDir) and the SBOM meta (MetaFile).
const realiseStep = "realise"

// Mount points of the realise step, besides ToolDir and ReleaseDir.
const (
	// ImageReleaseDir holds the Nix release of the image's system when
	// the builder's is another (RealiseConfig.BuildSystem): unpacked into
	// the image, never run.
	ImageReleaseDir = "/.nix-image/image-release"
	// NixpkgsDir holds nixpkgs as the prepare step lays it out, a store
	// tree (nix/store/<hash>-nixpkgs), and NixpkgsMetaFile its
	// registration (SourcePath).
	NixpkgsDir      = "/.nix-image/nixpkgs"
	NixpkgsMetaFile = "/.nix-image/nixpkgs-meta/nixpkgs.json"
	ConfigFile      = "/.nix-image/config/realise.json"
	// ContextDir holds the files of the build context the local
	// expressions need (RealiseConfig.Expressions).
	ContextDir = "/.nix-image/context"
)

// Files of the realise step's output (OutDir).
const (
	// ClosureFile describes the closure (Closure, JSON).
	ClosureFile = "closure.json"
	// LayersDir holds one tree per store path the realise step built
	// (Origin Built), and per fetched one too with
	// RealiseConfig.FetchedTrees: LayersDir/<name>/nix/store/<name>.
	LayersDir = "layers"
	// SystemTreeDir holds the system tree: the Nix DB, profiles,
	// gcroots, links (its name is part of the image's LLB, the source
	// of the system layer's copy).
	SystemTreeDir = "root"
)

// RealiseStep is a realise step: its config and the filesystems it
// mounts.
type RealiseStep struct {
	Config RealiseConfig
	// Tool is the frontend image (ToolDir); Release the builder's Nix
	// release (ReleaseDir) and ImageRelease the image's, when it is
	// another (ImageReleaseDir).
	Tool, Release llb.State
	ImageRelease  *llb.State
	// Nixpkgs and NixpkgsMeta are the prepare step's outputs for
	// nixpkgs: the store tree (NixpkgsDir) and its registration
	// (NixpkgsMetaFile).
	Nixpkgs, NixpkgsMeta llb.State
	// Context holds the build context files of the expressions and the
	// flake (ContextDir); nil without any.
	Context *llb.State
	// CacheID names the persistent /nix cache, which the layer steps
	// mount too (LayerStep.CacheID).
	CacheID string
	// NixpkgsByContent keeps BuildKit's content-based cache key of the
	// Nixpkgs mount (see keyedByStep), for a daemon that cannot turn it
	// off (no LLB capability exec.mount.cache.content: BuildKit v0.12).
	NixpkgsByContent bool
	// Epoch is the time of the config file.
	Epoch time.Time
}

// Args is the step's argv: the step reads everything else from its
// mounts.
func (RealiseStep) Args() []string { return stepCommand(realiseStep) }

// Run returns the step's output. configOpts are the build's options of
// the op that writes the config file, opts those of the step.
func (s RealiseStep) Run(configOpts []llb.ConstraintsOpt, opts ...llb.RunOption) (llb.State, error) {
	data, err := json.MarshalIndent(s.Config, "", "  ")
	if err != nil {
		return llb.State{}, fmt.Errorf("encoding the realise config: %w", err)
	}
	config := llb.Scratch().File(
		llb.Mkfile(path.Base(ConfigFile), 0o644, append(data, '\n'), llb.WithCreatedTime(s.Epoch)),
		configOpts...,
	)
	pkgsMount := []llb.MountOption{llb.Readonly}
	if !s.NixpkgsByContent {
		pkgsMount = append(pkgsMount, keyedByStep)
	}
	own := []llb.RunOption{
		llb.Args(s.Args()),
		toolMount(s.Tool),
		llb.AddMount(ReleaseDir, s.Release, llb.Readonly),
		llb.AddMount(NixpkgsDir, s.Nixpkgs, pkgsMount...),
		llb.AddMount(path.Dir(NixpkgsMetaFile), s.NixpkgsMeta, llb.Readonly),
		llb.AddMount(path.Dir(ConfigFile), config, llb.Readonly),
		llb.AddMount("/nix", llb.Scratch(), llb.AsPersistentCacheDir(s.CacheID, llb.CacheMountLocked)),
		llb.AddMount(tmpDir, llb.Scratch(), llb.Tmpfs()),
		secretMounts(),
	}
	if s.ImageRelease != nil {
		own = append(own, llb.AddMount(ImageReleaseDir, *s.ImageRelease, llb.Readonly))
	}
	if s.Context != nil {
		own = append(own, llb.AddMount(ContextDir, *s.Context, llb.Readonly))
	}
	return runStep(own, opts).AddMount(OutDir, llb.Scratch()), nil
}

// keyedByStep mounts a large read-only tree that a step of ours made
// from pinned input (the unpacked nixpkgs) without content-based caching:
// the mounting step's cache key then comes from the key of the step that
// made the tree, not from a checksum of its every file, which BuildKit
// otherwise computes before the mounting step runs and whenever its key
// misses (5 s for nixpkgs' 45,000 files, in a cold build and in every
// build that changes the package list). The tree is a function of its pin
// (or, for a named context, of the context's content, which the making
// step's key follows), so no cache hit is lost. Never for a named context
// mounted as it is: its key changes with every build's session, and only
// its content makes a later build hit.
var keyedByStep = llb.ContentCache(llb.MountContentCacheOff)

// runRealise is the realise step.
func runRealise(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("step realise: usage: realise (it takes no arguments; its config is %s)", ConfigFile)
	}
	data, err := os.ReadFile(ConfigFile)
	if err != nil {
		return fmt.Errorf("step realise: %w", err)
	}
	var cfg RealiseConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("step realise: %s: %w", ConfigFile, err)
	}
	return Realise(ctx, cfg, OutDir)
}

// ReadClosure reads the closure (ClosureFile) of a realise step's output.
func ReadClosure(ctx context.Context, out Output) (*Closure, error) {
	var c Closure
	if err := readJSON(ctx, out, ClosureFile, &c); err != nil {
		return nil, fmt.Errorf("reading the closure: %w", err)
	}
	return &c, nil
}

// ReadMeta reads the SBOM meta (MetaFile) of a realise step's output.
func ReadMeta(ctx context.Context, out Output) (*Meta, error) {
	var m Meta
	if err := readJSON(ctx, out, MetaFile, &m); err != nil {
		return nil, fmt.Errorf("reading the SBOM meta: %w", err)
	}
	return &m, nil
}

// SystemTree is the system tree in a realise step's output, as a source
// path of a copy of its content.
func SystemTree() string { return "/" + SystemTreeDir + "/" }

// BuiltTree is the layer tree of the built store path p in a realise
// step's output, as a source path of a copy of its content.
func BuiltTree(p string) string { return "/" + LayersDir + "/" + path.Base(p) + "/" }

// readJSON decodes the JSON file name of out into v.
func readJSON(ctx context.Context, out Output, name string, v any) error {
	data, err := out.ReadFile(ctx, client.ReadRequest{Filename: name})
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

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
	// FetchedTrees has the step write the trees of the fetched paths
	// too (LayersDir), for a build that ignores the cache (--no-cache):
	// BuildKit then mounts new, empty /nix caches (one for this step,
	// another for the layer steps), so a layer step would find none of
	// the paths this step fetched and would fetch them all again.
	FetchedTrees bool `json:"fetchedTrees,omitempty"`
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
	// Shell and EnvBinary are the programs /bin/sh and /usr/bin/env
	// link to: bash and env of the system profile.
	Shell     string `json:"shell"`
	EnvBinary string `json:"envBinary"`
	// Packages are the names of the requested packages (their
	// derivations' names, as the store paths of their outputs end), the
	// system profile's then root's, in the spec's order: the order in
	// which their layers claim store paths (llbgen's planLayers).
	Packages []string `json:"packages,omitempty"`
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
