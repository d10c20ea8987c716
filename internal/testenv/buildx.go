package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuilderName is the buildx builder Start creates (remote driver, pointing
// at the Env's buildkitd).
const BuilderName = "nix-image-e2e"

// setupBuildx gives the Env a Docker config dir of its own, holding the
// docker-buildx plugin (bin/docker-buildx, make tools) and a remote-driver
// builder for Addr, so that tests run the users' commands without touching
// the machine's ~/.docker. Without a docker client or the plugin, Buildx
// reports why instead.
func (e *Env) setupBuildx(ctx context.Context) error {
	plugin := filepath.Join(e.Root, "bin", "docker-buildx")
	if _, err := os.Stat(plugin); err != nil {
		e.buildxErr = fmt.Errorf("%s missing (run `make tools`): %w", plugin, err)
		return nil
	}
	if _, err := exec.LookPath("docker"); err != nil {
		e.buildxErr = fmt.Errorf("no docker client: %w", err)
		return nil
	}
	e.DockerConfig = filepath.Join(e.Dir, "docker")
	plugins := filepath.Join(e.DockerConfig, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return fmt.Errorf("creating docker config: %w", err)
	}
	if err := os.Symlink(plugin, filepath.Join(plugins, "docker-buildx")); err != nil {
		return fmt.Errorf("installing buildx plugin: %w", err)
	}
	if _, stderr, err := e.docker(ctx, "", "buildx", "create", "--name", BuilderName, "--driver", "remote", e.Addr); err != nil {
		return fmt.Errorf("creating buildx builder: %w: %s", err, strings.TrimSpace(stderr))
	}
	return nil
}

// Buildx runs `docker buildx ARGS...` in dir ("" for the current
// directory) with the Env's builder, as a user would run
// `docker buildx build -f nix-image.yaml .` or `docker buildx bake`. Never
// pass --load: there is no Docker engine; use -o type=oci,dest=..., -o
// type=local,dest=... or --push to RegistryAddr.
func (e *Env) Buildx(ctx context.Context, dir string, args ...string) (stdout, stderr string, err error) {
	if e.DockerConfig == "" {
		if e.buildxErr == nil {
			e.buildxErr = errors.New("buildx was not set up")
		}
		return "", "", fmt.Errorf("docker buildx unavailable: %w", e.buildxErr)
	}
	return e.docker(ctx, dir, append([]string{"buildx"}, args...)...)
}

func (e *Env) docker(ctx context.Context, dir string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"DOCKER_CONFIG="+e.DockerConfig,
		"BUILDX_BUILDER="+BuilderName,
		// Plain progress: readable in test logs, no terminal needed.
		"BUILDKIT_PROGRESS=plain",
	)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), nil
}
