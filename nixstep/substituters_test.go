package nixstep

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestCacheInfoURL(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for a store that is not checked
	}{
		{"https://cache.nixos.org", "https://cache.nixos.org/nix-cache-info"},
		{"https://cache.nixos.org/", "https://cache.nixos.org/nix-cache-info"},
		{"https://c.example?priority=40", "https://c.example/nix-cache-info"},
		{"https://c.example/?priority=40&trusted=1", "https://c.example/nix-cache-info"},
		{"http://127.0.0.1:5000/cache//?priority=40", "http://127.0.0.1:5000/cache/nix-cache-info"},
		{"http://mirror/a%2Fb/cache", "http://mirror/a%2Fb/cache/nix-cache-info"},
		{"https://user:pw@c.example/x", "https://user:pw@c.example/x/nix-cache-info"},
		{"http://c.example/x#frag", "http://c.example/x/nix-cache-info"},
		{"s3://bucket?region=eu-west-1", ""},
		{"file:///cache", ""},
		{"ssh-ng://builder", ""},
		{"daemon", ""},
	}
	for _, tt := range tests {
		u, ok, err := cacheInfoURL(tt.in)
		if err != nil {
			t.Errorf("cacheInfoURL(%q): %v", tt.in, err)
			continue
		}
		got := ""
		if ok {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("cacheInfoURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, _, err := cacheInfoURL("http://[::1"); err == nil {
		t.Error("cacheInfoURL of a malformed URL: want an error")
	}
}

func TestProxyEnv(t *testing.T) {
	env := []string{"PATH=/bin", "HTTP_PROXY=http://p:3128", "http_proxy=http://p:3128", "https_proxy=http://q:3128",
		"NO_PROXY=.internal", "All_Proxy=socks5://s:1080", "FTP_PROXY=http://f", "HTTP_PROXY_EXTRA=x", "MY_http_proxy=y"}
	want := []string{"HTTP_PROXY=http://p:3128", "http_proxy=http://p:3128", "https_proxy=http://q:3128",
		"NO_PROXY=.internal", "All_Proxy=socks5://s:1080", "FTP_PROXY=http://f"}
	if got := proxyEnv(env); !reflect.DeepEqual(got, want) {
		t.Errorf("proxyEnv = %q, want %q", got, want)
	}
}

// strictCache answers only the exact path of nix-cache-info, with no query,
// as a binary cache behind a strict server or CDN does.
func strictCache(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cache/nix-cache-info" || r.URL.RawQuery != "" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("StoreDir: /nix/store\n"))
	}))
	t.Cleanup(s.Close)
	return s
}

// forwardProxy is an HTTP forward proxy that knows one host name, which
// nothing else resolves, and logs the URLs it was asked for.
type forwardProxy struct {
	name, addr string
	mu         sync.Mutex
	log        []string
}

func (p *forwardProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.log = append(p.log, r.URL.String())
	p.mu.Unlock()
	if r.URL.Hostname() != p.name {
		http.Error(w, "unknown host", http.StatusBadGateway)
		return
	}
	u := *r.URL
	u.Host = p.addr
	resp, err := http.Get(u.String())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func TestCheckSubstituters(t *testing.T) {
	cache := strictCache(t)
	cacheAddr := strings.TrimPrefix(cache.URL, "http://")
	p := &forwardProxy{name: "cache.nix-image.test", addr: cacheAddr}
	proxy := httptest.NewServer(p)
	t.Cleanup(proxy.Close)
	unproxied := []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

	tests := []struct {
		name string
		env  map[string]string
		subs []string
		// want is a substring of the error, "" for success.
		want string
	}{
		{name: "query kept out of the check", subs: []string{cache.URL + "/cache?priority=40", cache.URL + "/cache/"}},
		{name: "wrong path", subs: []string{cache.URL + "/other?priority=40"},
			want: "substituter " + cache.URL + "/other?priority=40 (nix-image.yaml:3:3 (substituters)) is not a binary cache: GET " + cache.URL + "/other/nix-cache-info answered 404 Not Found"},
		{name: "name only the proxy resolves, no proxy", subs: []string{"http://cache.nix-image.test/cache?priority=40"},
			want: "substituter http://cache.nix-image.test/cache?priority=40 (nix-image.yaml:3:3 (substituters)) is unreachable: "},
		{name: "through HTTP_PROXY", env: map[string]string{"HTTP_PROXY": proxy.URL}, subs: []string{"http://cache.nix-image.test/cache?priority=40"}},
		{name: "through all_proxy", env: map[string]string{"all_proxy": proxy.URL}, subs: []string{"http://cache.nix-image.test/cache"}},
		{name: "NO_PROXY bypasses the proxy", env: map[string]string{"http_proxy": proxy.URL, "no_proxy": ".nix-image.test"}, subs: []string{"http://cache.nix-image.test/cache"},
			want: "is unreachable: "},
		{name: "proxy named in the error", env: map[string]string{"HTTP_PROXY": "http://user:secret@" + strings.TrimPrefix(proxy.URL, "http://")}, subs: []string{"http://other.nix-image.test/cache"},
			want: "answered 502 Bad Gateway through the proxy http://user:xxxxx@" + strings.TrimPrefix(proxy.URL, "http://")},
		{name: "other stores not checked", subs: []string{"s3://bucket?region=x", "file:///nowhere"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range unproxied {
				t.Setenv(k, tt.env[k])
			}
			r := &realiser{cfg: RealiseConfig{Substituters: tt.subs, SubstitutersWhere: "nix-image.yaml:3:3 (substituters)"}}
			err := r.checkSubstituters(context.Background())
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkSubstituters: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkSubstituters = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(tt.name, "no proxy") && len(p.requests()) > 0 {
				t.Errorf("the proxy was asked for %q", p.requests())
			}
		})
	}
	for _, l := range p.requests() {
		if u, _ := url.Parse(l); u == nil || u.RawQuery != "" {
			t.Errorf("the proxy was asked for %q, with a query", l)
		}
	}
}
