package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The syntax_dockerfile comparison: flat's Dockerfile built through a
// `# syntax=` line naming BuildKit's own Dockerfile frontend, built from
// the module go.mod pins (the buildkitd's own version) and pushed to the
// round's registry as a gateway image, as docker/dockerfile images are. A
// no-change rebuild then pays what ours pays besides its own work: the
// Dockerfile frontend forwarding to the gateway, pulling its image
// config, starting its container, solving from the cache.

// dockerfileFrontendPkg is the release binary's package in BuildKit.
const dockerfileFrontendPkg = "github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend"

// dockerfileFrontendImage packs the binary as BuildKit's release
// Dockerfile does (frontend/dockerfile/cmd/dockerfile-frontend/Dockerfile,
// stage release).
const dockerfileFrontendImage = `FROM scratch
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts,moby.buildkit.frontend.gitquerystring,moby.buildkit.frontend.contexts.zstd"
COPY dockerfile-frontend /bin/dockerfile-frontend
ENTRYPOINT ["/bin/dockerfile-frontend"]
`

// buildDockerfileFrontend compiles the frontend (static, the release's
// tags) into a build context with the Dockerfile that packs it, once per
// run, and returns the context.
func (b *bench) buildDockerfileFrontend(ctx context.Context) (string, error) {
	dir := filepath.Join(b.tmp, "dockerfile-frontend")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w",
		"-tags", "netgo static_build osusergo", "-o", filepath.Join(dir, "dockerfile-frontend"), dockerfileFrontendPkg)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building BuildKit's Dockerfile frontend (go build %s): %w\n%s", dockerfileFrontendPkg, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfileFrontendImage), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// pushDockerfileFrontend pushes the frontend image to the round's
// registry and returns its ref.
func (b *bench) pushDockerfileFrontend(ctx context.Context, r *round) (string, error) {
	ref := r.env.RegistryAddr + "/bench/dockerfile-frontend:pinned"
	if _, err := r.env.Build(ctx, b.frontendDir, "Dockerfile", "--output", "type=image,name="+ref+",push=true"); err != nil {
		return "", fmt.Errorf("pushing BuildKit's Dockerfile frontend image: %w", err)
	}
	return ref, nil
}

// syntaxWay is flat's Dockerfile through the pushed frontend.
func syntaxWay(flat way) way {
	return way{
		name: "syntax_dockerfile",
		file: flat.file,
		content: func(r *round, pkgs []string) string {
			return "# syntax=" + r.syntaxRef + "\n" + flat.content(r, pkgs)
		},
		args: flat.args,
	}
}
