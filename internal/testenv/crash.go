package testenv

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// KillBuildkitd kills buildkitd with SIGKILL, as a crash or the OOM killer
// would, together with its process group and the containers of the build
// steps it was running (runc runs them in groups of their own; on a real
// host they die with the machine or the daemon's cgroup). Its state
// directory is left as the kill left it.
func (e *Env) KillBuildkitd() error {
	return errors.Join(e.buildkitd.kill(), killBuildContainers(e.Dir))
}

// RestartBuildkitd starts buildkitd again with the same state directory,
// configuration and address, and waits until it answers.
func (e *Env) RestartBuildkitd(ctx context.Context) error {
	d, err := e.buildkitd.restart()
	if err != nil {
		return err
	}
	e.buildkitd = d
	return waitReady(ctx, d, e.buildkitdReady)
}

// KillRegistry kills the registry with SIGKILL (a registry going away in
// the middle of a push).
func (e *Env) KillRegistry() error {
	return e.registry.kill()
}

// RestartRegistry starts the registry again on the same storage and port.
func (e *Env) RestartRegistry(ctx context.Context) error {
	d, err := e.registry.restart()
	if err != nil {
		return err
	}
	e.registry = d
	return waitReady(ctx, d, e.registryReady)
}

// kill sends SIGKILL to d's process group and waits until d has exited.
func (d *daemon) kill() error {
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s: %w", d.name, err)
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.name, d.cmd.Process.Pid)
	}
}

// restart starts a new process like d, which must have exited.
func (d *daemon) restart() (*daemon, error) {
	select {
	case <-d.done:
	default:
		return nil, fmt.Errorf("restarting %s: it is still running", d.name)
	}
	return startDaemon(d.name, d.log, d.env, d.bin, d.args...)
}
