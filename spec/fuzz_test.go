package spec

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that failures are always a
// non-empty ErrorList located in the source, and that a spec Parse
// accepts resolves for every target and stays valid when validated again.
// The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(validSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatal("Parse returned a spec and an error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "f.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error not located in the source: %#v", e)
				}
			}
			return
		}
		for _, target := range s.Targets() {
			if _, err := s.Resolve(target); err != nil {
				t.Fatalf("Resolve(%q): %v", target, err)
			}
		}
		if err := s.ApplyBuildArgs(nil); err != nil {
			t.Fatalf("a parsed spec does not validate again: %v", err)
		}
	})
}
