package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// exprSpec installs mytool from nix/pkgs.nix of the build context, which
// reads nix/src.
const exprSpec = minimalSpec + `expressions:
  - file: nix/pkgs.nix
    attrs: [mytool]
    include: [nix/src]
`

// exprFiles is a build context with a local expression made with the
// offline set's stdenv: mytool prints a file of its source directory and
// whether the file .dockerignore leaves out reached the expression.
var exprFiles = map[string]string{
	"nix/pkgs.nix": `{ pkgs ? import <nixpkgs> {} }:
{
  mytool = pkgs.stdenv.mkDerivation {
    pname = "mytool";
    version = "1.0";
    src = ./src;
    ignored = if builtins.pathExists ./src/ignored.txt then "present" else "absent";
    buildCommand = ''
      mkdir -p $out/bin
      printf '#!%s\necho "mytool: %s (ignored file %s)"\n' ${pkgs.bash}/bin/bash "$(cat $src/message)" "$ignored" > $out/bin/mytool
      chmod +x $out/bin/mytool
    '';
  };
}
`,
	"nix/src/message":     "hello from the context",
	"nix/src/ignored.txt": "secret",
	".dockerignore":       "nix/src/ignored.txt\n",
	"README.md":           "unrelated\n",
}

// TestLocalExpression builds an image with a package of a local Nix
// expression and runs it; an unrelated change of the context rebuilds
// nothing, a change of a file the expression reads rebuilds it, and an
// attribute the file lacks fails naming the file and the spec line.
func TestLocalExpression(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, exprSpec, exprFiles)

	build := func(t *testing.T) (*testenv.BuildResult, string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "image.oci.tar")
		res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
		rootfs, cfg := unpackImage(t, out)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c", "mytool && readlink -f $(command -v mytool)"}})
		if err != nil {
			t.Fatalf("mytool: %v\n%s\n%s", err, stdout, stderr)
		}
		return res, stdout
	}
	write := func(t *testing.T, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("runs its package", func(t *testing.T) {
		_, out := build(t)
		if !strings.Contains(out, "mytool: hello from the context (ignored file absent)\n/nix/store/") {
			t.Errorf("mytool printed:\n%s", out)
		}
	})
	t.Run("unrelated change rebuilds nothing", func(t *testing.T) {
		write(t, "README.md", "changed\n")
		write(t, "nix/src/ignored.txt", "changed secret")
		res, _ := build(t)
		for _, v := range res.Progress.ExecutedSteps("[nix-image]") {
			t.Errorf("rebuild after an unrelated change executed %q", v.Name)
		}
	})
	t.Run("a change the expression reads rebuilds", func(t *testing.T) {
		write(t, "nix/src/message", "changed message")
		res, out := build(t)
		if len(res.Progress.ExecutedSteps("[nix-image] realise")) == 0 {
			t.Errorf("the realise step did not run again after nix/src/message changed")
		}
		if !strings.Contains(out, "mytool: changed message") {
			t.Errorf("mytool printed:\n%s", out)
		}
	})
	t.Run("missing attribute", func(t *testing.T) {
		bad := e.SpecContext(t, strings.Replace(exprSpec, "attrs: [mytool]", "attrs: [othertool]", 1), exprFiles)
		res, err := e.BuildSpec(ctx, bad, m.BuildctlOpts()...)
		if err == nil {
			t.Fatal("build with an attribute the expression lacks succeeded")
		}
		all := res.Stderr + res.Progress.Output("")
		for _, want := range []string{"local expression nix/pkgs.nix (nix-image.yaml:9:11 (expressions[0].file))", "othertool"} {
			if !strings.Contains(all, want) {
				t.Errorf("error lacks %q:\n%s", want, lastLines(all, 30))
			}
		}
	})
}
