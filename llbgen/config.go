package llbgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Result is a built image: its filesystem and its config.
type Result struct {
	State llb.State
	Image *dockerspec.DockerOCIImage
}

// defaultEnv is the environment of every image: the profiles on PATH, the
// bundled channel on NIX_PATH and the CA bundle for every TLS client.
var defaultEnv = [][2]string{
	{"PATH", "/root/.nix-profile/bin:/run/current-system/sw/bin"},
	{"MANPATH", "/root/.nix-profile/share/man:/run/current-system/sw/share/man"},
	{"NIX_PATH", "nixpkgs=/root/.nix-defexpr/channels/nixpkgs"},
	{"NIX_SSL_CERT_FILE", caBundle},
	{"SSL_CERT_FILE", caBundle},
	{"GIT_SSL_CAINFO", caBundle},
	{"USER", "root"},
	{"NIX_PAGER", "cat"},
}

// imageEnv is defaultEnv for the image's user: with a user, its own
// profile and channels instead of root's, its name and home.
func imageEnv(r *spec.Resolved) [][2]string {
	if !r.User.IsSet() {
		return defaultEnv
	}
	home := r.User.Home()
	env := slices.Clone(defaultEnv)
	for i, kv := range env {
		env[i][1] = strings.ReplaceAll(kv[1], "/root/", home+"/")
		if kv[0] == "USER" {
			env[i][1] = r.User.Name
		}
	}
	return append(env, [2]string{"HOME", home})
}

// imageConfig returns the OCI config of an image with the given layers:
// the final config, which the frontend passes on as it is.
func imageConfig(r *spec.Resolved, opt Options, layers []layer) *dockerspec.DockerOCIImage {
	epoch := opt.Epoch.UTC()
	img := &dockerspec.DockerOCIImage{}
	img.Platform = ocispecs.Platform{OS: opt.Platform.OS, Architecture: opt.Platform.Architecture, Variant: opt.Platform.Variant}
	img.Created = &epoch
	img.RootFS.Type = "layers"
	for _, l := range layers {
		img.History = append(img.History, ocispecs.History{Created: &epoch, CreatedBy: l.comment, Comment: "nix-image"})
	}
	c := &img.Config
	c.Env = mergeEnv(imageEnv(r), r.Config.Env)
	c.Cmd = []string{profileBin + "/bash"}
	if r.SSHServer {
		c.Cmd = slices.Clone(sshCmd)
	}
	if len(r.Config.Cmd) > 0 {
		c.Cmd = slices.Clone(r.Config.Cmd)
	}
	c.Entrypoint = slices.Clone(r.Config.Entrypoint)
	c.User = r.Config.User
	if r.User.IsSet() {
		// Numeric, so that runtimes checking runAsNonRoot need no passwd.
		c.User = fmt.Sprintf("%d:%d", r.User.UID, r.User.GID)
	}
	c.WorkingDir = r.Config.WorkingDir
	c.Labels = map[string]string{
		"org.opencontainers.image.title":       "nix-image " + r.Target,
		"org.opencontainers.image.description": description(r),
	}
	maps.Copy(c.Labels, r.Config.Labels)
	maps.Copy(c.Labels, opt.Labels)
	if len(r.Config.ExposedPorts) > 0 {
		// Already N/proto: spec's validation normalised them.
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range r.Config.ExposedPorts {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	return img
}

// description says which Nix the image's system profile has.
func description(r *spec.Resolved) string {
	if r.SystemNix == spec.SystemNixNixpkgs {
		return fmt.Sprintf("Nix of nixpkgs %s (realised with Nix %s)", r.Nixpkgs.URL, nixVersion(r))
	}
	return fmt.Sprintf("Nix %s with nixpkgs %s", nixVersion(r), r.Nixpkgs.URL)
}

func nixVersion(r *spec.Resolved) string {
	if r.Nix.Version != "" {
		return r.Nix.Version
	}
	return "from " + r.Nix.URL
}

// mergeEnv returns base with overrides applied: a variable keeps its place
// when overridden, new ones follow in sorted order.
func mergeEnv(base [][2]string, overrides map[string]string) []string {
	env := make([]string, 0, len(base)+len(overrides))
	seen := map[string]bool{}
	for _, kv := range base {
		v := kv[1]
		if o, ok := overrides[kv[0]]; ok {
			v = o
		}
		env = append(env, kv[0]+"="+v)
		seen[kv[0]] = true
	}
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if !seen[k] {
			env = append(env, k+"="+overrides[k])
		}
	}
	return env
}
