// Package golden compares test output with golden files: the exact text
// users see, kept next to the test's inputs, rewritten with -update.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files with what the tests got")

// Check fails t unless got is the content of the file path; with -update
// it first writes got there.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (go test -run '%s' -update writes it): %v", t.Name(), err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -run '%s' -update rewrites it):\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// Files runs fn as a subtest on each file matching pattern (a glob such
// as "testdata/lint/*.yaml"), named for the file without its extension,
// and checks what it returns against the file of the same name ending in
// .golden. It fails t when nothing matches, and when a golden file has no
// input (left over from a removed case).
func Files(t *testing.T, pattern string, fn func(t *testing.T, data []byte) []byte) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files %s: %v", pattern, err)
	}
	ext := filepath.Ext(pattern)
	goldens, _ := filepath.Glob(filepath.Join(filepath.Dir(pattern), "*.golden"))
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ext); err != nil {
			t.Errorf("%s has no input: %v", g, err)
		}
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ext), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			Check(t, strings.TrimSuffix(f, ext)+".golden", fn(t, data))
		})
	}
}
