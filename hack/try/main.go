// Command try runs the images `make demo` builds, with runc as the
// integration tests run them (internal/testenv: `docker run --rm --network
// host`), so that trying them needs nothing else on this machine:
//
//	try shell [IMAGE [COMMAND...]]  # make shell: a shell in out/default.oci.tar
//	try builder [IMAGE]             # make remote-builder: out/ssh.oci.tar as a remote builder
//
// builder starts sshd in the ssh image on a free loopback port with a key
// of its own (made once in out/remote-builder/), writes the ssh config
// that the host's ssh and Nix use to reach it, prints the commands to try
// and runs until Ctrl-C, then stops the container.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/nix-image/nix-image/internal/testenv"
)

const usage = `usage:
  try shell [IMAGE [COMMAND...]]   a shell (or COMMAND) in IMAGE, default out/default.oci.tar
  try builder [IMAGE]              IMAGE as a remote builder until Ctrl-C, default out/ssh.oci.tar
`

// builderHost is the Host entry of the ssh config builder writes.
const builderHost = "nix-image-builder"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "shell":
		err = shell(args)
	case "builder":
		err = builder(args)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var exit *testenv.ExitError
	switch {
	case errors.As(err, &exit):
		// The shell's own exit status, as docker run passes it on.
		os.Exit(exit.Code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "try:", err)
		os.Exit(1)
	}
}

// image returns the image named by args[0] or the default one, checked to
// exist (else the error says to run the make target that builds it).
func image(args []string, def, target string) (string, error) {
	p := def
	if len(args) > 0 {
		p = args[0]
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w (run %s first)", err, target)
	}
	return filepath.Abs(p)
}

// runner is a testenv runner whose state is in a temp dir, removed by
// the returned function.
func runner() (*testenv.Env, func(), error) {
	dir, err := os.MkdirTemp("", "nix-image-try-")
	if err != nil {
		return nil, nil, err
	}
	return testenv.Runner(dir), func() { os.RemoveAll(dir) }, nil
}

func shell(args []string) error {
	img, err := image(args, "out/default.oci.tar", "make demo")
	if err != nil {
		return err
	}
	r, done, err := runner()
	if err != nil {
		return err
	}
	defer done()
	var cmd []string
	if len(args) > 1 {
		cmd = args[1:]
	}
	fmt.Fprintf(os.Stderr, "try: unpacking %s\n", img)
	return r.RunTerminal(context.Background(), testenv.RunSpec{Image: img, Args: cmd, Hostname: "nix-image"})
}

func builder(args []string) error {
	img, err := image(args, "out/ssh.oci.tar", "make remote-builder")
	if err != nil {
		return err
	}
	a, err := testenv.ReadOCIArchive(img)
	if err != nil {
		return err
	}
	oci, err := a.Image(runtime.GOARCH)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Join(filepath.Dir(img), "remote-builder"))
	if err != nil {
		return err
	}
	key, err := ensureKey(dir)
	if err != nil {
		return err
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	config := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(config, []byte(testenv.SSHConfig(builderHost, port, key)), 0o644); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, done, err := runner()
	if err != nil {
		return err
	}
	defer done()
	// The container shares the host's network: sshd listens on loopback
	// only.
	cmd := append(append([]string{}, oci.Config.Config.Cmd...), "-o", "ListenAddress=127.0.0.1")
	fmt.Fprintf(os.Stderr, "try: starting sshd of %s on 127.0.0.1:%d\n", img, port)
	c, err := r.StartImage(ctx, testenv.RunSpec{
		Image:    img,
		Args:     cmd,
		Env:      []string{"SSHD_PORT=" + strconv.Itoa(port), "AUTHORIZED_KEYS=" + strings.TrimSpace(string(pub))},
		Hostname: builderHost,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "try:", err)
		}
	}()
	if err := testenv.WaitSSH(ctx, port); err != nil {
		return fmt.Errorf("%w; sshd's output:\n%s", err, c.Output())
	}
	out, err := exec.CommandContext(ctx, "ssh", "-F", config, builderHost, "nix-store --version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh -F %s %s nix-store --version: %w\n%s", config, builderHost, err, out)
	}
	fmt.Printf(`
The remote builder runs: ssh -F %[1]s %[2]s nix-store --version
says %[3]s
In another shell, have the host's Nix build a derivation on it only (--max-jobs 0;
it runs the builder's uname -n, so its output names the builder):

  NIX_SSHOPTS='-F %[1]s' nix-build --max-jobs 0 --option substituters '' \
    --builders 'ssh://%[2]s x86_64-linux' -E '
    derivation { name = "remote-hello"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo built on $(/run/current-system/sw/bin/uname -n) > $out" ]; }'

(ssh-ng:// works too.) Ctrl-C stops the builder.
`, config, builderHost, strings.TrimSpace(string(out)))
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ntry: stopping the builder")
	return nil
}

// ensureKey returns the builder's client key in dir, made once.
func ensureKey(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	key := filepath.Join(dir, "id_ed25519")
	if _, err := os.Stat(key); err == nil {
		return key, nil
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nix-image-remote-builder", "-f", key).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ssh-keygen: %w: %s", err, out)
	}
	return key, nil
}
