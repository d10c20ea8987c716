package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// flakeSpec installs two outputs of the flake in app/ of the build
// context: one of packages.<system>, one only in legacyPackages.<system>.
const flakeSpec = minimalSpec + `    packages: [".#mytool", ".#legacytool"]
flake: app
`

// flakeNix is a flake whose nixpkgs input is the offline package set,
// served by the mirror as a tarball (%s: its URL).
const flakeNix = `{
  inputs.nixpkgs = { url = "%s"; flake = false; };
  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs { inherit system; config = { }; };
      tool = name: pkgs.stdenv.mkDerivation {
        pname = name;
        version = "1.0";
        buildCommand = ''
          mkdir -p $out/bin
          printf '#!%%s\necho "%%s from the flake"\n' ${pkgs.bash}/bin/bash ${name} > $out/bin/${name}
          chmod +x $out/bin/${name}
        '';
      };
    in {
      packages.${system}.mytool = tool "mytool";
      legacyPackages.${system}.legacytool = tool "legacytool";
    };
}
`

// flakeLock locks the input at url to the offline set's NAR hash.
func flakeLock(url, narHash string) string {
	return fmt.Sprintf(`{
  "nodes": {
    "nixpkgs": {
      "flake": false,
      "locked": {
        "narHash": %q,
        "type": "tarball",
        "url": %q
      },
      "original": {
        "type": "tarball",
        "url": %q
      }
    },
    "root": {
      "inputs": {
        "nixpkgs": "nixpkgs"
      }
    }
  },
  "root": "root",
  "version": 7
}
`, narHash, url, url)
}

// TestFlake builds an image with outputs of a flake of the build context
// and runs them; an unrelated change rebuilds nothing; a stale or missing
// flake.lock fails naming the file.
func TestFlake(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	url := m.URL + "/" + m.Vars["NIXPKGS_TARBALL"]
	files := map[string]string{
		"app/flake.nix":  fmt.Sprintf(flakeNix, url),
		"app/flake.lock": flakeLock(url, m.Vars["NIXPKGS_NAR_HASH"]),
		"README.md":      "unrelated\n",
	}
	dir := e.SpecContext(t, flakeSpec, files)
	build := func(t *testing.T, dir string) (*testenv.BuildResult, string, error) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "image.oci.tar")
		res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
		if err != nil {
			return res, "", err
		}
		rootfs, cfg := unpackImage(t, out)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c", "mytool && legacytool"}})
		if err != nil {
			t.Fatalf("running the flake's tools: %v\n%s\n%s", err, stdout, stderr)
		}
		return res, stdout, nil
	}

	t.Run("runs its packages", func(t *testing.T) {
		res, out, err := build(t, dir)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, lastLines(res.Stderr+res.Progress.Output(""), 40))
		}
		if out != "mytool from the flake\nlegacytool from the flake\n" {
			t.Errorf("the tools printed:\n%s", out)
		}
	})
	t.Run("the context itself is the flake (flake: .)", func(t *testing.T) {
		root := e.SpecContext(t, strings.Replace(flakeSpec, "flake: app\n", "flake: .\n", 1), map[string]string{
			"flake.nix":  files["app/flake.nix"],
			"flake.lock": files["app/flake.lock"],
		})
		res, out, err := build(t, root)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, lastLines(res.Stderr+res.Progress.Output(""), 40))
		}
		if out != "mytool from the flake\nlegacytool from the flake\n" {
			t.Errorf("the tools printed:\n%s", out)
		}
	})
	t.Run("unrelated change rebuilds nothing", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		res, _, err := build(t, dir)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
		for _, v := range res.Progress.ExecutedSteps("[nix-image]") {
			t.Errorf("rebuild after an unrelated change executed %q", v.Name)
		}
	})
	bad := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"stale lock", map[string]string{"app/flake.nix": fmt.Sprintf(flakeNix, url+"?v=2"), "app/flake.lock": files["app/flake.lock"]},
			"flake app (nix-image.yaml:9:8 (flake)): app/flake.lock is stale"},
		{"missing lock", map[string]string{"app/flake.nix": files["app/flake.nix"]},
			"flake app (nix-image.yaml:9:8 (flake)): app/flake.lock is missing"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.BuildSpec(ctx, e.SpecContext(t, flakeSpec, tc.files), m.BuildctlOpts()...)
			if err == nil {
				t.Fatalf("build succeeded:\n%s", lastLines(res.Progress.Output("realise"), 40))
			}
			if all := res.Stderr + res.Progress.Output(""); !strings.Contains(all, tc.want) {
				t.Errorf("error lacks %q:\n%s", tc.want, lastLines(all, 30))
			}
		})
	}
}
