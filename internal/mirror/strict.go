package mirror

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// StrictCache serves the mirror's binary cache alone, at the root of its
// own loopback port, the way a strict static server or CDN does: only the
// exact paths of its files (nix-cache-info, *.narinfo, nar/*), and
// nothing for a request with a query string or for a directory.
type StrictCache struct {
	// URL is the cache's address, http://127.0.0.1:PORT.
	URL string

	dir    string
	server *http.Server
	mu     sync.Mutex
	log    []string
}

// ServeStrictCache starts serving the mirror's cache on a free loopback
// port until Close.
func (m *Mirror) ServeStrictCache() (*StrictCache, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serving the strict cache: %w", err)
	}
	c := &StrictCache{URL: "http://" + ln.Addr().String(), dir: filepath.Join(m.Dir, m.Vars["CACHE_DIR"])}
	c.server = &http.Server{Handler: http.HandlerFunc(c.serve), ReadHeaderTimeout: 10 * time.Second}
	go c.server.Serve(ln)
	return c, nil
}

func (c *StrictCache) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.log = append(c.log, r.Method+" "+r.URL.RequestURI())
	c.mu.Unlock()
	clean := path.Clean(r.URL.Path)
	if r.URL.RawQuery != "" || r.URL.ForceQuery || clean != r.URL.Path || strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(c.dir, filepath.FromSlash(clean)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// Requests returns the requests the cache got so far, as "METHOD URI".
func (c *StrictCache) Requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// Close stops serving.
func (c *StrictCache) Close() error {
	if err := c.server.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
