package spec

import (
	"regexp"
	"strconv"
)

// Field paths name a value in the spec the way a user would: fields joined
// by dots, list elements as [i], map keys as .key when the key is a plain
// word and as ["key"] otherwise (label keys often contain dots).

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func joinKey(parent, key string) string {
	if !plainKey.MatchString(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	return joinField(parent, key)
}

func joinIndex(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentPath drops the last segment of p ("a.b[2]" -> "a.b", "a" -> "").
// It scans forward so that quoted keys containing dots or brackets are
// kept whole.
func parentPath(p string) string {
	last := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '.':
			last = i
		case '[':
			last = i
			if i+1 < len(p) && p[i+1] == '"' {
				// Skip the quoted key, honouring backslash escapes.
				for i += 2; i < len(p) && p[i] != '"'; i++ {
					if p[i] == '\\' {
						i++
					}
				}
			}
		}
	}
	return p[:last]
}
