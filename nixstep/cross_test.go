package nixstep

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestImageNixpkgs: for an image of another system, <nixpkgs> of the
// local expressions imports the pinned nixpkgs for the image's system,
// with its other files (<nixpkgs/lib>) still there; for an image of the
// builder's system it is the pinned nixpkgs itself.
func TestImageNixpkgs(t *testing.T) {
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Fatalf("nix-instantiate (Debian's nix-bin, make deps): %v", err)
	}
	src := writeTree(t, map[string][]byte{
		"default.nix":     []byte("{ system ? builtins.currentSystem, config ? {} }: { inherit system config; }\n"),
		"lib/default.nix": []byte("{ answer = 42; }\n"),
	})
	tests := []struct {
		name, system, build string
		want                string
	}{
		{"cross", "aarch64-linux", "x86_64-linux", `{ answer = 42; config = { a = 1; }; system = "aarch64-linux"; }`},
		{"native", "x86_64-linux", "x86_64-linux", `{ answer = 42; config = { a = 1; }; system = "x86_64-linux"; }`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &realiser{cfg: RealiseConfig{System: tc.system, BuildSystem: tc.build}, scratch: t.TempDir()}
			dir, err := r.imageNixpkgs(src)
			if err != nil {
				t.Fatal(err)
			}
			if !r.cross() && dir != src {
				t.Errorf("native: <nixpkgs> is %s, want the pin itself", dir)
			}
			home := t.TempDir()
			cmd := exec.Command(bin, "--eval", "--strict", "-E",
				`let p = import <nixpkgs> { config = { a = 1; }; }; in { inherit (p) system config; inherit (import <nixpkgs/lib>) answer; }`)
			cmd.Env = []string{"HOME=" + home, "NIX_REMOTE=dummy://", "NIX_STATE_DIR=" + home, "NIX_CONF_DIR=" + home, "NIX_PATH=nixpkgs=" + dir}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("nix-instantiate: %v: %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("<nixpkgs> evaluates to %s, want %s", got, tc.want)
			}
		})
	}
}

func TestForeignBuildHelp(t *testing.T) {
	subs := []string{"https://cache.example"}
	built := []string{"/nix/store/aaaa-hello-2.12.drv"}
	pkgs := []Package{{Attr: "hello", Where: "nix-image.yaml:5:4 (packages[0])"}}
	tests := []struct {
		name    string
		foreign bool
		want    []string
	}{
		{"substitution only", false, []string{
			"the image is for aarch64-linux, and the builder is x86_64-linux",
			"none of the substituters (https://cache.example) has these, needed by hello (nix-image.yaml:5:4 (packages[0])):\n  /nix/store/aaaa-hello-2.12.drv",
			"a substituter that has them", "docker buildx create --append --name BUILDER --platform linux/arm64", "NIX_IMAGE_FOREIGN_BUILDS=true",
		}},
		{"foreign builds allowed", true, []string{
			"building them through the host's emulation (NIX_IMAGE_FOREIGN_BUILDS) failed", "no binfmt_misc emulation of aarch64-linux",
			"/nix/store/aaaa-hello-2.12.drv",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &realiser{cfg: RealiseConfig{System: "aarch64-linux", BuildSystem: "x86_64-linux", Platform: "linux/arm64", ForeignBuilds: tc.foreign}}
			got := r.foreignBuildHelp(subs, built, pkgs)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("help lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestPrepareCrossRefusesFlakes: the packages of a flake are not built
// for another system than the builder's; the build says so before
// running anything.
func TestPrepareCrossRefusesFlakes(t *testing.T) {
	r := &realiser{cfg: RealiseConfig{System: "aarch64-linux", BuildSystem: "x86_64-linux",
		Flake: &Flake{Dir: "nix", Where: "nix-image.yaml:3:8 (flake)", Packages: []Package{{Attr: "mytool"}}}}}
	err := r.prepareCross(context.Background())
	want := "flake nix (nix-image.yaml:3:8 (flake)): the packages of a flake are not built for an image of another system than the builder's yet (the image is for aarch64-linux, the builder is x86_64-linux)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("prepareCross: %v, want %q", err, want)
	}
	native := &realiser{cfg: RealiseConfig{System: "x86_64-linux", BuildSystem: "x86_64-linux", Flake: r.cfg.Flake}}
	if err := native.prepareCross(context.Background()); err != nil {
		t.Errorf("prepareCross of a native build: %v", err)
	}
}
