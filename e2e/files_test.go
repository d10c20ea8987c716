package e2e

import (
	"os"
	"testing"
)

func writeFile(p, data string) error { return os.WriteFile(p, []byte(data), 0o644) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
