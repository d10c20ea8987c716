package e2e

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/mirror"
	"github.com/nix-image/nix-image/internal/testenv"
)

// aarch64Probe is the smallest aarch64 Linux program: exit(0). This
// machine runs it only when something emulates aarch64 (a binfmt_misc
// handler such as qemu-aarch64); otherwise exec fails with ENOEXEC.
func aarch64Probe() []byte {
	const base, size = 0x400000, 64 + 56 + 12
	b := make([]byte, size)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_AARCH64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], base+64+56) // entry: the code after the headers
	le.PutUint64(b[32:], 64)         // program headers
	le.PutUint16(b[52:], 64)         // header size
	le.PutUint16(b[54:], 56)         // program header size
	le.PutUint16(b[56:], 1)          // one program header
	ph := b[64:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_X))
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], size)
	le.PutUint64(ph[40:], size)
	le.PutUint64(ph[48:], 0x1000)
	code := b[64+56:]
	le.PutUint32(code[0:], 0xd2800000) // mov x0, #0
	le.PutUint32(code[4:], 0xd2800ba8) // mov x8, #93 (exit)
	le.PutUint32(code[8:], 0xd4000001) // svc #0
	return b
}

// requireNoAarch64Emulation fails t unless this machine cannot run an
// aarch64 program: no binfmt_misc handler of aarch64 is enabled (the
// probe fails with ENOEXEC) and no emulator BuildKit would use
// (buildkit-qemu-aarch64) or a user would install (qemu-aarch64,
// qemu-aarch64-static) is on PATH.
func requireNoAarch64Emulation(t *testing.T) {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "aarch64-probe")
	if err := os.WriteFile(probe, aarch64Probe(), 0o755); err != nil {
		t.Fatal(err)
	}
	err := exec.Command(probe).Run()
	if !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("an aarch64 program ran on this machine (%v): something emulates aarch64 (binfmt_misc: %s)", err, binfmtEntries())
	}
	for _, name := range []string{"buildkit-qemu-aarch64", "qemu-aarch64", "qemu-aarch64-static"} {
		if p, err := exec.LookPath(name); err == nil {
			t.Fatalf("an aarch64 emulator is on PATH: %s", p)
		}
	}
}

// binfmtEntries lists the enabled binfmt_misc handlers, for messages.
func binfmtEntries() string {
	entries, err := os.ReadDir("/proc/sys/fs/binfmt_misc")
	if err != nil {
		return "not mounted"
	}
	var on []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("/proc/sys/fs/binfmt_misc", e.Name()))
		if err == nil && e.Name() != "register" && strings.HasPrefix(string(data), "enabled") {
			on = append(on, e.Name())
		}
	}
	return "enabled: " + strings.Join(on, " ")
}

// elfMachines counts, per ELF machine, the executables and shared
// libraries under the store of rootfs, and returns one file per machine.
// The pinned nixpkgs source (the gcroot nix-image/nixpkgs) is data, not a
// program of the image: the mirror's package set carries the x86_64
// busybox its derivations were built with, which real nixpkgs has no
// counterpart of. The realise step's check leaves it out too.
func elfMachines(t *testing.T, rootfs string) (map[elf.Machine]int, map[elf.Machine]string) {
	t.Helper()
	nixpkgs, err := os.Readlink(filepath.Join(rootfs, "nix/var/nix/gcroots/nix-image/nixpkgs"))
	if err != nil {
		t.Fatal(err)
	}
	count, example := map[elf.Machine]int{}, map[elf.Machine]string{}
	err = filepath.WalkDir(filepath.Join(rootfs, "nix/store"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.TrimPrefix(p, rootfs) == nixpkgs {
			return fs.SkipDir
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := elf.Open(p)
		if err != nil {
			// Not an ELF file (or not one debug/elf reads: then it
			// has no machine to check either).
			return nil
		}
		defer f.Close()
		if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
			return nil
		}
		count[f.Machine]++
		if _, ok := example[f.Machine]; !ok {
			example[f.Machine] = strings.TrimPrefix(p, rootfs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return count, example
}

// TestCrossPlatform builds the bake example's images (default and ssh)
// for linux/amd64 and linux/arm64 in one bake on the amd64 daemon, which
// nothing lets run an aarch64 program during the whole build, pushes an
// index of both platforms per image, and checks that every program of
// each image is its platform's.
func TestCrossPlatform(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	if !slices.Contains(strings.Fields(m.Vars["NIX_SYSTEMS"]), "aarch64-linux") {
		t.Fatalf("the mirror has no aarch64-linux world (NIX_SYSTEMS=%q)", m.Vars["NIX_SYSTEMS"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	requireNoAarch64Emulation(t)
	dir := e.SpecContext(t, minimalSpec, map[string]string{
		"docker-bake.hcl": readFile(t, "../examples/bake/docker-bake.hcl"),
	})
	t.Setenv("IMAGE", e.RegistryAddr+"/cross/nix")
	t.Setenv("TAG", "v1")
	args := []string{"bake", "--push"}
	for _, k := range mirror.ArgNames {
		args = append(args, "--set", "*.args."+k+"="+m.Args()[k])
	}
	res, err := e.BuildxJSON(ctx, dir, args...)
	if err != nil {
		t.Fatalf("docker buildx bake --push: %v\n%s", err, lastLines(res.Progress.Output("nix-image]"), 40))
	}
	// Nothing could have emulated aarch64 during the build either.
	requireNoAarch64Emulation(t)

	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, tag := range []string{"v1", "v1-ssh"} {
		for _, arch := range []string{"amd64", "arm64"} {
			t.Run(tag+"/"+arch, func(t *testing.T) {
				tar := filepath.Join(t.TempDir(), "image.tar")
				if _, err := testenv.PullOCIArch(ctx, e.RegistryAddr, "cross/nix", tag, arch, tar); err != nil {
					t.Fatalf("pulling the linux/%s image of cross/nix:%s: %v", arch, tag, err)
				}
				if info := inspectOCI(t, tar, arch); info.Config.OS != "linux" {
					t.Errorf("config: os %s", info.Config.OS)
				}
				rootfs, _ := unpackImage(t, tar)
				count, example := elfMachines(t, rootfs)
				if count[machines[arch]] < 20 {
					t.Errorf("only %d programs for %s in the %s image: %v", count[machines[arch]], machines[arch], arch, count)
				}
				for mach, n := range count {
					if mach != machines[arch] {
						t.Errorf("the %s image holds %d programs for %s, e.g. %s", arch, n, mach, example[mach])
					}
				}
			})
		}
	}
}
