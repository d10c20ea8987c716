package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validSpec = `nixpkgs:
  url: https://github.com/NixOS/nixpkgs/archive/0000000000000000000000000000000000000000.tar.gz
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
`

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", validSpec)
	// The unknown key is on line 7.
	bad := write("bad.yaml", "# syntax=example.com/frontend\n"+validSpec+"packages:\n  - hello\nextraPackages: [jq]\n")
	twoBad := write("two.yaml", "nix: latest\n"+validSpec+"layers: 500\n")
	examples, err := filepath.Glob("../../../examples/*/nix-image.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantLines  []string // each a prefix of one output line, in order
	}{
		{"valid", []string{good}, 0, nil},
		{"examples", examples, 0, nil},
		{"unknown key", []string{bad}, 1, []string{bad + ":7:1: extraPackages: unknown field \"extraPackages\""}},
		{"every problem", []string{twoBad}, 1, []string{twoBad + ":1:6: nix.version:", twoBad + ":5:9: layers:"}},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, 1, []string{filepath.Join(dir, "nope.yaml") + ": "}},
		{"mixed", []string{good, bad}, 1, []string{bad + ":7:1:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(append([]string{"validate"}, tc.args...), &stdout, &stderr)
			if status != tc.wantStatus {
				t.Errorf("status = %d, want %d (stderr %q)", status, tc.wantStatus, stderr.String())
			}
			out := strings.TrimSuffix(stdout.String(), "\n")
			if len(tc.wantLines) == 0 {
				if out != "" {
					t.Errorf("output = %q, want none", out)
				}
				return
			}
			lines := strings.Split(out, "\n")
			if len(lines) != len(tc.wantLines) {
				t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(tc.wantLines), out)
			}
			for i, want := range tc.wantLines {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if status := run([]string{"frobnicate"}, &stdout, &stderr); status != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("unknown command: status %d, stderr %q", status, stderr.String())
	}
	if status := run([]string{"validate"}, &stdout, &stderr); status != 2 {
		t.Errorf("validate without files: status %d", status)
	}
}
