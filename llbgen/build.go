package llbgen

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options are the inputs of a build besides the spec.
type Options struct {
	// Filename names the spec in error locations.
	Filename string
	// Platform is the image's platform.
	Platform ocispecs.Platform
	// BuildPlatform is the builder's platform (the first of the daemon's
	// BuildPlatforms): every step that runs the frontend binary or Nix
	// runs on it, with the Nix release of its system, so that no step
	// needs emulation, whatever the image's platform. Zero means
	// Platform.
	BuildPlatform ocispecs.Platform
	// Tool is a filesystem holding the frontend binary at
	// nixstep.ToolBinary, normally the frontend image itself: the build
	// steps run it.
	Tool llb.State
	// NixSHA256 is the release tarball's sha256 when the spec gives only a
	// version; the frontend reads it from the install script.
	NixSHA256 string
	// BuildNixSHA256 is NixSHA256 of the build platform's release, when
	// its Nix system differs from the image's (then both are needed).
	BuildNixSHA256 string
	// NixContext and NixpkgsContext replace the downloads when the user
	// passes the named contexts `nix` and `nixpkgs`
	// (--build-context nix=...): an unpacked release or nixpkgs tree, a
	// directory holding one, or a directory holding its tarball.
	NixContext, NixpkgsContext *llb.State
	// NixSystemContexts are the named contexts nix-<system> (see
	// SystemContextName), by Nix system type: the release of that
	// system, before NixContext.
	NixSystemContexts map[string]llb.State
	// Context is the build context, for the local expressions: the
	// frontend loads only the paths they need (spec.Resolved.ContextPaths);
	// nil when the spec has none.
	Context *llb.State
	// CacheNamespace prefixes the id of the persistent /nix cache mount
	// (BUILDKIT_CACHE_MOUNT_NS).
	CacheNamespace string
	// Epoch is the time written into files, the Nix DB and the image
	// config (SOURCE_DATE_EPOCH; the Unix epoch by default).
	Epoch time.Time
	// Labels are the build's --label labels, set in the image config over
	// the spec's and nix-image's own.
	Labels map[string]string
	// UseMergeOp stacks the layers with MergeOp: the daemon has it and
	// the build arg NIX_IMAGE_MERGEOP does not turn it off. Without it
	// the layers are stacked with copies.
	UseMergeOp bool
	// NoSymlinkOp tells that the daemon's FileOp cannot create symlinks
	// (no LLB capability file.symlink.create: BuildKit before v0.19); a
	// step running the frontend binary makes them instead.
	NoSymlinkOp bool
	// NoMountContentCache tells that the daemon cannot turn a mount's
	// content-based cache key off (no LLB capability
	// exec.mount.cache.content: BuildKit v0.12); the realise step then
	// keys its nixpkgs mount by content (nixstep.RealiseStep).
	NoMountContentCache bool
	// AuthorizedKeys is the content of the build secret authorized_keys
	// for the ssh image (empty: none), read by the frontend from the
	// output of AuthorizedKeysStep.
	AuthorizedKeys []byte
	// SourceMap, when set, attaches spec locations to the steps, so that
	// a failing download shows the YAML line that asked for it.
	SourceMap *SourceMap
	// IgnoreCache re-runs every step of the build, fetches and layer
	// copies included (--no-cache, or --no-cache-filter naming the
	// target): see stepOpts. BuildKit then mounts new, empty /nix caches
	// (the realise step's is not the layer steps'), so the layers are
	// copied out of the realise step's output.
	IgnoreCache bool
	// Proxy holds the proxy build args (HTTP_PROXY, ...), given to the
	// steps that reach the network; nil without any.
	Proxy *llb.ProxyEnv
	// ForeignBuilds lets the realise step build derivations of the
	// image's system when it is not the builder's, running them through
	// the host's binfmt_misc emulation (build arg
	// NIX_IMAGE_FOREIGN_BUILDS); without it they must be substituted.
	ForeignBuilds bool
}

// Image returns the image of a target, assembled in scratch from the
// store paths of its closure (the closure file of realised.Output, which
// the frontend reads once the realise step is solved): a layer per
// package with the paths it needs that no package before it has, or per
// path that keeps a layer of its own (see planLayers), then /etc, then
// the system tree.
func Image(r *spec.Resolved, opt Options, realised *Realised, closure *nixstep.Closure) (*Result, error) {
	// The ssh image's own layer counts against the budget too.
	extra := sshLayers(r, opt)
	var layers []layer
	for _, group := range planLayers(closure, r.Layers-len(extra)) {
		layers = append(layers, storeLayer(realised, group, opt, r))
	}
	layers = append(layers,
		layer{"nix-image: /etc", etcLayer(r, opt)},
		layer{"nix-image: Nix DB, profiles, links", llb.Scratch().File(
			llb.Copy(realised.Output, nixstep.SystemTree(), "/", &llb.CopyInfo{CopyDirContentsOnly: true}),
			stepOpts(opt, llb.WithCustomName("[nix-image] layer: Nix DB, profiles, links"))...,
		)},
	)
	layers = append(layers, extra...)
	return &Result{State: stack(layers, opt), Image: imageConfig(r, opt, layers)}, nil
}

// storeLayer is the layer of a group of store paths. Where a path comes
// from depends on its origin (nixstep.Origin):
//   - fetched paths (substituted, or the release's) are written by one
//     layer step (layerStep) whose cache key is made of what Nix knows of
//     them, so an unchanged path hits the cache, copying and hashing
//     nothing, even when the spec, the package list or the nixpkgs pin
//     changed;
//   - the nixpkgs source is the unpack step's own output, made once per
//     pin (copied, in the one group of the smallest budget: an ssh image
//     of 4 layers);
//   - paths the realise step built are copied out of its output (keyed by
//     their content), and so are the fetched ones in a build that ignores
//     the cache (see nixstep.RealiseConfig.FetchedTrees).
func storeLayer(realised *Realised, group []nixstep.PathInfo, opt Options, r *spec.Resolved) layer {
	var fetched []nixstep.LayerPath
	var built []string
	source := false
	for _, p := range group {
		switch {
		case p.Origin == nixstep.Source && len(group) == 1:
			// planLayers gives the source a layer of its own, but
			// at the smallest budget.
			return layer{comment: "nix-image: " + p.Path, state: sourceLayer(realised, opt, r)}
		case p.Origin == nixstep.Source:
			source = true
		case p.Origin == nixstep.Built || realised.fetchedTrees:
			built = append(built, p.Path)
		default:
			fetched = append(fetched, nixstep.LayerPath{Path: p.Path, NarHash: p.NarHash, NarSize: p.NarSize})
		}
	}
	paths := make([]string, len(group))
	for i, p := range group {
		paths[i] = p.Path
	}
	name := path.Base(paths[0])
	if len(paths) > 1 {
		name = fmt.Sprintf("%d store paths", len(paths))
	}
	comment := "nix-image: " + strings.Join(paths, " ")
	if len(built) == 0 && !source {
		return layer{comment: comment, state: layerStep(realised, fetched, opt, name)}
	}
	// One snapshot on scratch, so that the layer is one layer: a copy
	// onto the layer step's output would be a second one.
	var fa *llb.FileAction
	add := func(from llb.State, src string, ci *llb.CopyInfo) {
		if fa == nil {
			fa = llb.Copy(from, src, "/", ci)
		} else {
			fa = fa.Copy(from, src, "/", ci)
		}
	}
	if len(fetched) > 0 {
		add(layerStep(realised, fetched, opt, name), "/", &llb.CopyInfo{CopyDirContentsOnly: true})
	}
	for _, p := range built {
		add(realised.Output, nixstep.BuiltTree(p), &llb.CopyInfo{CopyDirContentsOnly: true, ChownOpt: storeOwner(r)})
	}
	if source {
		add(sourceLayer(realised, opt, r), "/", &llb.CopyInfo{CopyDirContentsOnly: true})
	}
	return layer{comment: comment, state: llb.Scratch().File(fa, stepOpts(opt, llb.WithCustomName("[nix-image] layer: "+name))...)}
}

// layerStep runs the layer step (nixstep.WriteLayer) for store paths the
// realise step fetched. It mounts the realise step's /nix cache read-only
// and shared, so the layer steps of an image run at once, and the
// release, to substitute what the cache lacks (another builder, a pruned
// cache): the cache is an accelerator, never the only source.
func layerStep(realised *Realised, paths []nixstep.LayerPath, opt Options, name string) llb.State {
	step := nixstep.LayerStep{Config: realised.fetch, Tool: opt.Tool, Release: realised.release, CacheID: realised.cacheID}
	step.Config.Paths = paths
	return step.Run(networkStep(opt, onBuilder(opt), llb.WithCustomName("[nix-image] layer: "+name))...)
}

// sourceLayer is the layer of the nixpkgs source: the unpack step's
// output itself, or a copy of it owned by the image's user.
func sourceLayer(realised *Realised, opt Options, r *spec.Resolved) llb.State {
	owner := storeOwner(r)
	if owner == nil {
		return realised.nixpkgs
	}
	return llb.Scratch().File(
		llb.Copy(realised.nixpkgs, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, ChownOpt: owner}),
		stepOpts(opt, llb.WithCustomName("[nix-image] layer: nixpkgs"))...,
	)
}

// storeOwner is the owner of the store layers' files: nil (root, as the
// realise step wrote them) unless the image has a user, who owns the
// store (single-user Nix). The copy sets it, so the layers of an image
// without a user stay byte for byte what they were.
func storeOwner(r *spec.Resolved) *llb.ChownOpt {
	if !r.User.IsSet() {
		return nil
	}
	return &llb.ChownOpt{User: &llb.UserOpt{UID: r.User.UID}, Group: &llb.UserOpt{UID: r.User.GID}}
}

// layerOwner is storeOwner for the layer steps.
func layerOwner(r *spec.Resolved) *nixstep.Owner {
	if !r.User.IsSet() {
		return nil
	}
	return &nixstep.Owner{UID: r.User.UID, GID: r.User.GID}
}

// layer is one layer of an image and the history line describing it.
type layer struct {
	comment string
	state   llb.State
}

// stack puts layers on top of each other. MergeOp keeps every layer
// independent, so a changed layer does not invalidate the ones above it;
// daemons without it get the same files through sequential copies.
func stack(layers []layer, opt Options) llb.State {
	states := make([]llb.State, len(layers))
	for i, l := range layers {
		states[i] = l.state
	}
	if opt.UseMergeOp {
		return llb.Merge(states, stepOpts(opt, llb.WithCustomName("[nix-image] merge layers"))...)
	}
	st := states[0]
	for _, s := range states[1:] {
		st = st.File(llb.Copy(s, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true}), stepOpts[llb.ConstraintsOpt](opt)...)
	}
	return st
}

// etcLayer holds the image's /etc. Its files are written in one state and
// copied into the layer with the epoch as every file's time: writing a
// file changes its directory's time, so the directories would otherwise
// carry the time of the build.
func etcLayer(r *spec.Resolved, opt Options) llb.State {
	fa := llb.Mkdir("/etc", 0o755).
		Mkdir("/etc/nix", 0o755).
		Mkdir("/etc/ssl", 0o755).
		Mkdir("/etc/ssl/certs", 0o755)
	for _, f := range etcFiles(r) {
		fa = fa.Mkfile(f.path, f.mode, []byte(f.data))
	}
	files := withSymlinks(opt, fa, etcLinks, "[nix-image] write /etc")
	return llb.Scratch().File(
		llb.Copy(files, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true}, llb.WithCreatedTime(opt.Epoch)),
		stepOpts(opt, llb.WithCustomName("[nix-image] layer: /etc"))...,
	)
}

// etcLinks are the symlinks of /etc: the CA bundle, at the paths tools
// look for it.
var etcLinks = []nixstep.Symlink{
	{Target: "/run/current-system/sw" + caBundle, Link: caBundle},
	{Target: "/run/current-system/sw" + caBundle, Link: "/etc/ssl/certs/ca-certificates.crt"},
}

// symlinkStep adds links to the tree dir with the frontend binary
// (nixstep.Symlinks), for daemons whose FileOp cannot create symlinks.
func symlinkStep(opt Options, dir llb.State, links []nixstep.Symlink) llb.State {
	step := nixstep.SymlinksStep{Tool: opt.Tool, Links: links}
	return step.Run(dir, stepOpts[llb.RunOption](opt,
		onBuilder(opt),
		llb.WithCustomName("[nix-image] symlinks (the daemon's FileOp cannot make them)"),
	)...)
}

// withSymlinks runs the file actions fa on scratch, named name, and adds
// links: as FileOp symlinks, or with symlinkStep on a daemon without them
// (Options.NoSymlinkOp).
func withSymlinks(opt Options, fa *llb.FileAction, links []nixstep.Symlink, name string) llb.State {
	if !opt.NoSymlinkOp {
		for _, l := range links {
			fa = fa.Symlink(l.Target, l.Link)
		}
	}
	files := llb.Scratch().File(fa, stepOpts(opt, llb.WithCustomName(name))...)
	if opt.NoSymlinkOp {
		files = symlinkStep(opt, files, links)
	}
	return files
}

// Realised is what the realise step of a target gives the image: its
// output (Output: the closure file, the trees of the store paths it built,
// the system tree; see nixstep.Realise), which the frontend solves and
// reads before Image, and the inputs the layer steps share with it.
type Realised struct {
	Output llb.State
	// nixpkgs is the nixpkgs source's store tree (unpackNixpkgs).
	nixpkgs llb.State
	// release is the Nix release as the realise step mounts it.
	release llb.State
	// cacheID names the /nix cache the realise step fills.
	cacheID string
	// fetch is the part of every layer step's config that says where
	// to get a store path the /nix cache lacks.
	fetch nixstep.LayerConfig
	// fetchedTrees tells that Output holds the trees of the fetched
	// paths too (Options.IgnoreCache): their layers are copies of them,
	// not layer steps.
	fetchedTrees bool
}

// Realise returns the realise step of a target (see Realised).
func Realise(r *spec.Resolved, opt Options) (*Realised, error) {
	system, _, err := Systems(opt)
	if err != nil {
		return nil, err
	}
	rels, err := releasesOf(r, opt)
	if err != nil {
		return nil, err
	}
	pkgsTree, pkgsMeta := unpackNixpkgs(r, opt)
	pkgsConfig, err := nixpkgsConfig(r)
	if err != nil {
		return nil, err
	}
	cfg := nixstep.RealiseConfig{
		System:            system,
		NixpkgsWhere:      origin(r, opt, "nixpkgs.url"),
		SystemPackages:    packages(r, opt, r.SystemPackages),
		ReleaseNix:        r.SystemNix == spec.SystemNixRelease,
		Packages:          packages(r, opt, r.Packages),
		Substituters:      r.Substituters,
		TrustedPublicKeys: r.TrustedPublicKeys,
		SubstitutersWhere: origin(r, opt, "substituters"),
		RegistrationTime:  opt.Epoch.Unix(),
		User:              realiseUser(r),
		Expressions:       expressions(r, opt),
		Flake:             flake(r, opt),
	}
	buildNixConfig(r, opt, &cfg)
	cfg.NixpkgsURL = r.Nixpkgs.URL
	cfg.NixpkgsConfig = pkgsConfig
	cfg.NixpkgsConfigWhere = where(r, opt, "nixpkgs.config")
	cfg.NixWhere = nixWhere(r, opt)
	cfg.ReleaseSource = rels.build.source
	cfg.BuildSystem = rels.build.system
	cfg.Platform = platformString(opt.Platform)
	cfg.ForeignBuilds = opt.ForeignBuilds
	cfg.FetchedTrees = opt.IgnoreCache
	step := nixstep.RealiseStep{
		Tool:        opt.Tool,
		Release:     rels.build.state,
		Nixpkgs:     pkgsTree,
		NixpkgsMeta: pkgsMeta,
		CacheID:     cacheID(opt, system, rels.build),
		Epoch:       opt.Epoch,

		NixpkgsByContent: opt.NoMountContentCache,
	}
	if rels.image != nil {
		cfg.ImageReleaseSource = rels.image.source
		step.ImageRelease = &rels.image.state
	}
	step.Config = cfg
	if NeedsContext(r) {
		if opt.Context == nil {
			return nil, fmt.Errorf("%s: expressions and the flake need the build context", opt.Filename)
		}
		files := contextFiles(r, opt)
		step.Context = &files
	}
	out, err := step.Run(stepOpts(opt, llb.WithCustomName("[nix-image] realise config")), networkStep(opt,
		onBuilder(opt),
		llb.WithCustomName(fmt.Sprintf("[nix-image] realise %s closure of %s: %s", system, r.Target, strings.Join(append(append(append([]string{}, r.SystemPackages...), r.Packages...), expressionNames(r)...), " "))),
	)...)
	if err != nil {
		return nil, err
	}
	return &Realised{
		Output:       out,
		nixpkgs:      pkgsTree,
		release:      rels.build.state,
		cacheID:      step.CacheID,
		fetchedTrees: cfg.FetchedTrees,
		fetch: nixstep.LayerConfig{
			Owner:             layerOwner(r),
			Substituters:      cfg.Substituters,
			TrustedPublicKeys: cfg.TrustedPublicKeys,
			NixConfig:         cfg.NixConfig,
			ReleaseSource:     rels.build.name,
		},
	}, nil
}

// realiseUser is the image's user as the realise step needs it, or nil.
func realiseUser(r *spec.Resolved) *nixstep.User {
	if !r.User.IsSet() {
		return nil
	}
	return &nixstep.User{Name: r.User.Name, UID: r.User.UID, GID: r.User.GID, Home: r.User.Home()}
}

// cacheID names the persistent /nix cache: per namespace, image system
// (the realise steps of a multi-platform build run at once, each on a
// mount of its own) and the release whose Nix realises it, since a Nix DB
// cannot always be opened by an older Nix; an image realised on a builder
// of another system adds that system.
func cacheID(opt Options, system string, build nixRelease) string {
	id := "nix-image/nix/" + system + "/" + build.id
	if build.system != system {
		id = "nix-image/nix/" + system + "/" + build.system + "/" + build.id
	}
	if opt.CacheNamespace != "" {
		id = opt.CacheNamespace + "/" + id
	}
	return id
}
