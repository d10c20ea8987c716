package e2e

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
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

// aarch64Runs reports whether this machine runs an aarch64 program (the
// probe): only when something emulates aarch64; otherwise exec fails with
// ENOEXEC.
func aarch64Runs(t *testing.T) bool {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "aarch64-probe")
	if err := os.WriteFile(probe, aarch64Probe(), 0o755); err != nil {
		t.Fatal(err)
	}
	err := exec.Command(probe).Run()
	if err != nil && !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("running the aarch64 probe: %v", err)
	}
	return err == nil
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
	// No emulator of aarch64 in reach for the whole build: checked now
	// and when done, and no test of this machine may enable one between.
	done := e.RequireNoEmulation(t)
	if aarch64Runs(t) {
		t.Fatal("an aarch64 program runs on this machine before the build")
	}
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
	if aarch64Runs(t) {
		t.Fatal("an aarch64 program runs on this machine after the build")
	}
	done()

	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	images := map[string]string{}
	for _, tag := range []string{"v1", "v1-ssh"} {
		for _, arch := range []string{"amd64", "arm64"} {
			tar := filepath.Join(t.TempDir(), tag+"-"+arch+".tar")
			images[tag+"/"+arch] = tar
			t.Run(tag+"/"+arch, func(t *testing.T) {
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

	// The arm64 image works, under qemu-user, enabled for this run only.
	disable := testenv.EnableBinfmt(t)
	defer disable()
	if !aarch64Runs(t) {
		t.Fatal("binfmt_misc is enabled, but the aarch64 probe does not run")
	}
	script := "uname -m && nix --version && nix-env -iA nixpkgs.hello && hello && nix-store --verify --check-contents && echo verified"
	stdout, stderr, err := e.RunImage(ctx, images["v1/arm64"], "/bin/sh", "-c", script)
	if err != nil {
		t.Fatalf("the arm64 image: %s: %v\n%s\n%s", script, err, stdout, lastLines(stderr, 30))
	}
	for _, want := range []string{"aarch64\n", "nix (Nix) " + m.Vars["NIX_VERSION"] + "\n", "Hello, world!\n", "verified\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the arm64 image's %q printed %q, want %q in it\n%s", script, stdout, want, lastLines(stderr, 30))
		}
	}
	if stdout, stderr, err := e.RunImage(ctx, images["v1-ssh/arm64"], "/bin/sh", "-c", "uname -m && ssh -V 2>&1 && nix-store --verify --check-contents && echo verified"); err != nil ||
		!strings.Contains(stdout, "aarch64\n") || !strings.Contains(stdout, "OpenSSH") || !strings.Contains(stdout, "verified\n") {
		t.Errorf("the arm64 ssh image: %q, %v\n%s", stdout, err, stderr)
	}
}

// TestCrossPlatformRefusals: an arm64 build on the amd64 daemon that
// cannot give a correct image fails, naming what is wrong: a release of
// the wrong system given for either system, one release for two systems,
// and a package that no cache has for aarch64 (which the builder may not
// build without emulation).
func TestCrossPlatformRefusals(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	contextOf := func(t *testing.T, dir, name, tarball string) []string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(m.Dir, tarball), filepath.Join(d, filepath.Base(tarball)))
		return []string{"--local", name + "=" + d, "--opt", "context:" + name + "=local:" + name}
	}
	x86, arm := m.Vars["NIX_TARBALL_X86_64_LINUX"], m.Vars["NIX_TARBALL_AARCH64_LINUX"]
	missing := retarNixpkgs(t, filepath.Join(m.Dir, m.Vars["NIXPKGS_TARBALL"]), func(name string, data []byte) []byte {
		if name != "nixpkgs/default.nix" {
			return data
		}
		return []byte(strings.TrimSuffix(string(data), "pkgs\n") +
			"pkgs // { in-no-cache = derivation { name = \"in-no-cache-1.0\"; inherit system; builder = \"/no/such/builder\"; }; }\n")
	})
	sum := fmt.Sprintf("%x", sha256.Sum256(missing))
	tests := []struct {
		name string
		spec string
		args func(t *testing.T, dir string) []string
		want []string
	}{
		{
			name: "the image's release is x86_64",
			args: func(t *testing.T, dir string) []string {
				return append([]string{"--opt", "platform=linux/arm64"}, contextOf(t, dir, "nix-aarch64-linux", x86)...)
			},
			want: []string{"the image is for aarch64-linux, but /nix/store/", "is a program for x86_64 (ELF EM_X86_64, 64-bit), which aarch64-linux cannot run",
				`It is a store path of the Nix release (the named context "nix-aarch64-linux"): give the release of aarch64-linux there`},
		},
		{
			name: "the builder's release is aarch64",
			args: func(t *testing.T, dir string) []string {
				return append([]string{"--opt", "platform=linux/amd64"}, contextOf(t, dir, "nix-x86_64-linux", arm)...)
			},
			want: []string{`the Nix release (the named context "nix-x86_64-linux") realises the image on the builder, whose system is x86_64-linux, but its /nix/store/`,
				"is a program for aarch64 (ELF EM_AARCH64, 64-bit)", "nix-image never runs a program of another CPU"},
		},
		{
			name: "the named context nix for two systems",
			args: func(t *testing.T, dir string) []string {
				return append([]string{"--opt", "platform=linux/arm64"}, contextOf(t, dir, "nix", x86)...)
			},
			want: []string{`the named context "nix" gives one Nix release, but this build needs two: the x86_64-linux one`, "and the aarch64-linux one, which the image holds (platform linux/arm64)"},
		},
		{
			name: "a package no cache has for aarch64",
			spec: minimalSpec + "packages: [in-no-cache]\n",
			args: func(t *testing.T, dir string) []string {
				return []string{"--opt", "platform=linux/arm64", "--opt", "build-arg:NIXPKGS_URL=" + m.Serve("nixpkgs-missing-arm64.tar.gz", missing), "--opt", "build-arg:NIXPKGS_SHA256=" + sum}
			},
			want: []string{"the image is for aarch64-linux, and the builder is x86_64-linux: nix-image runs nothing of aarch64-linux on it",
				"needed by in-no-cache (", "-in-no-cache-1.0.drv", "docker buildx create --append --name BUILDER --platform linux/arm64", "NIX_IMAGE_FOREIGN_BUILDS=true"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			spec := minimalSpec
			if tc.spec != "" {
				spec = tc.spec
			}
			dir := e.SpecContext(t, spec, nil)
			res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), tc.args(t, dir)...)...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("error output lacks %q:\n%s", w, lastLines(all, 30))
				}
			}
		})
	}
}

// TestForeignBuilds: with the host's binfmt_misc running aarch64
// programs, an arm64 build still builds nothing of aarch64 (Nix refuses
// the derivation, with the remedies) unless the build arg
// NIX_IMAGE_FOREIGN_BUILDS=true allows it: then the derivation no cache
// has is built through the emulation, and the image holds it.
func TestForeignBuilds(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	set := retarNixpkgs(t, filepath.Join(m.Dir, m.Vars["NIXPKGS_TARBALL"]), func(name string, data []byte) []byte {
		if name != "nixpkgs/default.nix" {
			return data
		}
		return []byte(strings.TrimSuffix(string(data), "pkgs\n") + `pkgs // { in-foreign = derivation {
  name = "in-foreign-1.0"; inherit system; builder = "${pkgs.bash}/bin/bash";
  args = [ "-c" "${pkgs.coreutils}/bin/mkdir -p $out/share && echo built-on-$(${pkgs.coreutils}/bin/uname -m) > $out/share/in-foreign" ];
}; }
`)
	})
	pkgs := []string{"--opt", "platform=linux/arm64",
		"--opt", "build-arg:NIXPKGS_URL=" + m.Serve("nixpkgs-foreign.tar.gz", set),
		"--opt", "build-arg:NIXPKGS_SHA256=" + fmt.Sprintf("%x", sha256.Sum256(set))}
	spec := minimalSpec + "packages: [in-foreign]\n"
	disable := testenv.EnableBinfmt(t)
	defer disable()
	if !aarch64Runs(t) {
		t.Fatal("binfmt_misc is enabled, but the aarch64 probe does not run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	res, err := e.BuildSpec(ctx, e.SpecContext(t, spec, nil), append(m.BuildctlOpts(), pkgs...)...)
	if err == nil {
		t.Fatal("without NIX_IMAGE_FOREIGN_BUILDS the build ran the aarch64 derivation through the host's emulation")
	}
	all := res.Stderr + res.Progress.Output("")
	for _, w := range []string{"-in-foreign-1.0.drv", "needed by in-foreign (", "NIX_IMAGE_FOREIGN_BUILDS=true"} {
		if !strings.Contains(all, w) {
			t.Errorf("error output lacks %q:\n%s", w, lastLines(all, 30))
		}
	}

	res, err = e.BuildSpec(ctx, e.SpecContext(t, spec, nil), append(append(m.BuildctlOpts(), pkgs...),
		"--opt", "build-arg:NIX_IMAGE_FOREIGN_BUILDS=true", "--output", "type=image,name="+e.RegistryAddr+"/cross/foreign:v1,push=true")...)
	if err != nil {
		t.Fatalf("with NIX_IMAGE_FOREIGN_BUILDS=true: %v\n%s", err, lastLines(res.Stderr+res.Progress.Output(""), 30))
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	if _, err := testenv.PullOCIArch(ctx, e.RegistryAddr, "cross/foreign", "v1", "arm64", out); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := e.RunImage(ctx, out, "/bin/sh", "-c", "uname -m && cat /root/.nix-profile/share/in-foreign")
	if err != nil || stdout != "aarch64\nbuilt-on-aarch64\n" {
		t.Errorf("the image: %q, %v\n%s", stdout, err, stderr)
	}
}
