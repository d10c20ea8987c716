package testenv

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// RunSpec says what to run in which image.
type RunSpec struct {
	// Image is an OCI layout (directory or tar, from `--output type=oci`),
	// unpacked afresh for this run and removed afterwards, or a root
	// filesystem directory (from `--output type=local` or UnpackOCI), used
	// in place: changes the command makes stay there.
	Image string
	// Config overrides the image config; needed for a rootfs directory to
	// get the image's Env, User, WorkingDir, Entrypoint and Cmd (else:
	// root, a default PATH, /).
	Config *ocispecs.ImageConfig
	// Args replace the image's Cmd (the Entrypoint stays), like the
	// arguments of `docker run IMAGE ARGS...`.
	Args []string
	// Env is added to the image's Env, replacing variables of the same name.
	Env []string
	// Stdin is the command's standard input (none when nil).
	Stdin io.Reader
	// Hostname is the container's host name (default nix-image-e2e).
	Hostname string
}

// Runner returns an Env without daemons, for running images with runc
// (RunImage, Run, StartImage, RunTerminal) outside of tests; its
// containers' bundles and runc state go under dir.
func Runner(dir string) *Env { return &Env{Dir: dir} }

// RunImage runs args in image with runc, like `docker run --rm --network
// host image args...`, and returns the command's output. A non-zero exit is
// an error that includes the exit code and stderr.
func (e *Env) RunImage(ctx context.Context, image string, args ...string) (stdout, stderr string, err error) {
	return e.Run(ctx, RunSpec{Image: image, Args: args})
}

// Run runs spec with runc to completion. See RunImage.
func (e *Env) Run(ctx context.Context, spec RunSpec) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	c, err := e.start(ctx, spec, false, &out, &errb)
	if err != nil {
		return "", "", err
	}
	err = c.wait()
	return out.String(), errb.String(), err
}

// RunTerminal runs spec on a terminal of its own, which runc connects to
// this process's standard input and output, like `docker run --rm -it
// --network host`: an interactive shell. It returns when the command
// exits.
func (e *Env) RunTerminal(ctx context.Context, spec RunSpec) error {
	spec.Stdin = os.Stdin
	c, err := e.start(ctx, spec, true, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	return c.wait()
}

// Container is a command started by StartImage.
type Container struct {
	ID string
	// Log is the file holding the command's stdout and stderr.
	Log string

	env     *Env
	cmd     *exec.Cmd
	cleanup func()
	done    chan struct{}
	err     error
	once    sync.Once
}

// StartImage starts spec in the background (a server such as sshd) and
// returns once runc is launched (poll the server for readiness). Stop it
// with Container.Stop; it is also killed when ctx ends, and Env.Stop
// removes containers tests forgot.
func (e *Env) StartImage(ctx context.Context, spec RunSpec) (*Container, error) {
	log, err := os.CreateTemp(e.Dir, "container-*.log")
	if err != nil {
		return nil, fmt.Errorf("creating container log: %w", err)
	}
	defer log.Close()
	c, err := e.start(ctx, spec, false, log, log)
	if err != nil {
		return nil, err
	}
	c.Log = log.Name()
	go func() { _ = c.wait() }()
	return c, nil
}

// Stop kills the container's processes and waits for runc to exit.
func (c *Container) Stop() error {
	_ = c.env.runc("kill", c.ID, "KILL")
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s did not stop", c.ID)
	}
	return nil
}

// Output returns what the container wrote so far.
func (c *Container) Output() string {
	b, _ := os.ReadFile(c.Log)
	return string(b)
}

var containerSeq atomic.Int64

func (e *Env) runcRoot() string { return filepath.Join(e.Dir, "runc") }

func (e *Env) runc(args ...string) error {
	out, err := exec.Command("runc", append([]string{"--root", e.runcRoot()}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// start prepares a bundle for spec and starts `runc run` on it, the
// command on a terminal when terminal is set.
func (e *Env) start(ctx context.Context, spec RunSpec, terminal bool, stdout, stderr io.Writer) (*Container, error) {
	id := fmt.Sprintf("e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	bundle := filepath.Join(e.Dir, "bundles", id)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, fmt.Errorf("creating bundle: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(bundle) }
	ok := false
	defer func() {
		if !ok {
			cleanup()
		}
	}()

	rootfs := spec.Image
	cfg := spec.Config
	if _, err := os.Stat(filepath.Join(spec.Image, "oci-layout")); err == nil || isFile(spec.Image) {
		rootfs = filepath.Join(bundle, "rootfs")
		imgCfg, err := UnpackOCI(spec.Image, rootfs)
		if err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", spec.Image, err)
		}
		if cfg == nil {
			cfg = imgCfg
		}
	}
	if cfg == nil {
		cfg = &ocispecs.ImageConfig{}
	}
	if err := writeRuntimeConfig(bundle, rootfs, cfg, spec, terminal); err != nil {
		return nil, err
	}

	cmd := exec.Command("runc", "--root", e.runcRoot(), "run", "--bundle", bundle, id)
	cmd.Stdin = spec.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting runc: %w", err)
	}
	ok = true
	c := &Container{ID: id, env: e, cmd: cmd, done: make(chan struct{}), cleanup: cleanup}
	// Cancelling ctx kills the container, not only runc (whose container
	// would otherwise keep running).
	go func() {
		select {
		case <-ctx.Done():
			_ = e.runc("kill", id, "KILL")
		case <-c.done:
		}
	}()
	return c, nil
}

// wait waits for runc to exit, removes the container and bundle, and
// returns the exit status as an error. Safe to call more than once.
func (c *Container) wait() error {
	c.once.Do(func() {
		err := c.cmd.Wait()
		close(c.done)
		// runc run deletes the container on exit; force it for the case
		// where runc itself was killed.
		_ = c.env.runc("delete", "--force", c.ID)
		c.cleanup()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = &ExitError{ID: c.ID, Code: ee.ExitCode()}
			}
			c.err = err
		}
	})
	<-c.done
	return c.err
}

// ExitError is a container's command that exited with a non-zero code.
type ExitError struct {
	ID   string
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("container %s exited with code %d", e.ID, e.Code)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// dockerCaps is Docker's default capability set, so that commands behave
// as under `docker run` (Nix's build users need CHOWN, SETUID, SETGID...).
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// writeRuntimeConfig writes bundle/config.json: runc's default spec with
// the image's process settings, a writable root and the host's network.
func writeRuntimeConfig(bundle, rootfs string, cfg *ocispecs.ImageConfig, spec RunSpec, terminal bool) error {
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %w: %s", err, out)
	}
	p := filepath.Join(bundle, "config.json")
	var rs map[string]any
	if err := readJSON(p, &rs); err != nil {
		return err
	}

	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(spec.Args) > 0 {
		args = append(append([]string{}, cfg.Entrypoint...), spec.Args...)
	}
	if len(args) == 0 {
		return errors.New("nothing to run: no Args and the image has no Entrypoint or Cmd")
	}
	uid, gid, home, err := resolveUser(rootfs, cfg.User)
	if err != nil {
		return err
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = "nix-image-e2e"
	}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + hostname,
		"HOME=" + home,
	}
	if terminal {
		env = append(env, "TERM="+cmp.Or(os.Getenv("TERM"), "xterm"))
	}
	env = mergeEnv(env, cfg.Env)
	env = mergeEnv(env, spec.Env)
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}

	proc := rs["process"].(map[string]any)
	proc["terminal"] = terminal
	proc["args"] = args
	proc["env"] = env
	proc["cwd"] = cwd
	proc["user"] = map[string]any{"uid": uid, "gid": gid}
	proc["capabilities"] = map[string]any{
		"bounding":  dockerCaps,
		"effective": dockerCaps,
		"permitted": dockerCaps,
	}
	rs["root"] = map[string]any{"path": rootfs, "readonly": false}
	rs["hostname"] = hostname
	linux := rs["linux"].(map[string]any)
	var nss []any
	for _, ns := range linux["namespaces"].([]any) {
		// Share the host's network, so that servers in the container and
		// on the host's loopback reach each other.
		if ns.(map[string]any)["type"] != "network" {
			nss = append(nss, ns)
		}
	}
	linux["namespaces"] = nss

	b, err := json.MarshalIndent(rs, "", "\t")
	if err != nil {
		return fmt.Errorf("encoding runtime config: %w", err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("writing runtime config: %w", err)
	}
	return nil
}

// mergeEnv returns base with the KEY=VALUE entries of over applied.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// resolveUser turns an image config User ("", "name", "uid", "uid:gid",
// "name:group") into ids and a home directory, using the rootfs's
// /etc/passwd and /etc/group as Docker does.
func resolveUser(rootfs, user string) (uid, gid int, home string, err error) {
	if user == "" {
		user = "0"
	}
	u, g, hasGroup := strings.Cut(user, ":")
	passwd := readColonFile(rootfs, "/etc/passwd")
	home = "/"
	found := false
	if n, err := strconv.Atoi(u); err == nil {
		uid = n
		for _, f := range passwd {
			if len(f) >= 6 && f[2] == u {
				gid, _ = strconv.Atoi(f[3])
				home = f[5]
				found = true
				break
			}
		}
	} else {
		for _, f := range passwd {
			if len(f) >= 6 && f[0] == u {
				uid, _ = strconv.Atoi(f[2])
				gid, _ = strconv.Atoi(f[3])
				home = f[5]
				found = true
				break
			}
		}
		if !found {
			return 0, 0, "", fmt.Errorf("user %q not in the image's /etc/passwd", u)
		}
	}
	if !found && uid == 0 {
		home = "/root"
	}
	if hasGroup {
		if n, err := strconv.Atoi(g); err == nil {
			gid = n
		} else {
			ok := false
			for _, f := range readColonFile(rootfs, "/etc/group") {
				if len(f) >= 3 && f[0] == g {
					gid, _ = strconv.Atoi(f[2])
					ok = true
					break
				}
			}
			if !ok {
				return 0, 0, "", fmt.Errorf("group %q not in the image's /etc/group", g)
			}
		}
	}
	return uid, gid, home, nil
}

// readColonFile reads a passwd-style file of the rootfs into fields,
// resolving symlinks inside the rootfs (a Nix image's /etc/passwd may link
// into /nix/store). A missing file reads as empty.
func readColonFile(rootfs, name string) [][]string {
	p, err := securejoin.SecureJoin(rootfs, name)
	if err != nil {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s: %w", p, err)
	}
	return nil
}
