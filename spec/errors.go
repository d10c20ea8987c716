package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a 1-based line and column in the spec source. The zero Pos means
// "not from the source" (for example a build arg).
type Pos struct{ Line, Col int }

// IsValid reports whether p points into the source.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Error is one problem found in a spec, located by source position and by
// field path (e.g. "images.ssh.authorizedKeys[1]" or "build-arg:NIX_URL").
type Error struct {
	File string
	Pos  Pos
	Path string
	Msg  string
}

// Error formats e as "FILE:LINE:COL: PATH: MSG", leaving out the parts that
// are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	loc := e.File
	if e.Pos.IsValid() {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Pos.Line, e.Pos.Col)
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a spec, sorted by position: the
// error Parse and ApplyBuildArgs return, as a value, never a pointer.
type ErrorList []*Error

// Error joins the errors with newlines.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// sort orders the list by position, then path and message, so that output
// is stable whatever order the checks ran in.
func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
}
