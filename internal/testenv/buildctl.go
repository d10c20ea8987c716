package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SpecFile is the file name SpecContext writes and BuildSpec builds.
const SpecFile = "nix-image.yaml"

// Buildctl runs bin/buildctl with args against the Env's daemon
// (BUILDKIT_HOST=Addr) and returns its stdout and stderr. A non-zero exit is
// an error; the output is returned either way.
func (e *Env) Buildctl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, e.BuildctlPath, args...)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.Addr)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("buildctl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), err
}

// SpecContext writes a build context into a new temp dir of t: SpecFile
// holding a `# syntax=FrontendRef` line followed by spec, and files (path
// relative to the context -> content). It returns the directory.
func (e *Env) SpecContext(t testing.TB, spec string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{SpecFile: "# syntax=" + e.FrontendRef + "\n" + spec}
	for name, content := range files {
		all[name] = content
	}
	for name, content := range all {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("creating context dir for %s: %v", name, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatalf("writing context file %s: %v", name, err)
		}
	}
	return dir
}

// BuildResult is the outcome of BuildSpec.
type BuildResult struct {
	// Stdout is buildctl's stdout (e.g. the --call outline/targets text,
	// or an exporter's output with --output type=tar,dest=-).
	Stdout string
	// Stderr is buildctl's stderr with the rawjson progress lines removed
	// (its error message, if any).
	Stderr string
	// Progress is the parsed progress stream.
	Progress *Progress
}

// BuildSpec builds the SpecFile of the context dir through the Dockerfile
// frontend, which forwards to the frontend named in its `# syntax=` line:
//
//	buildctl build --frontend dockerfile.v0 --local context=DIR
//	  --local dockerfile=DIR --opt filename=nix-image.yaml --progress=rawjson ARGS...
//
// args are appended as given (e.g. "--opt", "target=ssh", "--output",
// "type=oci,dest=/x.tar"). The result is returned also when the build fails,
// so tests can check the error text and the vertices.
func (e *Env) BuildSpec(ctx context.Context, dir string, args ...string) (*BuildResult, error) {
	return e.Build(ctx, dir, SpecFile, args...)
}

// Build is BuildSpec for any file name in dir (a Dockerfile too).
func (e *Env) Build(ctx context.Context, dir, filename string, args ...string) (*BuildResult, error) {
	full := append([]string{"build",
		"--frontend", "dockerfile.v0",
		"--local", "context=" + dir,
		"--local", "dockerfile=" + dir,
		"--opt", "filename=" + filename,
		"--progress=rawjson",
	}, args...)
	stdout, stderr, err := e.Buildctl(ctx, full...)
	prog, rest := ParseProgress(stderr)
	res := &BuildResult{Stdout: stdout, Stderr: rest, Progress: prog}
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, tail(rest, 40))
	}
	return res, nil
}
