package nixstep

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseNetrc(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]netrcLogin
		err      string
	}{
		{"one line", "machine cache.example login u password p\n",
			map[string]netrcLogin{"cache.example": {"u", "p"}}, ""},
		{"lines, comments, default, account", "# private caches\nmachine a.example\n  login alice\n  account x\n  password s3cret\ndefault login anon password guest\n",
			map[string]netrcLogin{"a.example": {"alice", "s3cret"}, "": {"anon", "guest"}}, ""},
		{"first entry of a machine wins", "machine a login 1 password 1\nmachine a login 2 password 2\n",
			map[string]netrcLogin{"a": {"1", "1"}}, ""},
		{"token only (Cachix)", "machine c.cachix.org password TOKEN\n",
			map[string]netrcLogin{"c.cachix.org": {"", "TOKEN"}}, ""},
		{"truncated", "machine a login", nil, "login lacks its value"},
		{"unknown keyword", "machine a user u", nil, `no netrc keyword (machine, default, login, password, account) follows the entry of machine "a"`},
		{"macdef", "macdef init\n", nil, "macdef"},
		{"password with a space", "machine a login u password s3cr et\n", nil, "password with spaces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetrc([]byte(tc.in))
			if err != nil && strings.Contains(err.Error(), "s3cr") {
				t.Errorf("the error shows a password: %v", err)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBuildSettings(t *testing.T) {
	dir := t.TempDir()
	r := &realiser{secrets: dir, cfg: RealiseConfig{NixConfig: map[string]string{"extra-substituters": "https://b", "connect-timeout": "5"}}}
	got, err := r.buildSettings()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"connect-timeout = 5", "extra-substituters = https://b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("without secrets: got %q, want %q", got, want)
	}
	os.WriteFile(filepath.Join(dir, NetrcSecret), []byte("machine b login u password p\n"), 0o400)
	os.WriteFile(filepath.Join(dir, AccessTokensSecret), []byte("github.com=ghp_1\ngitlab.com=PAT:2\n"), 0o400)
	got, err = r.buildSettings()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connect-timeout = 5", "extra-substituters = https://b",
		"netrc-file = " + filepath.Join(dir, NetrcSecret), "access-tokens = github.com=ghp_1 gitlab.com=PAT:2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with secrets: got %q, want %q", got, want)
	}
	if l, ok := loginFor(r.netrc, "b"); !ok || l.password != "p" {
		t.Errorf("netrc login for b: %v %v", l, ok)
	}
}

func TestAppendCA(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release.crt")
	os.WriteFile(release, []byte("-----BEGIN CERTIFICATE-----\nrelease\n-----END CERTIFICATE-----"), 0o644)
	extra := []byte("-----BEGIN CERTIFICATE-----\nprivate\n-----END CERTIFICATE-----\n")
	dst := filepath.Join(dir, "bundle.crt")
	if got, err := appendCA(release, nil, dst); err != nil || got != release {
		t.Errorf("without a secret: %q, %v; want the release's bundle", got, err)
	}
	got, err := appendCA(release, extra, dst)
	if err != nil || got != dst {
		t.Fatalf("appendCA: %q, %v", got, err)
	}
	data, _ := os.ReadFile(dst)
	if s := string(data); !strings.Contains(s, "release") || !strings.HasSuffix(s, string(extra)) {
		t.Errorf("bundle does not hold the release's and the secret's certificates:\n%s", s)
	}
	if _, err := appendCA(release, []byte("not a cert"), dst); err == nil || !strings.Contains(err.Error(), CASecret) {
		t.Errorf("a secret without a certificate: %v", err)
	}
}

// TestCheckSubstitutersAuth runs the substituter check against caches
// that want basic auth, with and without the netrc login for their host.
func TestCheckSubstitutersAuth(t *testing.T) {
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Basic realm="cache"`)
			http.Error(w, "login", http.StatusUnauthorized)
		case u != "alice" || p != "s3cret":
			http.Error(w, "no", http.StatusForbidden)
		case r.URL.Path == "/nix-cache-info":
			w.Write([]byte("StoreDir: /nix/store\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer private.Close()
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			http.Error(w, "credentials sent to the wrong cache", http.StatusBadRequest)
			return
		}
		w.Write([]byte("StoreDir: /nix/store\n"))
	}))
	defer public.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tls.Close()
	host := "127.0.0.1"

	tests := []struct {
		name  string
		subs  []string
		extra string
		netrc map[string]netrcLogin
		want  []string // "" for success
	}{
		{"public only", []string{public.URL}, "", nil, nil},
		{"private without credentials", []string{public.URL}, private.URL, nil,
			[]string{"substituter " + private.URL, "nixConfig.extra-substituters", "needs credentials", "401", "machine " + host, "--secret id=netrc"}},
		{"private with credentials", []string{private.URL}, "", map[string]netrcLogin{host: {"alice", "s3cret"}}, nil},
		{"private with the default login", []string{private.URL}, "", map[string]netrcLogin{"": {"alice", "s3cret"}}, nil},
		{"private with wrong credentials", []string{private.URL}, "", map[string]netrcLogin{host: {"alice", "nope"}},
			[]string{"substituter " + private.URL, "substituters[0]", "refused the credentials for machine " + host, "build secret netrc", "403"}},
		{"login of another machine", []string{private.URL}, "", map[string]netrcLogin{"other.example": {"alice", "s3cret"}},
			[]string{"needs credentials"}},
		{"unknown CA", nil, tls.URL, nil, []string{"substituter " + tls.URL, "unreachable", "build secret nix-ca"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := RealiseConfig{Substituters: tc.subs, SubstitutersWhere: "nix-image.yaml:5:3 (substituters[0])",
				ExtraSubstitutersWhere: "nix-image.yaml:9:3 (nixConfig.extra-substituters)"}
			if tc.extra != "" {
				cfg.NixConfig = map[string]string{"extra-substituters": tc.extra}
			}
			r := &realiser{cfg: cfg, netrc: tc.netrc}
			err := r.checkSubstituters(context.Background())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("check failed: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("check passed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}
