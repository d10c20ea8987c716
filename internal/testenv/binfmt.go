package testenv

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Emulation of aarch64 for tests: an arm64 image is built on this amd64
// machine without emulation (RequireNoEmulation proves it) and then run
// under qemu-user through the kernel's binfmt_misc (EnableBinfmt), never
// both at once. binfmt_misc is one table for the whole machine, so both
// hold a lock file shared by every test process on it: EnableBinfmt waits
// for the builds that require no emulation, and they wait for it.

const (
	binfmtDir = "/proc/sys/fs/binfmt_misc"
	// binfmtName is the entry EnableBinfmt registers; its own name, so that
	// it never touches an entry of binfmt-support (qemu-aarch64).
	binfmtName = "nix-image-qemu-aarch64"
	// binfmtFlags: P keeps argv[0] (the interpreter is qemu's
	// aarch64-binfmt-P name, which expects it), F opens the interpreter
	// at registration, so it runs in containers that do not hold it.
	binfmtFlags    = "PF"
	binfmtLockName = "nix-image-binfmt.lock"
	binfmtWait     = 30 * time.Minute
)

var (
	// aarch64Magic and aarch64Mask match aarch64 ELF executables and shared
	// objects, as Debian's qemu-user-static registers them
	// (/usr/share/binfmts/qemu-aarch64).
	aarch64Magic = []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00")
	aarch64Mask  = []byte("\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff")
	// qemuNames are the emulators BuildKit could reach through PATH:
	// buildkit-qemu-aarch64 is the one it runs for a step of another
	// platform; the others are qemu-user's own names.
	qemuNames = []string{"buildkit-qemu-aarch64", "qemu-aarch64", "qemu-aarch64-static"}
)

// binfmtEntry is one registered binary format (a file in binfmtDir).
type binfmtEntry struct {
	name        string
	enabled     bool
	interpreter string
	offset      int
	magic, mask []byte // nil for an extension entry
}

// parseBinfmtEntry reads the kernel's description of entry name.
func parseBinfmtEntry(name, content string) (binfmtEntry, error) {
	e := binfmtEntry{name: name}
	for i, line := range strings.Split(strings.TrimSpace(content), "\n") {
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		var err error
		switch {
		case i == 0 && (key == "enabled" || key == "disabled"):
			e.enabled = key == "enabled"
		case key == "interpreter":
			e.interpreter = value
		case key == "offset":
			e.offset, err = strconv.Atoi(value)
		case key == "magic":
			e.magic, err = hex.DecodeString(value)
		case key == "mask":
			e.mask, err = hex.DecodeString(value)
		}
		if err != nil {
			return e, fmt.Errorf("binfmt_misc entry %s: line %q: %w", name, line, err)
		}
	}
	if e.mask != nil && len(e.mask) != len(e.magic) {
		return e, fmt.Errorf("binfmt_misc entry %s: mask of %d bytes for a magic of %d", name, len(e.mask), len(e.magic))
	}
	return e, nil
}

// runs says whether the kernel hands a file starting with header to e's
// interpreter (when e is enabled).
func (e binfmtEntry) runs(header []byte) bool {
	if e.magic == nil || e.offset+len(e.magic) > len(header) {
		return false
	}
	for i, m := range e.magic {
		mask := byte(0xff)
		if e.mask != nil {
			mask = e.mask[i]
		}
		if header[e.offset+i]&mask != m&mask {
			return false
		}
	}
	return true
}

// aarch64Headers are the first bytes of an aarch64 executable and of an
// aarch64 shared object (or PIE).
func aarch64Headers() [][]byte {
	var out [][]byte
	for _, etype := range []byte{2, 3} {
		h := make([]byte, 64)
		copy(h, "\x7fELF\x02\x01\x01")
		h[16], h[18], h[20] = etype, 0xb7, 1
		out = append(out, h)
	}
	return out
}

// registerLine is what EnableBinfmt writes to binfmt_misc's register file.
func registerLine(name, interpreter string) string {
	esc := func(b []byte) string {
		var s strings.Builder
		for _, c := range b {
			fmt.Fprintf(&s, `\x%02x`, c)
		}
		return s.String()
	}
	return fmt.Sprintf(":%s:M:0:%s:%s:%s:%s", name, esc(aarch64Magic), esc(aarch64Mask), interpreter, binfmtFlags)
}

// mountBinfmt mounts binfmt_misc at binfmtDir unless it is mounted, so that
// its table can be read and written.
func mountBinfmt() error {
	if _, err := os.Stat(filepath.Join(binfmtDir, "register")); err == nil {
		return nil
	}
	if err := syscall.Mount("binfmt_misc", binfmtDir, "binfmt_misc", 0, ""); err != nil {
		return fmt.Errorf("mounting binfmt_misc at %s (root needed): %w", binfmtDir, err)
	}
	return nil
}

// aarch64Emulation lists the enabled binfmt_misc entries that would run an
// aarch64 program, as "name (interpreter)".
func aarch64Emulation() ([]string, error) {
	if err := mountBinfmt(); err != nil {
		return nil, err
	}
	status, err := os.ReadFile(filepath.Join(binfmtDir, "status"))
	if err != nil {
		return nil, fmt.Errorf("reading binfmt_misc's status: %w", err)
	}
	if strings.TrimSpace(string(status)) == "disabled" {
		return nil, nil
	}
	dents, err := os.ReadDir(binfmtDir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", binfmtDir, err)
	}
	var found []string
	for _, d := range dents {
		if d.Name() == "register" || d.Name() == "status" {
			continue
		}
		content, err := os.ReadFile(filepath.Join(binfmtDir, d.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading binfmt_misc entry %s: %w", d.Name(), err)
		}
		e, err := parseBinfmtEntry(d.Name(), string(content))
		if err != nil {
			return nil, err
		}
		for _, h := range aarch64Headers() {
			if e.enabled && e.runs(h) {
				found = append(found, fmt.Sprintf("%s (%s)", e.name, e.interpreter))
				break
			}
		}
	}
	return found, nil
}

// qemuOnPath lists the emulators of qemuNames found in the directories of
// path (a PATH value).
func qemuOnPath(path string) []string {
	var found []string
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		for _, n := range qemuNames {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				found = append(found, p)
			}
		}
	}
	return found
}

// CheckNoEmulation returns an error unless nothing on this machine could run
// an aarch64 program: no enabled binfmt_misc entry matches an aarch64 ELF
// file, and no qemu emulator BuildKit could use is in the directories of
// path (the PATH of buildkitd).
func CheckNoEmulation(path string) error {
	entries, err := aarch64Emulation()
	if err != nil {
		return fmt.Errorf("cannot tell whether aarch64 is emulated: %w", err)
	}
	var problems []string
	if len(entries) > 0 {
		problems = append(problems, "binfmt_misc runs aarch64 programs with "+strings.Join(entries, ", "))
	}
	if q := qemuOnPath(path); len(q) > 0 {
		problems = append(problems, "qemu is in buildkitd's PATH: "+strings.Join(q, ", "))
	}
	if len(problems) > 0 {
		return fmt.Errorf("aarch64 emulation is available: %s", strings.Join(problems, "; "))
	}
	return nil
}

// binfmtLock is the machine-wide lock file: shared while a test requires no
// emulation, exclusive while one has binfmt enabled. Each call opens its
// own file description, so tests of one process exclude each other too.
func binfmtLock(t testing.TB, how int) (unlock func()) {
	t.Helper()
	p := filepath.Join(os.TempDir(), binfmtLockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatalf("opening the binfmt lock %s: %v", p, err)
	}
	deadline := time.Now().Add(binfmtWait)
	logged := time.Time{}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			t.Fatalf("locking %s: %v", p, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("waited %s for %s: another test keeps aarch64 emulation on or off", binfmtWait, p)
		}
		if time.Since(logged) > time.Minute {
			t.Logf("waiting for %s (another test runs with aarch64 emulation on or off)", p)
			logged = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return func() { f.Close() }
}

var (
	holdsMu sync.Mutex
	// holds are the tests that hold the lock shared (RequireNoEmulation),
	// with the func ending it.
	holds = map[testing.TB]func(){}
)

// RequireNoEmulation fails t unless CheckNoEmulation(path) passes, and keeps
// any EnableBinfmt (of any test process of this machine) waiting until done
// is called or t ends; done checks again, so that a build run in between
// provably had no aarch64 emulator. EnableBinfmt in the same test calls
// done itself.
func RequireNoEmulation(t testing.TB, path string) (done func()) {
	t.Helper()
	unlock := binfmtLock(t, syscall.LOCK_SH)
	if err := CheckNoEmulation(path); err != nil {
		unlock()
		t.Fatal(err)
	}
	var once sync.Once
	done = func() {
		once.Do(func() {
			holdsMu.Lock()
			delete(holds, t)
			holdsMu.Unlock()
			defer unlock()
			if err := CheckNoEmulation(path); err != nil {
				t.Errorf("while no emulation was required: %v", err)
			}
		})
	}
	holdsMu.Lock()
	holds[t] = done
	holdsMu.Unlock()
	t.Cleanup(done)
	return done
}

// RequireNoEmulation is RequireNoEmulation with the PATH of e's buildkitd.
func (e *Env) RequireNoEmulation(t testing.TB) (done func()) {
	t.Helper()
	path, err := processEnv(e.buildkitd.cmd.Process.Pid, "PATH")
	if err != nil {
		t.Fatalf("buildkitd's PATH: %v", err)
	}
	return RequireNoEmulation(t, path)
}

// processEnv is the value of the environment variable name of process pid.
func processEnv(pid int, name string) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return "", fmt.Errorf("reading the environment of process %d: %w", pid, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(name+"=")); ok {
			return string(v), nil
		}
	}
	return "", nil
}

var (
	qemuOnce sync.Once
	qemuPath string
	qemuErr  error
)

// QemuAarch64 is qemu-user's aarch64 emulator (hack/qemu.sh: out/qemu in
// the repository, taken out of Debian's package, on no PATH).
func QemuAarch64(ctx context.Context) (string, error) {
	qemuOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			qemuErr = err
			return
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "qemu.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			qemuErr = fmt.Errorf("hack/qemu.sh: %w\n%s", err, stderr.String())
			return
		}
		qemuPath = strings.TrimSpace(string(out))
	})
	return qemuPath, qemuErr
}

// EnableBinfmt makes the kernel run aarch64 programs with qemu-user (its
// own binfmt_misc entry, mounting binfmt_misc if needed) until disable is
// called or t ends, for running a finished arm64 image. It first ends t's
// RequireNoEmulation, then waits until no test of this machine requires no
// emulation. disable removes the entry and checks that aarch64 is no longer
// emulated.
func EnableBinfmt(t testing.TB) (disable func()) {
	t.Helper()
	holdsMu.Lock()
	done := holds[t]
	holdsMu.Unlock()
	if done != nil {
		done()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	qemu, err := QemuAarch64(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlock := binfmtLock(t, syscall.LOCK_EX)
	fail := func(format string, args ...any) {
		unlock()
		t.Helper()
		t.Fatalf(format, args...)
	}
	if err := mountBinfmt(); err != nil {
		fail("%v", err)
	}
	status, err := os.ReadFile(filepath.Join(binfmtDir, "status"))
	if err != nil {
		fail("reading binfmt_misc's status: %v", err)
	}
	if s := strings.TrimSpace(string(status)); s != "enabled" {
		fail("binfmt_misc is %s for the whole machine (%s/status); EnableBinfmt does not turn it on", s, binfmtDir)
	}
	entry := filepath.Join(binfmtDir, binfmtName)
	// An entry a killed test left behind.
	if err := removeBinfmtEntry(entry); err != nil {
		fail("%v", err)
	}
	interp := filepath.Join(filepath.Dir(qemu), "aarch64-binfmt-P")
	if err := os.WriteFile(filepath.Join(binfmtDir, "register"), []byte(registerLine(binfmtName, interp)), 0o200); err != nil {
		fail("registering %s in binfmt_misc: %v", binfmtName, err)
	}
	if on, err := aarch64Emulation(); err != nil || len(on) == 0 {
		_ = removeBinfmtEntry(entry)
		fail("aarch64 is not emulated after registering %s: %v", binfmtName, err)
	}
	var once sync.Once
	disable = func() {
		once.Do(func() {
			defer unlock()
			if err := removeBinfmtEntry(entry); err != nil {
				t.Errorf("disabling aarch64 emulation: %v", err)
				return
			}
			if on, err := aarch64Emulation(); err != nil || len(on) > 0 {
				t.Errorf("aarch64 still emulated after removing %s: %v %v", binfmtName, on, err)
			}
		})
	}
	t.Cleanup(disable)
	return disable
}

// removeBinfmtEntry removes binfmt_misc entry file p, if it is there.
func removeBinfmtEntry(p string) error {
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.WriteFile(p, []byte("-1"), 0o200); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing binfmt_misc entry %s: %w", p, err)
	}
	if _, err := os.Stat(p); err == nil {
		return fmt.Errorf("binfmt_misc entry %s still there after removing it", p)
	}
	return nil
}
