package testenv

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

const qemuEntry = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestParseBinfmtEntry(t *testing.T) {
	tests := []struct {
		name, content string
		want          binfmtEntry
		wantErr       string
	}{
		{name: "qemu-aarch64", content: qemuEntry, want: binfmtEntry{
			name: "qemu-aarch64", enabled: true, interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
			magic: aarch64Magic, mask: aarch64Mask,
		}},
		{name: "off", content: strings.Replace(qemuEntry, "enabled", "disabled", 1), want: binfmtEntry{
			name: "off", interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", magic: aarch64Magic, mask: aarch64Mask,
		}},
		{name: "jar", content: "enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n", want: binfmtEntry{
			name: "jar", enabled: true, interpreter: "/usr/bin/jexec",
		}},
		{name: "python", content: "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 2\nmagic a70d0d0a\n", want: binfmtEntry{
			name: "python", enabled: true, interpreter: "/usr/bin/python3.11", offset: 2, magic: []byte{0xa7, 0x0d, 0x0d, 0x0a},
		}},
		{name: "bad", content: "enabled\nmagic 7g\n", wantErr: `binfmt_misc entry bad: line "magic 7g": encoding/hex: invalid byte: U+0067 'g'`},
		{name: "short", content: "enabled\nmagic 7f45\nmask ff\n", wantErr: "binfmt_misc entry short: mask of 1 bytes for a magic of 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBinfmtEntry(tc.name, tc.content)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestBinfmtEntryRuns(t *testing.T) {
	x86 := make([]byte, 64)
	copy(x86, "\x7fELF\x02\x01\x01")
	x86[16], x86[18] = 3, 0x3e
	arm32 := append([]byte(nil), aarch64Headers()[0]...)
	arm32[4], arm32[18] = 1, 0x28
	qemu, err := parseBinfmtEntry("qemu-aarch64", qemuEntry)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		entry  binfmtEntry
		header []byte
		want   bool
	}{
		{"aarch64 executable", qemu, aarch64Headers()[0], true},
		{"aarch64 shared object", qemu, aarch64Headers()[1], true},
		{"x86_64", qemu, x86, false},
		{"32-bit arm", qemu, arm32, false},
		{"short file", qemu, aarch64Headers()[0][:10], false},
		{"extension entry", binfmtEntry{name: "jar"}, aarch64Headers()[0], false},
		{"magic without mask", binfmtEntry{magic: []byte("\x7fELF")}, x86, true},
		{"magic at an offset", binfmtEntry{offset: 18, magic: []byte{0xb7}}, aarch64Headers()[1], true},
	}
	for _, tc := range tests {
		if got := tc.entry.runs(tc.header); got != tc.want {
			t.Errorf("%s: runs = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRegisterLine(t *testing.T) {
	got := registerLine("nix-image-qemu-aarch64", "/q/aarch64-binfmt-P")
	want := `:nix-image-qemu-aarch64:M:0:\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:` +
		`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/q/aarch64-binfmt-P:PF`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestQemuOnPath(t *testing.T) {
	bin, other, empty := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []struct {
		dir, name string
		mode      os.FileMode
	}{
		{bin, "buildkit-qemu-aarch64", 0o755},
		{bin, "qemu-x86_64", 0o755},
		{other, "qemu-aarch64-static", 0o755},
		{other, "qemu-aarch64", 0o644}, // not executable
	} {
		if err := os.WriteFile(filepath.Join(f.dir, f.name), nil, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(empty, "qemu-aarch64"), 0o755); err != nil { // a directory
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want []string
	}{
		{empty, nil},
		{bin, []string{filepath.Join(bin, "buildkit-qemu-aarch64")}},
		{empty + ":" + other + ":" + bin, []string{filepath.Join(other, "qemu-aarch64-static"), filepath.Join(bin, "buildkit-qemu-aarch64")}},
	}
	for _, tc := range tests {
		if got := qemuOnPath(tc.path); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.path, got, tc.want)
		}
	}
}

// tinyAarch64 is a static aarch64 Linux program that exits with status 7:
// an ELF header, one loadable segment, and movz x0, #7; movz x8, #93
// (exit); svc #0.
func tinyAarch64() []byte {
	const base, hdr, phdr = 0x400000, 64, 56
	code := []uint32{0xd28000e0, 0xd2800ba8, 0xd4000001}
	size := uint64(hdr + phdr + 4*len(code))
	le := binary.LittleEndian
	b := []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	b = le.AppendUint16(b, 2)   // e_type: executable
	b = le.AppendUint16(b, 183) // e_machine: aarch64
	b = le.AppendUint32(b, 1)   // e_version
	b = le.AppendUint64(b, base+hdr+phdr)
	b = le.AppendUint64(b, hdr) // e_phoff
	b = le.AppendUint64(b, 0)   // e_shoff
	b = le.AppendUint32(b, 0)   // e_flags
	b = le.AppendUint16(b, hdr)
	b = le.AppendUint16(b, phdr)
	b = le.AppendUint16(b, 1) // e_phnum
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, 1) // p_type: load
	b = le.AppendUint32(b, 5) // p_flags: read, execute
	b = le.AppendUint64(b, 0) // p_offset
	b = le.AppendUint64(b, base)
	b = le.AppendUint64(b, base)
	b = le.AppendUint64(b, size)
	b = le.AppendUint64(b, size)
	b = le.AppendUint64(b, 0x1000)
	for _, c := range code {
		b = le.AppendUint32(b, c)
	}
	return b
}

// TestEnableBinfmt runs an aarch64 program before, while and after
// EnableBinfmt. It changes the machine's binfmt_misc for a moment (under
// the lock RequireNoEmulation respects), so it runs only with the e2e
// tests' requirements: root, and NIX_IMAGE_E2E not 0.
func TestEnableBinfmt(t *testing.T) {
	if os.Getenv("NIX_IMAGE_E2E") == "0" || os.Geteuid() != 0 {
		t.Skip("needs root and NIX_IMAGE_E2E != 0")
	}
	prog := filepath.Join(t.TempDir(), "exit7")
	if err := os.WriteFile(prog, tinyAarch64(), 0o755); err != nil {
		t.Fatal(err)
	}
	// Without emulation the kernel refuses it (with binfmt-support's
	// run-detectors installed, that helper fails instead).
	notRun := func(when string) {
		t.Helper()
		err := exec.Command(prog).Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 7 {
			t.Fatalf("%s: the aarch64 program ran", when)
		}
		if err == nil {
			t.Fatalf("%s: the aarch64 program exited 0", when)
		}
		if !errors.Is(err, syscall.ENOEXEC) {
			t.Logf("%s: %v", when, err)
		}
	}
	done := RequireNoEmulation(t, os.Getenv("PATH"))
	notRun("before")
	disable := EnableBinfmt(t) // ends RequireNoEmulation's hold first
	done()                     // a no-op now
	err := exec.Command(prog).Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("with EnableBinfmt: got %v, want exit status 7", err)
	}
	if err := CheckNoEmulation(""); err == nil || !strings.Contains(err.Error(), binfmtName) {
		t.Errorf("CheckNoEmulation with binfmt enabled: got %v, want an error naming %s", err, binfmtName)
	}
	disable()
	notRun("after")
	if err := CheckNoEmulation(os.Getenv("PATH")); err != nil {
		t.Errorf("after disable: %v", err)
	}
}
