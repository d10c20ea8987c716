package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Helper()               {}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.golden")
	if err := os.WriteFile(p, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, got string
		update, fail    bool
	}{
		{name: "same", path: p, got: "a\n"},
		{name: "differs", path: p, got: "a", fail: true},
		{name: "missing", path: filepath.Join(dir, "none.golden"), got: "a\n", fail: true},
		{name: "update writes", path: filepath.Join(dir, "new", "y.golden"), got: "b\n", update: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			*update = tc.update
			defer func() { *update = false }()
			r := &recorder{TB: t}
			Check(r, tc.path, []byte(tc.got))
			if r.failed != tc.fail {
				t.Errorf("failed = %v, want %v", r.failed, tc.fail)
			}
			if tc.update {
				if data, err := os.ReadFile(tc.path); err != nil || string(data) != tc.got {
					t.Errorf("after -update the file holds %q, %v", data, err)
				}
			}
		})
	}
}
