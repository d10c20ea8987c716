package testenv

import "testing"

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/tmp/plain`, `/tmp/plain`},
		{`/tmp/with\040space`, `/tmp/with space`},
		{`/tmp/tab\011and\134backslash`, "/tmp/tab\tand\\backslash"},
		{`/tmp/trailing\04`, `/tmp/trailing\04`},
	}
	for _, tc := range tests {
		if got := unescapeMount(tc.in); got != tc.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
