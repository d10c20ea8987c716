package nixstep

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/moby/buildkit/client/llb"
)

// The layer step (`step layer CONFIG`) writes the layer of store paths
// the realise step fetched (see WriteLayer), its config (LayerConfig, as
// JSON) its only argument.
const layerStep = "layer"

// Mount points of the layer step besides ToolDir and ReleaseDir; the
// layer is its output, OutDir/nix/store/<name>...
const (
	// CacheDir is the realise steps' /nix cache, read-only: where a layer
	// step finds its store paths first.
	CacheDir = "/.nix-image/cache"
)

// LayerConfig tells a layer step which store paths its layer holds and
// where to get those the /nix cache lacks. It is the step's only argument,
// so the step's cache key is what Nix knows of the paths (path, NAR hash
// and size), the substituters and the owner: an unchanged store path hits
// the cache whatever else changed, and nothing is copied or hashed. It
// carries no spec position, which would change the key when a line moves.
type LayerConfig struct {
	Paths []LayerPath `json:"paths"`
	// Owner owns the layer's files (the image's user); nil: root.
	Owner *Owner `json:"owner,omitempty"`
	// Substituters, TrustedPublicKeys and NixConfig configure the Nix
	// that substitutes a path the /nix cache lacks (a second builder, a
	// pruned cache), as they configure the realise step's.
	Substituters      []string          `json:"substituters,omitempty"`
	TrustedPublicKeys []string          `json:"trustedPublicKeys,omitempty"`
	NixConfig         map[string]string `json:"nixConfig,omitempty"`
	// ReleaseSource names the Nix release (ReleaseDir) in errors.
	ReleaseSource string `json:"releaseSource,omitempty"`
}

// LayerPath is one store path of a layer and its registration.
type LayerPath struct {
	Path    string `json:"path"`
	NarHash string `json:"narHash"`
	NarSize int64  `json:"narSize"`
}

// Owner is the numeric owner of a layer's files.
type Owner struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// LayerStep is a layer step: its config and the filesystems it mounts.
type LayerStep struct {
	Config LayerConfig
	// Tool is the frontend image (ToolDir), Release the builder's Nix
	// release (ReleaseDir), to substitute what the cache lacks.
	Tool, Release llb.State
	// CacheID names the realise step's /nix cache (RealiseStep.CacheID),
	// mounted read-only and shared at CacheDir, so the layer steps of an
	// image run at once.
	CacheID string
}

// Args is the step's argv.
func (s LayerStep) Args() []string {
	data, err := json.Marshal(s.Config)
	if err != nil {
		// Strings, numbers and maps of strings only.
		panic(fmt.Sprintf("encoding a layer config: %v", err))
	}
	return stepCommand(layerStep, string(data))
}

// Run returns the step's output, the layer, with the build's options
// opts.
func (s LayerStep) Run(opts ...llb.RunOption) llb.State {
	return runStep([]llb.RunOption{
		llb.Args(s.Args()),
		toolMount(s.Tool),
		llb.AddMount(ReleaseDir, s.Release, llb.Readonly),
		llb.AddMount(CacheDir, llb.Scratch(), llb.AsPersistentCacheDir(s.CacheID, llb.CacheMountShared), llb.Readonly),
		llb.AddMount("/nix", llb.Scratch(), llb.Tmpfs()),
		llb.AddMount(tmpDir, llb.Scratch(), llb.Tmpfs()),
		secretMounts(),
	}, opts).AddMount(OutDir, llb.Scratch())
}

// parseLayer parses the arguments of Args after the step's name.
func parseLayer(args []string) (LayerConfig, error) {
	var cfg LayerConfig
	if len(args) != 1 {
		return cfg, fmt.Errorf("step layer: usage: layer CONFIG-JSON")
	}
	if err := json.Unmarshal([]byte(args[0]), &cfg); err != nil {
		return cfg, fmt.Errorf("step layer: %w", err)
	}
	return cfg, nil
}

// runLayer is the layer step.
func runLayer(ctx context.Context, args []string) error {
	cfg, err := parseLayer(args)
	if err != nil {
		return err
	}
	return WriteLayer(ctx, cfg, CacheDir, OutDir)
}
