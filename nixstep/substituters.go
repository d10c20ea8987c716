package nixstep

import (
	"cmp"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// cacheInfoURL returns where the binary cache of an http(s) substituter
// keeps its nix-cache-info, and false for other kinds of store. Nix reads
// store settings from the URL's query (https://c.example?priority=40) and
// fetches the cache's files under the URL without it, with its trailing
// slashes removed.
func cacheInfoURL(substituter string) (*url.URL, bool, error) {
	u, err := url.Parse(substituter)
	if err != nil {
		return nil, false, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false, nil
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	u.Path = strings.TrimRight(u.Path, "/") + "/nix-cache-info"
	if u.RawPath != "" {
		u.RawPath = strings.TrimRight(u.RawPath, "/") + "/nix-cache-info"
	}
	return u, true, nil
}

// proxyVars are the proxy variables of a build step. BuildKit sets them,
// in upper and lower case, from the proxy build args (llb.WithProxy);
// Nix reads them through curl, which takes http_proxy only in lower case.
var proxyVars = []string{"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"}

// proxyEnv returns the proxy variables of environ, in its order, to be
// passed on to the realising Nix, whose environment is otherwise set
// from scratch.
func proxyEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(proxyVars, strings.ToLower(k)) {
			out = append(out, kv)
		}
	}
	return out
}

// substituterClient is the HTTP client of the substituter check. It goes
// through the proxy the step's environment names, as the realising Nix
// does: HTTP_PROXY, HTTPS_PROXY and NO_PROXY, and like curl ALL_PROXY for
// the schemes without a proxy of their own.
func substituterClient() (*http.Client, func(*http.Request) (*url.URL, error)) {
	cfg := httpproxy.FromEnvironment()
	all := cmp.Or(os.Getenv("all_proxy"), os.Getenv("ALL_PROXY"))
	cfg.HTTPProxy = cmp.Or(cfg.HTTPProxy, all)
	cfg.HTTPSProxy = cmp.Or(cfg.HTTPSProxy, all)
	pf := cfg.ProxyFunc()
	proxy := func(req *http.Request) (*url.URL, error) { return pf(req.URL) }
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = proxy
	return &http.Client{Timeout: 20 * time.Second, Transport: t}, proxy
}

// throughProxy says which proxy a request goes through, for errors: ""
// without one. The proxy's credentials are left out.
func throughProxy(proxy func(*http.Request) (*url.URL, error), req *http.Request) string {
	u, err := proxy(req)
	if err != nil || u == nil {
		return ""
	}
	return " through the proxy " + u.Redacted()
}
