package testenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// unmountUnder unmounts every mount point below dir, deepest first.
// buildkitd unmounts its snapshots when it stops cleanly; after a SIGKILL
// overlay mounts can remain, and os.RemoveAll cannot remove them.
func unmountUnder(dir string) error {
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, 0); err != nil {
			// Busy (a process still has it open): detach it so the
			// directory can go; the kernel frees it when unused.
			if err2 := syscall.Unmount(m, syscall.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err2))
			}
		}
	}
	return errors.Join(errs...)
}

// MountsUnder lists the mount points strictly below dir, deepest first.
func MountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	prefix := filepath.Clean(dir) + "/"
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// Field 5 is the mount point, with spaces etc. octal-escaped.
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

// unescapeMount undoes the \ooo escapes of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// killContainers removes the containers RunImage/StartImage left in this
// Env's runc state dir (a test that failed before stopping one).
func (e *Env) killContainers() error {
	root := e.runcRoot()
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	var errs []error
	for _, ent := range entries {
		if out, err := exec.Command("runc", "--root", root, "delete", "--force", ent.Name()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("runc delete %s: %w: %s", ent.Name(), err, out))
		}
	}
	return errors.Join(errs...)
}

// killBuildContainers kills and deletes the containers of buildkitd's RUN
// steps whose bundle lies under dir. buildkitd runs runc with the default
// state root and in process groups of its own, so neither stopping
// buildkitd's group nor its death ends a step that is still running (a
// build interrupted mid-step); its container would keep running and keep
// its mounts busy.
func killBuildContainers(dir string) error {
	// runc list fails when a container of another process on the machine
	// goes away while it reads the state directory: try again.
	var out []byte
	var err error
	for try := 0; try < 5; try++ {
		if out, err = exec.Command("runc", "list", "--format", "json").Output(); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("runc list: %w", err)
	}
	var list []struct {
		ID     string `json:"id"`
		Bundle string `json:"bundle"`
	}
	// An empty state dir lists as null.
	if err := json.Unmarshal(out, &list); err != nil {
		return fmt.Errorf("decoding runc list: %w", err)
	}
	prefix := filepath.Clean(dir) + "/"
	var errs []error
	for _, c := range list {
		if !strings.HasPrefix(c.Bundle, prefix) {
			continue
		}
		// kill fails for a stopped container; delete --force handles both.
		_ = exec.Command("runc", "kill", c.ID, "KILL").Run()
		if out, err := exec.Command("runc", "delete", "--force", c.ID).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("runc delete %s: %w: %s", c.ID, err, out))
		}
	}
	return errors.Join(errs...)
}

// removeStaleDirs removes the temp dirs of earlier runs whose test process
// is gone (killed before it could stop its stack). Their daemons died with
// it (Pdeathsig); what remains are mounts and files. Best effort: a failure
// here must not fail this run.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tmpPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue // unreadable, or its owner still runs
		}
		stale := &Env{Dir: dir}
		if err := errors.Join(stale.killContainers(), killBuildContainers(dir)); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stale %s: %v\n", dir, err)
		}
		if err := unmountUnder(dir); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stale %s: %v\n", dir, err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: removing stale %s: %v\n", dir, err)
		}
	}
}
