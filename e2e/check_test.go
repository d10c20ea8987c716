package e2e

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// checkWarnings is valid but risky: its `# syntax=` line (written by
// SpecContext, line 1) names the frontend by tag, nixpkgs names a
// branch (line 3), a substituter is plain HTTP with no key of its own
// (line 6), and netrc-file does nothing at build time (line 8).
const checkWarnings = `nixpkgs:
  url: https://github.com/NixOS/nixpkgs/archive/nixos-24.05.tar.gz
  sha256: 0f3e2d6f2b3cbd0ac8ff27ab27e33c0e7fbe1c3e3a0d0fd7d69e3c4f08c63b4d
substituters:
  - http://cache.example.com
nixConfig:
  netrc-file: /etc/nix/netrc
`

// checkError has a bad hash on line 4 and a misspelt field on line 5.
const checkError = `nixpkgs:
  url: https://github.com/NixOS/nixpkgs/archive/5e2a59a5b1a82f89f2c7e598302a9cacebb72a67.tar.gz
  sha256: not-a-hash
layer: 10
`

// TestBuildxCheck runs `docker buildx build --call check` as a user (or
// CI) does on a spec with warnings and on one with errors: buildx prints
// each finding with its rule, the file and the YAML lines, and exits
// like the Dockerfile frontend's check: 1 with findings (0 with
// ignorestatus when there are only warnings), 1 with errors in any case.
func TestBuildxCheck(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tests := []struct {
		name string
		spec string
		// cmd is the README command to run: 0 --call check, 1 with
		// ignorestatus.
		cmd  int
		code int
		want []string
		// not must not appear.
		not []string
	}{
		{
			name: "warnings",
			spec: checkWarnings,
			cmd:  0,
			code: 1,
			want: []string{
				`(?m)^WARNING: FrontendNotPinned - \S+\n.*not pinned by digest.*\nnix-image\.yaml:1\n`,
				`(?m)^WARNING: NixpkgsNotPinnedToCommit - \S+\nnixpkgs\.url: .*names the branch "nixos-24\.05".*\nnix-image\.yaml:3\n`,
				`(?m)^ +3 \| >>> +url: https://github\.com/NixOS/nixpkgs/archive/nixos-24\.05\.tar\.gz$`,
				`(?m)^WARNING: InsecureSubstituter - \S+\nsubstituters\[0\]: .*\nnix-image\.yaml:6\n`,
				`(?m)^WARNING: SettingIgnoredAtBuild - \S+\nnixConfig\.netrc-file: .*\nnix-image\.yaml:8\n`,
				`Check complete, 4 warnings have been found!`,
			},
		},
		{
			name: "warnings with ignorestatus",
			spec: checkWarnings,
			cmd:  1,
			code: 0,
			want: []string{`Check complete, 4 warnings have been found!`},
		},
		{
			name: "errors",
			spec: checkError,
			cmd:  1,
			code: 1,
			want: []string{
				`nix-image\.yaml:4:11: nixpkgs\.sha256: invalid sha256 "not-a-hash"`,
				`nix-image\.yaml:5:1: layer: unknown field "layer" \(did you mean "layers"\?\)`,
				`(?m)^ +4 \| >>> +sha256: not-a-hash$`,
				`(?m)^ +5 \| >>> layer: 10$`,
			},
			not: []string{"WARNING:"},
		},
	}
	cmds := readmeCommands(t, "Checking a spec", "")
	if len(cmds) != 2 || !slices.Contains(cmds[0], "check") || !slices.Contains(cmds[1], "check,ignorestatus=true") {
		t.Fatalf("README: want --call check and --call check,ignorestatus=true, got %q", cmds)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := e.SpecContext(t, tc.spec, nil)
			call := cmds[tc.cmd]
			stdout, stderr, err := e.Buildx(ctx, dir, call...)
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("docker buildx %s: %v\n%s", strings.Join(call, " "), err, stderr)
			}
			out := stdout + stderr
			t.Logf("docker buildx %s (exit code %d):\n%s", strings.Join(call, " "), code, out)
			if code != tc.code {
				t.Errorf("exit code %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output has no match for %s:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
}
