package nixstep

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseRegistration(t *testing.T) {
	reg := `/nix/store/bbb-hello
abc123
1024
/nix/store/ddd-hello.drv
2
/nix/store/bbb-hello
/nix/store/aaa-glibc
/nix/store/aaa-glibc
def456
2048

0
`
	got, err := ParseRegistration(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := []PathInfo{
		{Path: "/nix/store/aaa-glibc", NarHash: "def456", NarSize: 2048, References: []string{}},
		{Path: "/nix/store/bbb-hello", NarHash: "abc123", NarSize: 1024, Deriver: "/nix/store/ddd-hello.drv",
			References: []string{"/nix/store/aaa-glibc", "/nix/store/bbb-hello"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"/nix/store/x\nh\n", "/nix/store/x\nh\nbig\n\n0\n", "/nix/store/x\nh\n1\n\n3\n/nix/store/y\n"} {
		if _, err := ParseRegistration(bad); err == nil {
			t.Errorf("ParseRegistration(%q): want an error", bad)
		}
	}
}

func TestStoreRoot(t *testing.T) {
	tests := map[string]string{
		"/nix/store/abc-bash/bin/bash": "/nix/store/abc-bash",
		"/nix/store/abc-bash":          "/nix/store/abc-bash",
		"/usr/bin/env":                 "",
	}
	for in, want := range tests {
		if got := storeRoot(in); got != want {
			t.Errorf("storeRoot(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunForeignBinary(t *testing.T) {
	// A file with the executable bit that the kernel cannot run, as a
	// binary for another CPU is without emulation.
	prog := filepath.Join(t.TempDir(), "nix-store")
	if err := os.WriteFile(prog, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0xb7, 0}, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := run(context.Background(), nil, nil, prog, "--version")
	if err == nil || !strings.Contains(err.Error(), "it is built for another CPU than this builder's") {
		t.Errorf("err = %v, want the foreign CPU named", err)
	}
}

func TestReleaseNix(t *testing.T) {
	const (
		nix    = "00000000000000000000000000000000-nix-2.33.3"
		cli    = "11111111111111111111111111111111-nix-cli-2.33.3"
		man    = "22222222222222222222222222222222-nix-2.33.3-man"
		script = "#!/bin/sh\nnix=\"/nix/store/" + cli + "\"\n"
	)
	tests := []struct {
		name    string
		paths   []string // store paths with bin/nix-store
		others  []string
		install string
		want    string
	}{
		{"named by the install script", []string{nix, cli}, []string{man}, script, cli},
		{"named nix-<version>", []string{cli, nix}, []string{man}, "", nix},
		{"any with nix-store", []string{cli}, []string{man}, "", cli},
		{"none", nil, []string{man}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var names []string
			for _, p := range tc.paths {
				os.MkdirAll(filepath.Join(dir, "store", p, "bin"), 0o755)
				os.WriteFile(filepath.Join(dir, "store", p, "bin", "nix-store"), nil, 0o755)
				names = append(names, p)
			}
			for _, p := range tc.others {
				os.MkdirAll(filepath.Join(dir, "store", p), 0o755)
				names = append(names, p)
			}
			if tc.install != "" {
				os.WriteFile(filepath.Join(dir, "install"), []byte(tc.install), 0o755)
			}
			got, err := releaseNix(dir, filepath.Join(dir, "store"), names)
			if got != tc.want || (err != nil) != (tc.want == "") {
				t.Errorf("releaseNix = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestToBuild(t *testing.T) {
	out := `these 2 derivations will be built:
  /nix/store/aaaa-missing-1.0.drv
  /nix/store/bbbb-user-environment.drv
these 3 paths will be fetched (0.05 MiB download, 0.14 MiB unpacked):
  /nix/store/cccc-gzip-1.12
`
	got := toBuild(out)
	want := []string{"/nix/store/aaaa-missing-1.0.drv"}
	if !slices.Equal(got, want) {
		t.Errorf("toBuild = %q, want %q", got, want)
	}
	if got := toBuild("this path will be fetched (0.05 MiB download):\n  /nix/store/cccc-gzip-1.12\n"); len(got) != 0 {
		t.Errorf("toBuild of a fetch-only run = %q", got)
	}
}
