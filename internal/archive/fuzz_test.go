package archive

import (
	"bytes"
	"io/fs"
	"path/filepath"
	"testing"
)

// FuzzExtract extracts arbitrary bytes next to a directory the archive
// must never touch: whatever the archive, Extract returns (an error or
// not), nothing outside the destination changes, and the destination holds
// only directories, regular files and symlinks. The seed corpus in
// testdata/fuzz/FuzzExtract holds legitimate and hostile archives, plain
// and compressed; relative symlinks and names aim at ../outside.
func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWorld(t)
		_ = Extract(bytes.NewReader(data), int64(len(data)), w.dst, "fuzz")
		w.check(t)
		filepath.WalkDir(w.dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.Type()&^(fs.ModeDir|fs.ModeSymlink) != 0 {
				t.Errorf("%s: extracted as %s", p, d.Type())
			}
			return nil
		})
	})
}
