package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	return e.buildctl(ctx, nil, args...)
}

// buildctl is Buildctl; when watch is set, it is called with every line
// of stderr as buildctl writes it.
func (e *Env) buildctl(ctx context.Context, watch func(line string), args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, e.BuildctlPath, args...)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.Addr)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if watch != nil {
		pr, pw := io.Pipe()
		cmd.Stderr = io.MultiWriter(&errb, pw)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				watch(sc.Text())
			}
			io.Copy(io.Discard, pr)
		}()
		defer func() { <-done }()
		defer pw.Close()
	}
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
	return e.BuildWatch(ctx, dir, filename, nil, args...)
}

// BuildctlArgs is the buildctl command line of Build: the Dockerfile
// frontend building filename of the context dir, rawjson progress, then
// args. hack/bench runs it itself, to time the build alone.
func BuildctlArgs(dir, filename string, args ...string) []string {
	return append([]string{"build",
		"--frontend", "dockerfile.v0",
		"--local", "context=" + dir,
		"--local", "dockerfile=" + dir,
		"--opt", "filename=" + filename,
		"--progress=rawjson",
	}, args...)
}

// BuildWatch is Build, calling watch (when not nil) while the build runs
// with the name of every vertex and sub-task ("exporting layers") that
// starts and every chunk of output a vertex writes, in the order buildctl
// reports them: a test can act at a point of the build (kill the daemon
// while a step runs, say).
func (e *Env) BuildWatch(ctx context.Context, dir, filename string, watch func(event string), args ...string) (*BuildResult, error) {
	var lines func(string)
	if watch != nil {
		lines = func(line string) {
			var st solveStatus
			if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &st) != nil {
				return
			}
			for _, v := range st.Vertexes {
				if v.Started != nil && v.Completed == nil {
					watch(v.Name)
				}
			}
			for _, s := range st.Statuses {
				if s.Started != nil && s.Completed == nil {
					watch(s.ID)
				}
			}
			for _, l := range st.Logs {
				watch(string(l.Data))
			}
		}
	}
	stdout, stderr, err := e.buildctl(ctx, lines, BuildctlArgs(dir, filename, args...)...)
	prog, rest := ParseProgress(stderr)
	res := &BuildResult{Stdout: stdout, Stderr: rest, Progress: prog}
	if err != nil {
		return res, fmt.Errorf("%w\n%s\n%s", err, tail(rest, 40), prog.FailedOutput(30))
	}
	return res, nil
}
