package llbgen

import (
	"strings"
	"testing"

	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const installScript = `#!/bin/sh
url="https://releases.nixos.org/nix/nix-2.24.9"
case "$(uname -s).$(uname -m)" in
    Linux.x86_64)
        hash=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        path=zzzz/nix-2.24.9-x86_64-linux.tar.xz
        system=x86_64-linux
        ;;
    Linux.aarch64)
        hash=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
        path=zzzz/nix-2.24.9-aarch64-linux.tar.xz
        system=aarch64-linux
        ;;
    Linux.armv7l)
        hash=notahash
        system=armv7l-linux
        ;;
    *) oops "sorry, there is no binary distribution of Nix for your platform";;
esac
`

func TestParseInstallHash(t *testing.T) {
	tests := []struct {
		system, want, err string
	}{
		{"x86_64-linux", strings.Repeat("a", 64), ""},
		{"aarch64-linux", strings.Repeat("b", 64), ""},
		{"armv7l-linux", "", "not a sha256"},
		{"riscv64-linux", "", "no tarball for riscv64-linux"},
	}
	for _, tc := range tests {
		t.Run(tc.system, func(t *testing.T) {
			got, err := ParseInstallHash([]byte(installScript), tc.system)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestNixSystem(t *testing.T) {
	tests := []struct {
		p    ocispecs.Platform
		want string
	}{
		{ocispecs.Platform{OS: "linux", Architecture: "amd64"}, "x86_64-linux"},
		{ocispecs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "aarch64-linux"},
		{ocispecs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "armv7l-linux"},
		{ocispecs.Platform{OS: "linux", Architecture: "386"}, "i686-linux"},
		{ocispecs.Platform{OS: "linux", Architecture: "riscv64"}, "riscv64-linux"},
		{ocispecs.Platform{OS: "linux", Architecture: "s390x"}, ""},
		{ocispecs.Platform{OS: "windows", Architecture: "amd64"}, ""},
	}
	for _, tc := range tests {
		got, err := NixSystem(tc.p)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NixSystem(%+v) = %q, %v; want %q", tc.p, got, err, tc.want)
		}
	}
}

func TestReleaseTarballURL(t *testing.T) {
	tests := []struct {
		nix  spec.Nix
		want string
	}{
		{spec.Nix{Version: "2.24.9", Releases: "https://releases.nixos.org/nix"}, "https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-aarch64-linux.tar.xz"},
		{spec.Nix{Version: "2.8.0", Releases: "http://127.0.0.1:8080/nix/"}, "http://127.0.0.1:8080/nix/nix-2.8.0/nix-2.8.0-aarch64-linux.tar.xz"},
		{spec.Nix{URL: "https://example.com/nix.tar.xz", SHA256: "x"}, "https://example.com/nix.tar.xz"},
	}
	for _, tc := range tests {
		if got := ReleaseTarballURL(tc.nix, "aarch64-linux"); got != tc.want {
			t.Errorf("ReleaseTarballURL(%+v) = %q, want %q", tc.nix, got, tc.want)
		}
	}
}
