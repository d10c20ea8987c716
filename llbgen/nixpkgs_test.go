package llbgen

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const testNarHash = "sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="

// realiseOps marshals the realise step of src (a whole spec) and returns
// its ops and the realise config it gets.
func realiseOps(t *testing.T, src string, args map[string]string, mutate func(*Options)) ([]*pb.Op, nixstep.RealiseConfig) {
	t.Helper()
	s, err := spec.Parse("nix-image.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := s.ApplyBuildArgs(args); err != nil {
		t.Fatalf("build args: %v", err)
	}
	r, err := s.Resolve("default")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{
		Filename: "nix-image.yaml",
		Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Tool:     llb.Image("example.com/nix-image/frontend:test"),
		Epoch:    time.Unix(0, 0),
	}
	if r.Nix.URL == "" {
		opt.NixSHA256 = testNixSHA
	}
	if mutate != nil {
		mutate(&opt)
	}
	st, err := Realise(r, opt)
	if err != nil {
		t.Fatal(err)
	}
	def, err := st.Output.Marshal(context.Background(), llb.Platform(opt.Platform))
	if err != nil {
		t.Fatal(err)
	}
	all := ops(t, def)
	var cfg nixstep.RealiseConfig
	for _, op := range all {
		for _, a := range op.GetFile().GetActions() {
			if mk := a.GetMkfile(); mk != nil && mk.Path == "/realise.json" {
				if err := json.Unmarshal(mk.Data, &cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return all, cfg
}

// prepareArgs returns the arguments of the step that unpacks nixpkgs.
func prepareArgs(t *testing.T, all []*pb.Op) []string {
	t.Helper()
	for _, op := range all {
		if e := op.GetExec(); e != nil && slices.Contains(e.Meta.Args, "default.nix") {
			return e.Meta.Args
		}
	}
	t.Fatal("no nixpkgs prepare step")
	return nil
}

func TestNixpkgsPins(t *testing.T) {
	const url = "https://example.com/nixpkgs.tar.gz"
	narSpec := "nix: 2.24.9\nnixpkgs:\n  url: " + url + "\n  narHash: " + testNarHash + "\n"
	tests := []struct {
		name     string
		src      string
		mutate   func(*Options)
		checksum string // of the nixpkgs download; "-" for no download
		check    []string
	}{
		{name: "sha256 pins the file", src: "nixpkgs:\n  url: " + url + "\n  sha256: " + testNixpkgsSHA + "\n",
			checksum: "sha256:" + testNixpkgsSHA},
		{name: "narHash pins the tree", src: narSpec,
			checksum: "", check: []string{"--nar-hash", testNarHash, "--where", "nix-image.yaml:4:12 (nixpkgs.narHash)"}},
		{name: "narHash checks the named context", src: narSpec,
			mutate:   func(o *Options) { pkgs := llb.Local("nixpkgs"); o.NixpkgsContext = &pkgs },
			checksum: "-", check: []string{"--nar-hash", testNarHash, "--where", "nix-image.yaml:4:12 (nixpkgs.narHash)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all, _ := realiseOps(t, tc.src, nil, tc.mutate)
			sum, found := "", false
			for _, op := range all {
				if src := op.GetSource(); src != nil && src.Identifier == url {
					sum, found = src.Attrs[pb.AttrHTTPChecksum], true
				}
			}
			if tc.checksum == "-" {
				if found {
					t.Errorf("nixpkgs downloaded although the named context replaces it")
				}
			} else if !found || sum != tc.checksum {
				t.Errorf("nixpkgs download: found %v, checksum %q, want %q", found, sum, tc.checksum)
			}
			args := prepareArgs(t, all)
			got := strings.Join(args, " ")
			if want := strings.Join(tc.check, " "); (want == "") != !strings.Contains(got, "--nar-hash") || !strings.Contains(got, want) {
				t.Errorf("prepare args = %q, want %q in them", got, want)
			}
		})
	}
}

func TestNixpkgsConfigReachesRealise(t *testing.T) {
	src := "nix: 2.24.9\nnixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: " + testNixpkgsSHA + `
  config:
    allowUnfree: true
    permittedInsecurePackages: ["openssl-1.1.1w"]
`
	_, cfg := realiseOps(t, src, nil, nil)
	var compact bytes.Buffer
	if err := json.Compact(&compact, cfg.NixpkgsConfig); err != nil {
		t.Fatal(err)
	}
	if got, want := compact.String(), `{"allowUnfree":true,"permittedInsecurePackages":["openssl-1.1.1w"]}`; got != want {
		t.Errorf("nixpkgs config = %s, want %s", got, want)
	}
	if cfg.NixpkgsConfigWhere != "nix-image.yaml:5:3 (nixpkgs.config)" {
		t.Errorf("config where = %q", cfg.NixpkgsConfigWhere)
	}
	if cfg.NixWhere != "nix-image.yaml:1:6 (nix.version)" || cfg.NixpkgsURL != "https://example.com/n.tar.gz" {
		t.Errorf("nix where = %q, url = %q", cfg.NixWhere, cfg.NixpkgsURL)
	}

	_, cfg = realiseOps(t, "nixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: "+testNixpkgsSHA+"\n", nil, nil)
	if cfg.NixpkgsConfig != nil {
		t.Errorf("no config in the spec, but the step gets %s", cfg.NixpkgsConfig)
	}
	if !strings.Contains(cfg.NixWhere, "the default") {
		t.Errorf("nix where of a spec without nix: %q", cfg.NixWhere)
	}
	_, cfg = realiseOps(t, "nixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: "+testNixpkgsSHA+"\n", map[string]string{"NIX_VERSION": "2.8.0"}, nil)
	if cfg.NixWhere != "the build arg NIX_VERSION" {
		t.Errorf("nix where with NIX_VERSION = %q", cfg.NixWhere)
	}
}
