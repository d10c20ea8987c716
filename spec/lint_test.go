package spec

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const lintPin = "nixpkgs:\n  url: https://github.com/NixOS/nixpkgs/archive/5e2a59a5b1a82f89f2c7e598302a9cacebb72a67.tar.gz\n  sha256: 0f3e2d6f2b3cbd0ac8ff27ab27e33c0e7fbe1c3e3a0d0fd7d69e3c4f08c63b4d\n"

func TestLintRules(t *testing.T) {
	const pinned = "# syntax=ghcr.io/nix-image/frontend:v1@sha256:0f3e2d6f2b3cbd0ac8ff27ab27e33c0e7fbe1c3e3a0d0fd7d69e3c4f08c63b4d\n"
	nixpkgs := func(u string) string {
		return pinned + "nixpkgs:\n  url: " + u + "\n  sha256: 0f3e2d6f2b3cbd0ac8ff27ab27e33c0e7fbe1c3e3a0d0fd7d69e3c4f08c63b4d\n"
	}
	const key = "mirror-1:LMt+Lp/m9FqR4nh6Ktyy+/yBCruIRiuNZe7irzSjAmE="
	tests := []struct {
		name string
		src  string
		// want are "RULE LINE PATH" of every warning, in order.
		want []string
	}{
		{"clean", pinned + lintPin, nil},
		{"syntax by tag", "# syntax=ghcr.io/nix-image/frontend:v1\n" + lintPin, []string{"FrontendNotPinned 1 "}},
		{"syntax after other comments", "# A comment\n#\n#syntax = example.com/f\n" + lintPin, []string{"FrontendNotPinned 3 "}},
		{"syntax after YAML is no directive", lintPin + "# syntax=example.com/f\n", nil},
		{"no syntax line", lintPin, nil},
		{"branch archive", nixpkgs("https://github.com/NixOS/nixpkgs/archive/nixos-24.05.tar.gz"), []string{"NixpkgsNotPinnedToCommit 3 nixpkgs.url"}},
		{"refs/heads archive", nixpkgs("https://github.com/NixOS/nixpkgs/archive/refs/heads/master.tar.gz"), []string{"NixpkgsNotPinnedToCommit 3 nixpkgs.url"}},
		{"tag archive", nixpkgs("https://github.com/NixOS/nixpkgs/archive/refs/tags/24.05.tar.gz"), []string{"NixpkgsNotPinnedToCommit 3 nixpkgs.url"}},
		{"gitlab branch", nixpkgs("https://gitlab.example.com/nix/nixpkgs/-/archive/main/nixpkgs-main.tar.gz"), []string{"NixpkgsNotPinnedToCommit 3 nixpkgs.url"}},
		{"channel", nixpkgs("https://channels.nixos.org/nixos-24.05/nixexprs.tar.xz"), []string{"NixpkgsNotPinnedToCommit 3 nixpkgs.url"}},
		{"commit archive", nixpkgs("https://github.com/NixOS/nixpkgs/archive/5e2a59a5b1a82f89f2c7e598302a9cacebb72a67.tar.gz"), nil},
		{"own mirror", nixpkgs("http://127.0.0.1:8080/nixpkgs.tar.gz"), nil},
		{"http substituter, default key", pinned + lintPin + "substituters: [http://cache.example.com]\n",
			[]string{"InsecureSubstituter 5 substituters[0]"}},
		{"http substituter with its key", pinned + lintPin + "substituters: [http://cache.example.com]\ntrustedPublicKeys: [\"" + key + "\"]\n", nil},
		{"https substituter, default key", pinned + lintPin + "substituters: [https://cache.example.com]\n", nil},
		{"http substituter, signatures off", pinned + lintPin + "substituters:\n  - https://cache.nixos.org\n  - http://cache.example.com\ntrustedPublicKeys: [\"" + key + "\"]\nimages:\n  default:\n    nixConfig:\n      require-sigs: \"false\"\n",
			[]string{"InsecureSubstituter 7 substituters[1]", "SettingIgnoredAtBuild 12 images.default.nixConfig.require-sigs"}},
		{"ignored settings", pinned + lintPin + "nixConfig:\n  extra-substituters: https://a.example.com\n  max-jobs: auto\n  netrc-file: /etc/nix/netrc\n  trusted-substituters: https://b.example.com\n",
			[]string{"SettingIgnoredAtBuild 8 nixConfig.netrc-file", "SettingIgnoredAtBuild 9 nixConfig.trusted-substituters"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("nix-image.yaml", []byte(tc.src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var got []string
			for _, w := range s.Lint([]byte(tc.src)) {
				got = append(got, fmt.Sprintf("%s %d %s", w.Rule.Name, w.Pos.Line, w.Path))
				if w.Msg == "" || w.Rule.Description == "" {
					t.Errorf("%s: empty message or description", w.Rule.Name)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestLintRulesNamed keeps rule names unique: users filter on them.
func TestLintRulesNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range LintRules {
		if r.Name == "" || seen[r.Name] || r.check == nil {
			t.Errorf("rule %q: empty, duplicate or without a check", r.Name)
		}
		seen[r.Name] = true
	}
}

// TestLintBuildArgOverride: a value set by a build arg has no line.
func TestLintBuildArgOverride(t *testing.T) {
	src := "# syntax=x@sha256:0f3e2d6f2b3cbd0ac8ff27ab27e33c0e7fbe1c3e3a0d0fd7d69e3c4f08c63b4d\n" + lintPin
	s, err := Parse("nix-image.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyBuildArgs(map[string]string{"NIXPKGS_URL": "https://github.com/NixOS/nixpkgs/archive/master.tar.gz", "NIXPKGS_SHA256": "0f3e2d6f2b3cbd0ac8ff27ab27e33c0e7fbe1c3e3a0d0fd7d69e3c4f08c63b4d"}); err != nil {
		t.Fatal(err)
	}
	ws := s.Lint([]byte(src))
	if len(ws) != 1 || ws[0].Rule.Name != "NixpkgsNotPinnedToCommit" || ws[0].Pos.IsValid() {
		t.Errorf("got %+v, want one NixpkgsNotPinnedToCommit without position", ws)
	}
}

// TestLintRulesDocumented: spec/README.md lists every rule with its
// description, and every setting SettingIgnoredAtBuild knows.
func TestLintRulesDocumented(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(data), "\n## Lint rules\n")
	if !ok {
		t.Fatal("spec/README.md has no Lint rules section")
	}
	doc, _, _ = strings.Cut(doc, "\n## ")
	for _, r := range LintRules {
		if !strings.Contains(doc, "| `"+r.Name+"` | "+r.Description+":") {
			t.Errorf("spec/README.md: no row | `%s` | %s: ...", r.Name, r.Description)
		}
	}
	for k := range IgnoredAtBuild {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("spec/README.md: SettingIgnoredAtBuild does not list %s", k)
		}
	}
}
