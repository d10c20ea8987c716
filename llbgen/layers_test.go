package llbgen

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/nix-image/nix-image/nixstep"
)

// chain builds a closure where each path refers to the next: p0 -> p1 ->
// ... -> pN-1, so pN-1 is the most popular.
func chain(n int) *nixstep.Closure {
	c := &nixstep.Closure{}
	for i := 0; i < n; i++ {
		info := nixstep.PathInfo{Path: fmt.Sprintf("/nix/store/%03d-p", i)}
		if i+1 < n {
			info.References = []string{fmt.Sprintf("/nix/store/%03d-p", i+1)}
		}
		c.Paths = append(c.Paths, info)
	}
	return c
}

func TestPlanLayers(t *testing.T) {
	tests := []struct {
		name    string
		closure *nixstep.Closure
		budget  int
		want    [][]string
	}{
		{
			name:    "one layer per path, most popular first",
			closure: chain(3),
			budget:  100,
			want:    [][]string{{"/nix/store/002-p"}, {"/nix/store/001-p"}, {"/nix/store/000-p"}},
		},
		{
			name:    "over budget: the least popular share the last store layer",
			closure: chain(5),
			budget:  5, // 2 for /etc and the system tree, 3 for the store
			want:    [][]string{{"/nix/store/004-p"}, {"/nix/store/003-p"}, {"/nix/store/000-p", "/nix/store/001-p", "/nix/store/002-p"}},
		},
		{
			name:    "exactly at budget",
			closure: chain(3),
			budget:  5,
			want:    [][]string{{"/nix/store/002-p"}, {"/nix/store/001-p"}, {"/nix/store/000-p"}},
		},
		{
			name:    "tiny budget: one store layer",
			closure: chain(4),
			budget:  1,
			want:    [][]string{{"/nix/store/000-p", "/nix/store/001-p", "/nix/store/002-p", "/nix/store/003-p"}},
		},
		{
			name: "shared library before the programs, ties by path",
			closure: &nixstep.Closure{Paths: []nixstep.PathInfo{
				{Path: "/nix/store/b-jq", References: []string{"/nix/store/z-glibc", "/nix/store/b-jq"}},
				{Path: "/nix/store/a-curl", References: []string{"/nix/store/z-glibc"}},
				{Path: "/nix/store/z-glibc", References: []string{"/nix/store/z-glibc"}},
			}},
			budget: 100,
			want:   [][]string{{"/nix/store/z-glibc"}, {"/nix/store/a-curl"}, {"/nix/store/b-jq"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := planLayers(tc.closure, tc.budget); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("planLayers = %v\nwant %v", got, tc.want)
			}
		})
	}
}
