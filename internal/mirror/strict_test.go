package mirror

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestStrictCache(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"cache/nix-cache-info": "StoreDir: /nix/store\n", "cache/abc.narinfo": "StorePath: x\n", "cache/nar/abc.nar.xz": "nar"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &Mirror{Dir: dir, Vars: map[string]string{"CACHE_DIR": "cache"}}
	c, err := m.ServeStrictCache()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/nix-cache-info", http.StatusOK, "StoreDir: /nix/store\n"},
		{"/abc.narinfo", http.StatusOK, "StorePath: x\n"},
		{"/nar/abc.nar.xz", http.StatusOK, "nar"},
		{"/?priority=40/nix-cache-info", http.StatusNotFound, ""},
		{"/nix-cache-info?priority=40", http.StatusNotFound, ""},
		{"/nix-cache-info?", http.StatusNotFound, ""},
		{"/", http.StatusNotFound, ""},
		{"/nar", http.StatusNotFound, ""},
		{"/nar/", http.StatusNotFound, ""},
		{"//nix-cache-info", http.StatusNotFound, ""},
		{"/missing.narinfo", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(c.URL + tt.path)
		if err != nil {
			t.Errorf("GET %s: %v", tt.path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.status == http.StatusOK && string(body) != tt.body) {
			t.Errorf("GET %s: %s %q, want %d %q", tt.path, resp.Status, body, tt.status, tt.body)
		}
	}
	if got := c.Requests(); len(got) != len(tests) || !slices.Contains(got, "GET /nix-cache-info?priority=40") {
		t.Errorf("Requests() = %q", got)
	}
}
