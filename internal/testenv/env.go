package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Env is a running stack. Its fields are read-only for tests.
type Env struct {
	// Root is the repository root (holds go.mod, bin/, Dockerfile).
	Root string
	// Dir is the temporary directory holding configs, logs, the daemon
	// state and whatever tests put there; removed by Stop.
	Dir string
	// Addr is the buildkitd address (BUILDKIT_HOST), unix://Dir/buildkitd.sock.
	Addr string
	// RegistryAddr is the registry's host:port on 127.0.0.1 (plain HTTP).
	RegistryAddr string
	// FrontendRef is the pushed frontend image, for `# syntax=` lines.
	FrontendRef string
	// BuildctlPath is the buildctl binary (Root/bin/buildctl).
	BuildctlPath string
	// BuildkitdPath is the buildkitd binary the stack runs
	// (Root/bin/buildkitd unless Options.Buildkitd says otherwise).
	BuildkitdPath string
	// DockerConfig is the DOCKER_CONFIG dir Buildx uses (Dir/docker), with
	// the buildx plugin and the builder BuilderName; "" when buildx is
	// unavailable (see Buildx).
	DockerConfig string

	buildxErr error // why Buildx is unavailable

	registry  *daemon
	buildkitd *daemon
	stopOnce  sync.Once
	stopErr   error
}

// daemon is a started process in its own process group.
type daemon struct {
	name string
	bin  string
	args []string
	env  []string // added to the test process's environment
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

const (
	// tmpPrefix names the temp dirs of Start; ownerFile in them holds the pid
	// of the test process, so that a later Start can remove dirs of dead runs.
	tmpPrefix = "nix-image-e2e-"
	ownerFile = "owner.pid"

	readyTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
	frontendPkg  = "./frontend/cmd/nix-image-frontend"
	frontendRepo = "nix-image/frontend:test"
)

// Options change what StartWith starts; the zero value is Start's stack.
type Options struct {
	// Buildkitd is the buildkitd binary to run, absolute or relative to
	// the repository root ("": bin/buildkitd), e.g. an older BuildKit
	// (bin/buildkitd-v0.12.5, make tools). The client stays bin/buildctl.
	Buildkitd string
	// StateFS, when not 0, is the size in bytes of a new ext4 file system
	// (a sparse image file, loop-mounted; needs root) that holds
	// buildkitd's state, so that a stack's builds do not pay for what
	// earlier stacks deleted: on an ext4 without a journal, as this
	// machine's, the inode allocator skips every inode deleted in the
	// last minutes and reads its inode table block to learn that (the
	// kernel's recently_deleted), so that unpacking nixpkgs' 45,000 files
	// after a prune of as many took 30 s of system time instead of 5.
	// Stop unmounts and removes it.
	StateFS int64
}

// Start starts a registry and a buildkitd in a new temporary directory,
// builds bin/nix-image-frontend and pushes the frontend image. On error
// nothing it started is left running.
func Start(ctx context.Context) (*Env, error) {
	return StartWith(ctx, Options{})
}

// StartWith is Start with opts: a stack of its own, stopped by its Stop.
func StartWith(ctx context.Context, opts Options) (_ *Env, retErr error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, BuildctlPath: filepath.Join(root, "bin", "buildctl"), BuildkitdPath: filepath.Join(root, "bin", "buildkitd")}
	if opts.Buildkitd != "" {
		e.BuildkitdPath = opts.Buildkitd
		if !filepath.IsAbs(e.BuildkitdPath) {
			e.BuildkitdPath = filepath.Join(root, e.BuildkitdPath)
		}
	}
	for _, p := range []string{e.BuildkitdPath, e.BuildctlPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s missing (run `make tools`): %w", p, err)
		}
	}
	registryPath, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not installed (run `make deps`): %w", err)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("runc not installed (run `make deps`): %w", err)
	}

	removeStaleDirs()

	// Build the frontend before starting daemons: a compile error is the
	// most common failure and needs no daemon logs.
	if err := buildFrontend(ctx, root); err != nil {
		return nil, err
	}

	e.Dir, err = os.MkdirTemp("", tmpPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			if err := e.Stop(); err != nil {
				retErr = fmt.Errorf("%w (and stopping: %v)", retErr, err)
			}
		}
	}()
	if err := os.WriteFile(filepath.Join(e.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("writing owner file: %w", err)
	}

	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	e.RegistryAddr = fmt.Sprintf("127.0.0.1:%d", port)
	e.Addr = "unix://" + filepath.Join(e.Dir, "buildkitd.sock")
	e.FrontendRef = e.RegistryAddr + "/" + frontendRepo

	regConf := filepath.Join(e.Dir, "registry.yml")
	if err := os.WriteFile(regConf, []byte(registryConfig(filepath.Join(e.Dir, "registry"), e.RegistryAddr)), 0o644); err != nil {
		return nil, fmt.Errorf("writing registry config: %w", err)
	}
	e.registry, err = startDaemon("registry", filepath.Join(e.Dir, "registry.log"), nil, registryPath, "serve", regConf)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, e.registry, e.registryReady); err != nil {
		return nil, err
	}

	state := filepath.Join(e.Dir, "buildkitd")
	if opts.StateFS != 0 {
		if err := newFS(ctx, state, opts.StateFS); err != nil {
			return nil, err
		}
	}
	bkConf := filepath.Join(e.Dir, "buildkitd.toml")
	if err := os.WriteFile(bkConf, []byte(buildkitdConfig(e.RegistryAddr)), 0o644); err != nil {
		return nil, fmt.Errorf("writing buildkitd config: %w", err)
	}
	// buildkitd mounts snapshots in temp dirs of its own (to read files,
	// to diff layers) and leaves them mounted when it is killed: in Dir,
	// Stop and a later Start's removeStaleDirs unmount them.
	tmp := filepath.Join(e.Dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating buildkitd's temp dir: %w", err)
	}
	e.buildkitd, err = startDaemon("buildkitd", filepath.Join(e.Dir, "buildkitd.log"), []string{"TMPDIR=" + tmp}, e.BuildkitdPath,
		"--config", bkConf,
		"--root", state,
		"--addr", e.Addr,
		// RUN steps share the host's network, so that they reach servers
		// the tests start on 127.0.0.1 (mirrors, binary caches).
		"--oci-worker-net=host",
	)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, e.buildkitd, e.buildkitdReady); err != nil {
		return nil, err
	}

	if err := e.setupBuildx(ctx); err != nil {
		return nil, err
	}
	if err := e.PushFrontend(ctx, e.FrontendRef); err != nil {
		return nil, err
	}
	return e, nil
}

// PushFrontend builds the frontend image from the Dockerfile's `prebuilt`
// target (bin/nix-image-frontend) and pushes it as ref.
func (e *Env) PushFrontend(ctx context.Context, ref string) error {
	_, stderr, err := e.Buildctl(ctx, "build",
		"--progress=plain",
		"--frontend", "dockerfile.v0",
		"--local", "context="+e.Root,
		"--local", "dockerfile="+e.Root,
		"--opt", "target=prebuilt",
		"--output", "type=image,name="+ref+",push=true",
	)
	if err != nil {
		return fmt.Errorf("pushing frontend image %s: %w\n%s", ref, err, tail(stderr, 40))
	}
	return nil
}

// Stop stops both daemons (SIGTERM to their process groups, SIGKILL after
// 30 s), removes leftover mounts and containers, and removes Dir. It is safe
// to call more than once and on a partly started Env.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		if e.Dir != "" {
			// Tests are over: any container still running belongs to a
			// test or build that was cut short. Killing the build steps
			// first lets buildkitd shut down at once instead of waiting
			// for them.
			errs = append(errs, e.killContainers(), killBuildContainers(e.Dir))
		}
		errs = append(errs, e.buildkitd.stop(), e.registry.stop())
		if e.Dir != "" {
			// A step that started while buildkitd was going down.
			errs = append(errs, killBuildContainers(e.Dir), unmountUnder(e.Dir))
			if err := os.RemoveAll(e.Dir); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", e.Dir, err))
			}
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

// LogTail returns the last n lines of both daemons' logs, for failure reports.
func (e *Env) LogTail(n int) string {
	var b strings.Builder
	for _, d := range []*daemon{e.registry, e.buildkitd} {
		if d == nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s (%s) ---\n%s\n", d.name, d.log, d.logTail(n))
	}
	return b.String()
}

// BuildkitdPID is the process id of the running buildkitd (started
// directly, not through a wrapper), e.g. to read its CPU time.
func (e *Env) BuildkitdPID() int {
	return e.buildkitd.cmd.Process.Pid
}

// Main is the body of an e2e TestMain: it starts the stack, stores it in
// *env, runs the tests and stops the stack, also on SIGINT/SIGTERM. With
// NIX_IMAGE_E2E=0 it runs the tests without a stack (Need skips them). It
// returns the exit code for os.Exit.
func Main(m *testing.M, env **Env) int {
	// testTimeout reads -test.timeout before m.Run would parse the flags.
	flag.Parse()
	if os.Getenv("NIX_IMAGE_E2E") == "0" {
		fmt.Fprintln(os.Stderr, "testenv: NIX_IMAGE_E2E=0, not starting the stack; e2e tests skip")
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	started := time.Now()
	e, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: starting the stack: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "testenv: stack up in %s: BUILDKIT_HOST=%s registry=%s frontend=%s\n",
		time.Since(started).Round(time.Millisecond), e.Addr, e.RegistryAddr, e.FrontendRef)
	*env = e

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	interrupted := make(chan struct{})
	go func() {
		s := <-sigs
		close(interrupted)
		fmt.Fprintf(os.Stderr, "testenv: %v: stopping the stack\n", s)
		if err := e.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stopping: %v\n", err)
		}
		os.Exit(130)
	}()

	// A test binary that hits go test's -timeout panics without running
	// deferred calls; stop the stack a little before that.
	if d := testTimeout(); d > 0 {
		margin := min(d/10, time.Minute)
		timer := time.AfterFunc(d-margin, func() {
			fmt.Fprintln(os.Stderr, "testenv: test timeout is near: stopping the stack")
			_ = e.Stop()
		})
		defer timer.Stop()
	}

	code := m.Run()
	signal.Stop(sigs)
	select {
	case <-interrupted:
		// The tests ended because the stack went away under them; the
		// signal handler finishes stopping it and exits.
		select {}
	default:
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "testenv: tests failed; daemon logs:\n%s", e.LogTail(40))
	}
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stopping the stack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Need returns env, or skips t when the stack was not started.
func Need(t testing.TB, env *Env) *Env {
	t.Helper()
	if env == nil {
		t.Skip("no e2e stack (NIX_IMAGE_E2E=0)")
	}
	return env
}

// testTimeout is go test's -timeout for this binary, 0 when none. Flags
// must be parsed.
func testTimeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	d, err := time.ParseDuration(f.Value.String())
	if err != nil {
		return 0
	}
	return d
}

func registryConfig(storage, addr string) string {
	// Warnings only: per-request lines would bury the lines that matter
	// in the log tails printed on failure.
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, storage, addr)
}

func buildkitdConfig(registryAddr string) string {
	return fmt.Sprintf(`[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
[worker.containerd]
  enabled = false
[registry.%q]
  http = true
  insecure = true
`, registryAddr)
}

func (e *Env) registryReady(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.RegistryAddr+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/: %s", resp.Status)
	}
	return nil
}

func (e *Env) buildkitdReady(ctx context.Context) error {
	_, stderr, err := e.Buildctl(ctx, "debug", "workers")
	if err != nil {
		return fmt.Errorf("buildctl debug workers: %w: %s", err, strings.TrimSpace(stderr))
	}
	return nil
}

// startDaemon starts bin with args and the environment variables env in
// its own process group, output to log (appended: a restarted daemon keeps
// the log of its predecessor).
func startDaemon(name, log string, env []string, bin string, args ...string) (*daemon, error) {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating %s log: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own group: stopping it ends its children (runc) too, and a
		// Ctrl-C in the terminal reaches only the test binary, which then
		// stops the daemons in order.
		Setpgid: true,
		// If the test binary dies without stopping us, buildkitd still gets
		// to unmount its snapshots.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, bin: bin, args: args, env: env, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// waitReady polls ready until it succeeds, d exits, or readyTimeout passes.
func waitReady(ctx context.Context, d *daemon, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		last = ready(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited during startup (%v); last lines of %s:\n%s", d.name, d.err, d.log, d.logTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v (%w); last lines of %s:\n%s", d.name, last, ctx.Err(), d.log, d.logTail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM to d's process group and waits; SIGKILL after
// stopTimeout. A nil d (never started) is a no-op.
func (d *daemon) stop() error {
	if d == nil {
		return nil
	}
	pgid := d.cmd.Process.Pid
	select {
	case <-d.done:
		// Exited by itself; its group may still hold children.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s: %w", d.name, err)
	}
	select {
	case <-d.done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	case <-time.After(stopTimeout):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-d.done:
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", d.name, stopTimeout)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.name, pgid)
	}
}

func (d *daemon) logTail(n int) string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return tail(string(b), n)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// free again when this returns; a race with another process taking it is
// possible but shows up as a server that fails to start.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot walks up from the working directory to the directory holding
// go.mod (go test runs tests in their package directory; go run ./hack/...
// runs in the caller's).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting working dir: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// buildFrontend builds bin/nix-image-frontend with the flags `make frontend`
// uses, so that go build finds it up to date after make.
func buildFrontend(ctx context.Context, root string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join("bin", "nix-image-frontend"), frontendPkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the frontend (go build %s): %w\n%s", frontendPkg, err, out)
	}
	return nil
}
