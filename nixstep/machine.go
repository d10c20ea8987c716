package nixstep

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// cpu is the ELF machine and class of the programs a CPU runs.
type cpu struct {
	machine elf.Machine
	class   elf.Class
}

// systemCPUs are, per Nix system type, the programs its kernel runs
// natively: every x86_64 CPU also runs i686 programs (nixpkgs' 32-bit
// packages, glibc_multi); other 64-bit ARM and RISC-V CPUs need not run
// their 32-bit ancestors' code, so it is not allowed there.
var systemCPUs = map[string][]cpu{
	"x86_64-linux":      {{elf.EM_X86_64, elf.ELFCLASS64}, {elf.EM_386, elf.ELFCLASS32}},
	"i686-linux":        {{elf.EM_386, elf.ELFCLASS32}},
	"aarch64-linux":     {{elf.EM_AARCH64, elf.ELFCLASS64}},
	"armv7l-linux":      {{elf.EM_ARM, elf.ELFCLASS32}},
	"armv6l-linux":      {{elf.EM_ARM, elf.ELFCLASS32}},
	"riscv64-linux":     {{elf.EM_RISCV, elf.ELFCLASS64}},
	"powerpc64le-linux": {{elf.EM_PPC64, elf.ELFCLASS64}},
}

// cpuNames name the CPUs of ELF machines in messages.
var cpuNames = map[elf.Machine]string{
	elf.EM_X86_64:  "x86_64",
	elf.EM_386:     "i686",
	elf.EM_AARCH64: "aarch64",
	elf.EM_ARM:     "32-bit ARM",
	elf.EM_RISCV:   "RISC-V",
	elf.EM_PPC64:   "POWER",
}

// program is what the ELF header of a file says.
type program struct {
	cpu
	little bool
}

func (p program) String() string {
	name := cpuNames[p.machine]
	if name == "" {
		name = "another CPU"
	}
	bits := "64-bit"
	if p.class == elf.ELFCLASS32 {
		bits = "32-bit"
	}
	return fmt.Sprintf("program for %s (ELF %s, %s)", name, p.machine, bits)
}

// runsOn reports whether system's kernel runs p natively (all the
// systems of systemCPUs are little endian).
func (p program) runsOn(system string) bool {
	return p.little && slices.Contains(systemCPUs[system], p.cpu)
}

// readProgram reads the ELF header of the regular file at p: ok is false
// for a file that is no ELF executable or shared object (object files
// and core dumps are data, not programs).
func readProgram(p string) (program, bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return program{}, false, err
	}
	defer f.Close()
	var hdr [20]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return program{}, false, nil
		}
		return program{}, false, err
	}
	if string(hdr[:4]) != elf.ELFMAG {
		return program{}, false, nil
	}
	var order binary.ByteOrder = binary.LittleEndian
	if elf.Data(hdr[elf.EI_DATA]) == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	switch elf.Type(order.Uint16(hdr[16:])) {
	case elf.ET_EXEC, elf.ET_DYN:
	default:
		return program{}, false, nil
	}
	return program{
		cpu:    cpu{machine: elf.Machine(order.Uint16(hdr[18:])), class: elf.Class(hdr[elf.EI_CLASS])},
		little: elf.Data(hdr[elf.EI_DATA]) == elf.ELFDATA2LSB,
	}, true, nil
}

// foreignProgram returns the first file under dir (in lexical order)
// that is a program system cannot run natively, or "".
func foreignProgram(dir, system string) (string, program, error) {
	var bad string
	var badProg program
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		prog, ok, err := readProgram(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if ok && !prog.runsOn(system) {
			bad, badProg = p, prog
			return fs.SkipAll
		}
		return nil
	})
	return bad, badProg, err
}

// checkBootstrapMachine refuses, before it runs, a Nix release whose Nix
// is not the builder's own program: nix-image runs no program of another
// CPU (no emulation), and the build would otherwise fail obscurely or run
// under whatever emulation the host has.
func (r *realiser) checkBootstrapMachine(nix string) error {
	system := r.buildSystem()
	if _, known := systemCPUs[system]; !known {
		return nil
	}
	bad, prog, err := foreignProgram(nix, system)
	if err != nil {
		return fmt.Errorf("checking the Nix release (%s): %w", r.cfg.ReleaseSource, err)
	}
	if bad == "" {
		return nil
	}
	return fmt.Errorf("the Nix release (%s) realises the image on the builder, whose system is %s, but its %s is a %s: "+
		"give the release of %s there (nix.version, a nix.url with {system} and nix.sha256 per system, or the named context nix-%s); "+
		"nix-image never runs a program of another CPU", r.cfg.ReleaseSource, system, bad, prog, system, system)
}

// checkClosureMachines fails the build when a store path of the image
// holds a program its platform cannot run natively (an arm64 image with
// x86_64 binaries is the mistake this catches: a release or a package
// set of the wrong system), naming the first one in path order. The
// nixpkgs source is data and is not read.
func (r *realiser) checkClosureMachines(ctx context.Context, roots Roots) error {
	system := r.cfg.System
	if _, known := systemCPUs[system]; !known {
		return nil
	}
	paths, err := r.closurePaths(ctx, roots)
	if err != nil {
		return err
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return p == roots.Nixpkgs })
	bad := make([]string, len(paths))
	progs := make([]program, len(paths))
	err = parallel(len(paths), func(i int) (err error) {
		bad[i], progs[i], err = foreignProgram(paths[i], system)
		return err
	})
	if err != nil {
		return fmt.Errorf("checking the programs of the closure: %w", err)
	}
	for i, p := range bad {
		if p == "" {
			continue
		}
		from := ""
		if slices.Contains(r.rel.names, filepath.Base(paths[i])) {
			from = " It is a store path of the Nix release (" + r.releaseSource() + "): give the release of " + system + " there."
		}
		return fmt.Errorf("the image is for %s, but %s is a %s, which %s cannot run.%s", system, p, progs[i], system, from)
	}
	return nil
}
