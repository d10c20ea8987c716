package spec

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Every example spec must parse and resolve for every target.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*/nix-image.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d examples, want at least 2", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("# syntax=")) {
				t.Errorf("%s does not start with a # syntax= line", f)
			}
			s, err := Parse(f, data)
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			for _, target := range s.Targets() {
				if _, err := s.Resolve(target); err != nil {
					t.Errorf("Resolve(%q): %v", target, err)
				}
			}
		})
	}
}
