package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend "+r.Host+" "+r.URL.RequestURI())
	}))
	defer backend.Close()
	p, err := StartProxy(map[string]string{"cache.example.test": strings.TrimPrefix(backend.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pu, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	tests := []struct {
		url    string
		status int
		body   string
	}{
		{"http://cache.example.test/nix-cache-info", http.StatusOK, "backend cache.example.test /nix-cache-info"},
		{"http://cache.example.test:80/x.narinfo", http.StatusOK, "backend cache.example.test:80 /x.narinfo"},
		{"http://other.example.test/nix-cache-info", http.StatusBadGateway, "proxy: unknown host other.example.test"},
	}
	for _, tt := range tests {
		resp, err := client.Get(tt.url)
		if err != nil {
			t.Errorf("GET %s through the proxy: %v", tt.url, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || strings.TrimSpace(string(body)) != tt.body {
			t.Errorf("GET %s through the proxy: %s %q, want %d %q", tt.url, resp.Status, body, tt.status, tt.body)
		}
	}
	// Not a proxy request: a plain GET of the proxy itself.
	if resp, err := http.Get(p.URL + "/nix-cache-info"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET of the proxy itself: %v, %v; want 400", resp, err)
	}
	want := []string{"GET http://cache.example.test/nix-cache-info", "GET http://cache.example.test:80/x.narinfo", "GET http://other.example.test/nix-cache-info", "GET /nix-cache-info"}
	if got := p.Requests(); !slices.Equal(got, want) {
		t.Errorf("Requests() = %q, want %q", got, want)
	}
}
