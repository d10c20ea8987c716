package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// KillBuildkitd kills buildkitd with SIGKILL, as an OOM kill or a crash
// would, and then the containers of the build steps it was running (which
// run in process groups of their own, see killBuildContainers; a service
// manager stopping the daemon's cgroup kills them with it). The daemon's
// state directory stays as the kill left it.
func (e *Env) KillBuildkitd() error {
	d := e.buildkitd
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing buildkitd: %w", err)
	}
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("buildkitd (pid %d) did not exit after SIGKILL", d.cmd.Process.Pid)
	}
	return killBuildContainers(e.Dir)
}

// RestartBuildkitd starts buildkitd again, if it is not running, on the
// same state directory, address and config, and waits until it answers.
func (e *Env) RestartBuildkitd(ctx context.Context) error {
	select {
	case <-e.buildkitd.done:
	default:
		return nil
	}
	if err := e.startBuildkitd(ctx); err != nil {
		return fmt.Errorf("restarting buildkitd: %w", err)
	}
	return nil
}

// BuildUntil runs Build's buildctl command and kills buildkitd (see
// KillBuildkitd) delay after the progress stream satisfies until, which is
// called with each status update (a Progress of that update only). It
// returns the progress seen; an error when the build ended before it was
// killed.
func (e *Env) BuildUntil(ctx context.Context, dir, filename string, until func(*Progress) bool, delay time.Duration, args ...string) (*Progress, error) {
	full := append([]string{"build",
		"--frontend", "dockerfile.v0",
		"--local", "context=" + dir,
		"--local", "dockerfile=" + dir,
		"--opt", "filename=" + filename,
		"--progress=rawjson",
	}, args...)
	cmd := exec.CommandContext(ctx, e.BuildctlPath, full...)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.Addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("buildctl: %w", err)
	}
	var all strings.Builder
	killed := false
	killErr := make(chan error, 1)
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		if killed {
			continue
		}
		if p, _ := ParseProgress(line); until(p) {
			killed = true
			go func() {
				time.Sleep(delay)
				killErr <- e.KillBuildkitd()
			}()
		}
	}
	waitErr := cmd.Wait()
	prog, rest := ParseProgress(all.String())
	if !killed {
		return prog, fmt.Errorf("the build ended (%v) before the point to kill buildkitd at\n%s", waitErr, tail(rest, 20))
	}
	if err := <-killErr; err != nil {
		return prog, err
	}
	if waitErr == nil {
		return prog, errors.New("the build succeeded before buildkitd was killed")
	}
	return prog, nil
}
