package nixstep

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// validPathsSchema is the ValidPaths table of Nix's DB (schema 10).
const validPathsSchema = `CREATE TABLE ValidPaths (id integer primary key autoincrement not null, path text unique not null,
  hash text not null, registrationTime integer not null, deriver text, narSize integer, ultimate integer, sigs text, ca text)`

func openTestDB(t *testing.T, p string, rows ...[]any) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(validPathsSchema); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := db.Exec("INSERT INTO ValidPaths (path, hash, registrationTime, ultimate, sigs, ca) VALUES (?, 'sha256:x', 1, ?, ?, ?)", r...); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestCopyTrust: signatures, content addresses and the ultimate flag go
// from the realising DB into the image's, whose registration (from a
// dump) has none of them.
func TestCopyTrust(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.sqlite")
	openTestDB(t, src,
		[]any{"/nix/store/a-hello", 0, "cache-1:sig", nil},
		[]any{"/nix/store/b-env", 1, nil, nil},
		[]any{"/nix/store/c-src", 1, nil, "fixed:r:sha256:abc"},
		[]any{"/nix/store/d-other", 0, "cache-1:other", nil},
	).Close()
	dst := openTestDB(t, filepath.Join(dir, "dst.sqlite"),
		[]any{"/nix/store/a-hello", 0, nil, nil},
		[]any{"/nix/store/b-env", 0, nil, nil},
		[]any{"/nix/store/c-src", 0, nil, nil},
	)
	infos := []PathInfo{{Path: "/nix/store/a-hello"}, {Path: "/nix/store/b-env"}, {Path: "/nix/store/c-src"}}
	if err := copyTrust(context.Background(), src, dst, infos); err != nil {
		t.Fatal(err)
	}
	rows, err := dst.Query("SELECT path, ultimate, coalesce(sigs, ''), coalesce(ca, '') FROM ValidPaths ORDER BY path")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var p, sigs, ca string
		var ultimate int
		if err := rows.Scan(&p, &ultimate, &sigs, &ca); err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(p)+" "+map[int]string{0: "-", 1: "ultimate"}[ultimate]+" "+sigs+" "+ca)
	}
	want := []string{"a-hello - cache-1:sig ", "b-env ultimate  ", "c-src ultimate  fixed:r:sha256:abc"}
	if !slices.Equal(got, want) {
		t.Errorf("image DB rows = %q, want %q", got, want)
	}
	// A path the realising DB does not know is an error, not a silent gap.
	if err := copyTrust(context.Background(), src, dst, []PathInfo{{Path: "/nix/store/z-missing"}}); err == nil {
		t.Error("copyTrust of an unknown path succeeded")
	}
}

func TestReleaseTops(t *testing.T) {
	dir := t.TempDir()
	reg := "/nix/store/a-glibc\nsha256:1\n1\n\n1\n/nix/store/a-glibc\n" +
		"/nix/store/b-nix\nsha256:2\n1\n\n2\n/nix/store/a-glibc\n/nix/store/b-nix\n" +
		"/nix/store/c-cacert\nsha256:3\n1\n\n0\n"
	if err := os.WriteFile(filepath.Join(dir, ".reginfo"), []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &realiser{rel: release{dir: dir}}
	tops, err := r.releaseTops()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/nix/store/b-nix", "/nix/store/c-cacert"}; !slices.Equal(tops, want) {
		t.Errorf("tops = %q, want %q", tops, want)
	}
}
