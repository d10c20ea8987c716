package testenv

import (
	"context"
	"fmt"
)

// BuildxJSON runs `docker buildx ARGS... --progress=rawjson` in dir (a
// build or a bake) and parses the progress stream like Build does, so
// tests can tell executed steps from cache hits. The result is returned
// also when the command fails.
func (e *Env) BuildxJSON(ctx context.Context, dir string, args ...string) (*BuildResult, error) {
	stdout, stderr, err := e.Buildx(ctx, dir, append(args, "--progress=rawjson")...)
	prog, rest := ParseProgress(stderr)
	res := &BuildResult{Stdout: stdout, Stderr: rest, Progress: prog}
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, tail(rest, 40))
	}
	return res, nil
}
