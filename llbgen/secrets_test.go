package llbgen

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRealiseSecretsAndBuildConfig checks that the realise step gets the
// spec's build-time nixConfig in its config and the build secrets as
// optional secret mounts, and nothing else of nixConfig.
func TestRealiseSecretsAndBuildConfig(t *testing.T) {
	s, err := spec.Parse("nix-image.yaml", []byte(`nixpkgs:
  url: https://example.com/nixpkgs.tar.gz
  sha256: `+testNixpkgsSHA+`
nixConfig:
  extra-substituters: https://private.example
  max-jobs: "4"
images:
  default:
    nixConfig:
      connect-timeout: "3"
      extra-trusted-public-keys: "private-1:AAAA"
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve("default")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Filename: "nix-image.yaml", Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Tool: llb.Image("example.com/nix-image/frontend:test"), NixSHA256: testNixSHA, Epoch: time.Unix(0, 0)}
	st, err := Realise(r, opt)
	if err != nil {
		t.Fatal(err)
	}
	def, err := st.Output.Marshal(context.Background(), llb.Platform(opt.Platform))
	if err != nil {
		t.Fatal(err)
	}
	var cfg nixstep.RealiseConfig
	secrets := map[string]*pb.Mount{}
	for _, op := range ops(t, def) {
		if e := op.GetExec(); e != nil {
			for _, m := range e.Mounts {
				if m.MountType == pb.MountType_SECRET {
					secrets[m.SecretOpt.ID] = m
				}
			}
		}
		for _, a := range op.GetFile().GetActions() {
			if mk := a.GetMkfile(); mk != nil && mk.Path == "/realise.json" {
				if err := json.Unmarshal(mk.Data, &cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := map[string]string{"extra-substituters": "https://private.example", "connect-timeout": "3", "extra-trusted-public-keys": "private-1:AAAA"}
	if !maps.Equal(cfg.NixConfig, want) {
		t.Errorf("realise config nixConfig = %v, want %v", cfg.NixConfig, want)
	}
	if w := "nix-image.yaml:5:3 (nixConfig.extra-substituters)"; cfg.ExtraSubstitutersWhere != w {
		t.Errorf("extra substituters where = %q, want %q", cfg.ExtraSubstitutersWhere, w)
	}
	if len(secrets) != len(nixstep.RealiseSecrets) {
		t.Errorf("secret mounts %v, want %v", maps.Keys(secrets), nixstep.RealiseSecrets)
	}
	for _, id := range nixstep.RealiseSecrets {
		m := secrets[id]
		if m == nil || m.Dest != nixstep.SecretPath(id) || !m.SecretOpt.Optional {
			t.Errorf("secret %s: mount %+v, want an optional secret mount at %s", id, m, nixstep.SecretPath(id))
		}
	}
}
