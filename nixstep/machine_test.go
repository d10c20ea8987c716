package nixstep

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// elfHeader returns the first bytes of an ELF file of the given class,
// byte order, type and machine.
func elfHeader(class elf.Class, data elf.Data, typ elf.Type, machine elf.Machine) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(class), byte(data), byte(elf.EV_CURRENT)
	var order binary.ByteOrder = binary.LittleEndian
	if data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	order.PutUint16(h[16:], uint16(typ))
	order.PutUint16(h[18:], uint16(machine))
	return h
}

var (
	x86Exec   = elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_X86_64)
	x86Lib    = elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.ET_DYN, elf.EM_X86_64)
	i686Exec  = elfHeader(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_386)
	armExec   = elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.ET_DYN, elf.EM_AARCH64)
	armObject = elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.ET_REL, elf.EM_AARCH64)
	ppcBig    = elfHeader(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.ET_EXEC, elf.EM_PPC64)
	ppcLittle = elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_PPC64)
)

// writeTree writes files (path -> content) under a new directory.
func writeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestForeignProgram(t *testing.T) {
	script := []byte("#!/bin/sh\necho hi\n")
	tests := []struct {
		name   string
		files  map[string][]byte
		system string
		want   string // the offender, relative; "" for none
		prog   string
	}{
		{"x86_64 programs and scripts on x86_64", map[string][]byte{"bin/a": x86Exec, "lib/liba.so": x86Lib, "bin/s": script, "short": {0x7f, 'E'}}, "x86_64-linux", "", ""},
		{"i686 programs on x86_64", map[string][]byte{"bin/a": i686Exec}, "x86_64-linux", "", ""},
		{"an x86_64 library in an aarch64 image", map[string][]byte{"bin/a": armExec, "lib/liba.so": x86Lib, "lib/libb.so": x86Lib}, "aarch64-linux", "lib/liba.so", "program for x86_64 (ELF EM_X86_64, 64-bit)"},
		{"aarch64 in an x86_64 image", map[string][]byte{"bin/a": x86Exec, "bin/b": armExec}, "x86_64-linux", "bin/b", "program for aarch64 (ELF EM_AARCH64, 64-bit)"},
		{"i686 is not aarch64's", map[string][]byte{"bin/a": i686Exec}, "aarch64-linux", "bin/a", "program for i686 (ELF EM_386, 32-bit)"},
		{"object files are data", map[string][]byte{"share/x.o": armObject}, "x86_64-linux", "", ""},
		{"big-endian POWER on powerpc64le", map[string][]byte{"bin/a": ppcLittle, "bin/b": ppcBig}, "powerpc64le-linux", "bin/b", "program for POWER (ELF EM_PPC64, 64-bit)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			bad, prog, err := foreignProgram(dir, tc.system)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tc.want != "" {
				want = filepath.Join(dir, tc.want)
			}
			if bad != want {
				t.Errorf("offender %q, want %q", bad, want)
			}
			if bad != "" && prog.String() != tc.prog {
				t.Errorf("offender is a %s, want %s", prog, tc.prog)
			}
		})
	}
}

func TestCheckBootstrapMachine(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"the builder's", map[string][]byte{"libexec/nix/nix": x86Exec, "bin/nix": []byte("#!/bin/sh\n")}, ""},
		{"another CPU's", map[string][]byte{"libexec/nix/nix": armExec},
			"the Nix release (the named context \"nix-x86_64-linux\") realises the image on the builder, whose system is x86_64-linux, but its "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &realiser{cfg: RealiseConfig{System: "aarch64-linux", BuildSystem: "x86_64-linux", ReleaseSource: `the named context "nix-x86_64-linux"`}}
			err := r.checkBootstrapMachine(writeTree(t, tc.files))
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("checkBootstrapMachine: %v, want %q", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "libexec/nix/nix is a program for aarch64") {
				t.Errorf("error %q does not name the program", err)
			}
		})
	}
}
