package llbgen

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ToolBinary is the path of the frontend binary in the frontend image; the
// build steps run it (`nix-image-frontend step ...`).
const ToolBinary = "/nix-image-frontend"

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
	// Tool is a filesystem holding the frontend binary at ToolBinary,
	// normally the frontend image itself.
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
	// MergeOp tells whether the daemon has MergeOp; without it the layers
	// are stacked with copies.
	MergeOp bool
	// NoSymlinkOp tells that the daemon's FileOp cannot create symlinks
	// (no LLB capability file.symlink.create: BuildKit before v0.19); a
	// step running the frontend binary makes them instead.
	NoSymlinkOp bool
	// AuthorizedKeys is the content of the build secret authorized_keys
	// for the ssh image (empty: none), read by the frontend from the
	// output of AuthorizedKeysStep.
	AuthorizedKeys []byte
	// SourceMap, when set, attaches spec locations to the steps, so that
	// a failing download shows the YAML line that asked for it.
	SourceMap *llb.SourceMap
	// IgnoreCache re-runs every step of the build, fetches and layer
	// copies included (--no-cache, or --no-cache-filter naming the
	// target): see stepOpts.
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
// output of its realise step (Realise) and the closure that output
// describes (its nixstep.ClosureFile, which the frontend reads once the
// step is solved): one layer per store path or group of store paths (see
// planLayers), then /etc, then the system tree.
func Image(r *spec.Resolved, opt Options, realised llb.State, closure *nixstep.Closure) (*Result, error) {
	// The ssh image's own layer counts against the budget too.
	extra := sshLayers(r, opt)
	var layers []layer
	for _, group := range planLayers(closure, r.Layers-len(extra)) {
		layers = append(layers, storeLayer(realised, group, opt, storeOwner(r)))
	}
	layers = append(layers,
		layer{"nix-image: /etc", etcLayer(r, opt)},
		layer{"nix-image: Nix DB, profiles, links", llb.Scratch().File(
			llb.Copy(realised, "/"+nixstep.SystemDir+"/", "/", &llb.CopyInfo{CopyDirContentsOnly: true}),
			stepOpts(opt, llb.WithCustomName("[nix-image] layer: Nix DB, profiles, links"))...,
		)},
	)
	layers = append(layers, extra...)
	img, err := imageConfig(r, opt, layers)
	if err != nil {
		return nil, err
	}
	return &Result{State: stack(layers, opt), Image: img}, nil
}

// storeLayer copies store paths out of the realise step's output. The
// copy's cache key depends on the content of the paths, not on the step
// that made them, so an unchanged store path hits the cache, and keeps its
// layer digest, even when the spec, the package list or the nixpkgs pin
// changed.
func storeLayer(realised llb.State, paths []string, opt Options, owner *llb.ChownOpt) layer {
	var fa *llb.FileAction
	for _, p := range paths {
		src := "/" + nixstep.LayersDir + "/" + path.Base(p) + "/"
		ci := &llb.CopyInfo{CopyDirContentsOnly: true, ChownOpt: owner}
		if fa == nil {
			fa = llb.Copy(realised, src, "/", ci)
		} else {
			fa = fa.Copy(realised, src, "/", ci)
		}
	}
	name := path.Base(paths[0])
	if len(paths) > 1 {
		name = fmt.Sprintf("%d store paths", len(paths))
	}
	return layer{
		comment: "nix-image: " + strings.Join(paths, " "),
		state:   llb.Scratch().File(fa, stepOpts(opt, llb.WithCustomName("[nix-image] layer: "+name))...),
	}
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
	if opt.MergeOp {
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

// symlink is a symlink at link pointing to target.
type symlink struct{ target, link string }

// etcLinks are the symlinks of /etc: the CA bundle, at the paths tools
// look for it.
var etcLinks = []symlink{
	{"/run/current-system/sw" + caBundle, caBundle},
	{"/run/current-system/sw" + caBundle, "/etc/ssl/certs/ca-certificates.crt"},
}

// symlinkStep adds links to the tree dir with the frontend binary
// (nixstep.Symlinks), for daemons whose FileOp cannot create symlinks.
func symlinkStep(opt Options, dir llb.State, links []symlink) llb.State {
	const out = "/out"
	args := []string{nixstep.ToolDir + ToolBinary, "step", "symlinks", out}
	for _, l := range links {
		args = append(args, l.target, l.link)
	}
	run := llb.Scratch().Run(stepOpts[llb.RunOption](opt,
		llb.Args(args),
		llb.AddMount(nixstep.ToolDir, opt.Tool, llb.Readonly),
		llb.Network(pb.NetMode_NONE),
		onBuilder(opt),
		llb.WithCustomName("[nix-image] symlinks (the daemon's FileOp cannot make them)"),
	)...)
	return run.AddMount(out, dir)
}

// withSymlinks runs the file actions fa on scratch, named name, and adds
// links: as FileOp symlinks, or with symlinkStep on a daemon without them
// (Options.NoSymlinkOp).
func withSymlinks(opt Options, fa *llb.FileAction, links []symlink, name string) llb.State {
	if !opt.NoSymlinkOp {
		for _, l := range links {
			fa = fa.Symlink(l.target, l.link)
		}
	}
	files := llb.Scratch().File(fa, stepOpts(opt, llb.WithCustomName(name))...)
	if opt.NoSymlinkOp {
		files = symlinkStep(opt, files, links)
	}
	return files
}

// Realise returns the output of the realise step: its closure file, one
// file tree per store path and the system tree (see nixstep.Realise).
func Realise(s *spec.Spec, r *spec.Resolved, opt Options) (llb.State, error) {
	system, _, err := Systems(opt)
	if err != nil {
		return llb.State{}, err
	}
	rels, err := releasesOf(s, r, opt)
	if err != nil {
		return llb.State{}, err
	}
	pkgsTree := prepare(opt, "nixpkgs", nixpkgsSource(s, r, opt), "default.nix", nixpkgsSourceName(r, opt), nixpkgsCheck(s, r, opt), locate(s, opt, "nixpkgs.narHash")...)
	pkgsConfig, err := nixpkgsConfig(r)
	if err != nil {
		return llb.State{}, err
	}
	cfg := nixstep.RealiseConfig{
		System:            system,
		NixpkgsWhere:      origin(s, opt, "nixpkgs.url"),
		SystemPackages:    packages(s, r, opt, r.SystemPackages),
		ReleaseNix:        r.SystemNix == spec.SystemNixRelease,
		Packages:          packages(s, r, opt, r.Packages),
		Substituters:      r.Substituters,
		TrustedPublicKeys: r.TrustedPublicKeys,
		SubstitutersWhere: origin(s, opt, "substituters"),
		RegistrationTime:  opt.Epoch.Unix(),
		User:              realiseUser(r),
		Expressions:       expressions(s, r, opt),
		Flake:             flake(s, r, opt),
	}
	buildNixConfig(s, r, opt, &cfg)
	cfg.NixpkgsURL = r.Nixpkgs.URL
	cfg.NixpkgsConfig = pkgsConfig
	cfg.NixpkgsConfigWhere = where(s, opt, "nixpkgs.config")
	cfg.NixWhere = nixWhere(s, r, opt)
	cfg.ReleaseSource = rels.build.source
	cfg.BuildSystem = rels.build.system
	cfg.Platform = platformString(opt.Platform)
	cfg.ForeignBuilds = opt.ForeignBuilds
	releaseMounts := []llb.RunOption{llb.AddMount(nixstep.ReleaseDir, rels.build.state, llb.Readonly)}
	if rels.image != nil {
		cfg.ImageReleaseSource = rels.image.source
		releaseMounts = append(releaseMounts, llb.AddMount(nixstep.ImageReleaseDir, rels.image.state, llb.Readonly))
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return llb.State{}, fmt.Errorf("encoding the realise config: %w", err)
	}
	config := llb.Scratch().File(
		llb.Mkfile(path.Base(nixstep.ConfigFile), 0o644, append(data, '\n'), llb.WithCreatedTime(opt.Epoch)),
		stepOpts(opt, llb.WithCustomName("[nix-image] realise config"))...,
	)
	var ctxMount []llb.RunOption
	if NeedsContext(r) {
		if opt.Context == nil {
			return llb.State{}, fmt.Errorf("%s: expressions and the flake need the build context", opt.Filename)
		}
		ctxMount = append(ctxMount, llb.AddMount(nixstep.ContextDir, contextFiles(r, opt), llb.Readonly))
	}
	run := llb.Scratch().Run(networkStep(opt, append(append(ctxMount, releaseMounts...),
		llb.Args([]string{nixstep.ToolDir + ToolBinary, "step", "realise"}),
		llb.AddMount(nixstep.ToolDir, opt.Tool, llb.Readonly),
		llb.AddMount(nixstep.NixpkgsDir, pkgsTree, llb.Readonly),
		llb.AddMount(path.Dir(nixstep.ConfigFile), config, llb.Readonly),
		llb.AddMount("/nix", llb.Scratch(), llb.AsPersistentCacheDir(cacheID(opt, system, rels.build), llb.CacheMountLocked)),
		onBuilder(opt),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		realiseSecrets(),
		llb.WithCustomName(fmt.Sprintf("[nix-image] realise %s closure of %s: %s", system, r.Target, strings.Join(append(append(append([]string{}, r.SystemPackages...), r.Packages...), expressionNames(r)...), " "))),
	)...)...)
	return run.AddMount(nixstep.OutDir, llb.Scratch()), nil
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
