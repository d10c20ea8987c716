package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// Proxy is a forward HTTP proxy on a free loopback port, as a corporate
// proxy is to a build. It resolves only the host names it is given, so a
// request for one of them can only have come through it, and it logs
// every request. It proxies plain http:// requests; CONNECT (https://) is
// refused.
type Proxy struct {
	// URL is the proxy's address, http://127.0.0.1:PORT: the value of
	// HTTP_PROXY.
	URL string

	hosts  map[string]string
	server *http.Server
	mu     sync.Mutex
	log    []string
}

// StartProxy starts a proxy that sends requests for each host name of
// hosts (without port) to its address (host:port), and answers 502 for
// any other host. Stop it with Close.
func StartProxy(hosts map[string]string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the proxy: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), hosts: hosts}
	// Its own transport: the test process's proxy variables must not
	// apply to the proxy's own requests.
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Host = p.hosts[pr.In.URL.Hostname()]
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: time.Minute},
	}
	p.server = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.log = append(p.log, r.Method+" "+r.URL.String())
		p.mu.Unlock()
		switch {
		case r.Method == http.MethodConnect:
			http.Error(w, "proxy: CONNECT is not supported", http.StatusMethodNotAllowed)
		case !r.URL.IsAbs() || r.URL.Scheme != "http":
			http.Error(w, "proxy: not a proxy request: "+r.URL.String(), http.StatusBadRequest)
		case p.hosts[r.URL.Hostname()] == "":
			http.Error(w, "proxy: unknown host "+r.URL.Hostname(), http.StatusBadGateway)
		default:
			rp.ServeHTTP(w, r)
		}
	})}
	go p.server.Serve(ln)
	return p, nil
}

// Requests returns the requests the proxy got so far, as "METHOD URL".
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	if err := p.server.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
