package spec

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(validSpec))
	if err != nil {
		t.Fatal(err)
	}
	sys := []string{"git", "bashInteractive", "coreutils", "cacert", "shadow", "tzdata"}
	common := Resolved{
		Nix:               Nix{Version: "2.31.1", Releases: "https://mirror.example.com/nix"},
		Nixpkgs:           Nixpkgs{URL: nixpkgsURL, SHA256: helloHex},
		SystemNix:         SystemNixRelease,
		Substituters:      []string{"https://cache.example.org", "https://cache.nixos.org"},
		TrustedPublicKeys: []string{otherKey, DefaultTrustedPublicKey},
	}
	def := common
	def.Target = "default"
	def.SystemPackages = sys
	// defaultPackages: false drops the usual tools.
	def.Packages = []string{"ripgrep", "python3Packages.requests", "htop"}
	def.NixConfig = map[string]string{"max-jobs": "auto", "sandbox": "false"}
	def.Layers = 50
	def.Config = ImageConfig{
		Env:          map[string]string{"LANG": "C.UTF-8", "PAGER": "less"},
		Labels:       map[string]string{"org.opencontainers.image.title": "nix"},
		ExposedPorts: []string{"8080/tcp"},
		Cmd:          []string{"bash", "-l"},
	}
	ssh := common
	ssh.Target = "ssh"
	ssh.SSHServer = true
	ssh.SystemPackages = append(append([]string{}, sys...), "openssh")
	// ripgrep is in both lists and kept once, in its first place.
	ssh.Packages = []string{"ripgrep", "python3Packages.requests", "tmux"}
	ssh.NixConfig = map[string]string{"max-jobs": "4", "sandbox": "false", "trusted-users": "root"}
	ssh.AuthorizedKeys = []string{aliceKey}
	ssh.Layers = 20
	ssh.Config = ImageConfig{
		Env:          map[string]string{"LANG": "C.UTF-8", "PAGER": "more"},
		Labels:       map[string]string{"org.opencontainers.image.title": "nix"},
		ExposedPorts: []string{"8080/tcp"},
		WorkingDir:   "/root",
	}
	// The values; where they came from is checked below.
	values := func(r *Resolved) Resolved {
		v := *r
		v.origins = origins{}
		return v
	}
	for _, want := range []Resolved{def, ssh} {
		got, err := s.Resolve(want.Target)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(values(got), want) {
			t.Errorf("Resolve(%q) =\n%+v\nwant\n%+v", want.Target, *got, want)
		}
	}

	// Resolved values are copies.
	r, _ := s.Resolve("ssh")
	r.Packages[0] = "changed"
	r.Config.Env["PAGER"] = "changed"
	r.SystemPackages[0] = "changed"
	if again, _ := s.Resolve("ssh"); !reflect.DeepEqual(values(again), ssh) {
		t.Errorf("changing a Resolved changed the Spec: %+v", *again)
	}

	if _, err := s.Resolve("dev"); err == nil || !strings.Contains(err.Error(), `unknown target "dev": valid targets are default, ssh`) {
		t.Errorf("Resolve(dev) error = %v", err)
	}
	if got := s.Targets(); !reflect.DeepEqual(got, []string{"default", "ssh"}) {
		t.Errorf("Targets = %v", got)
	}
}

func TestResolveDefaults(t *testing.T) {
	tests := []struct {
		name, src, target string
		packages, system  []string
		ports, cmd        []string
		layers            int
	}{
		{name: "default", target: "default", packages: DefaultImagePackages, system: DefaultSystemPackages, layers: DefaultLayers},
		{name: "ssh", target: "ssh", system: append(append([]string{}, DefaultSystemPackages...), "openssh"), ports: []string{"22/tcp"}, layers: DefaultLayers},
		{name: "default with packages", target: "default", src: "packages: [jq, hello]\nimages:\n  default:\n    packages: [curl, cowsay]\n",
			packages: append(append([]string{}, DefaultImagePackages...), "hello", "cowsay"), system: DefaultSystemPackages, layers: DefaultLayers},
		{name: "ssh with default packages", target: "ssh", src: "images:\n  ssh:\n    defaultPackages: true\n    config:\n      exposedPorts: [\"2222\"]\n",
			packages: DefaultImagePackages, system: append(append([]string{}, DefaultSystemPackages...), "openssh"), ports: []string{"2222/tcp"}, layers: DefaultLayers},
		{name: "nixpkgs nix first", target: "default", src: "system:\n  nix: nixpkgs\n",
			packages: DefaultImagePackages, system: append([]string{"nix"}, DefaultSystemPackages...), layers: DefaultLayers},
		{name: "nixpkgs nix listed once", target: "ssh", src: "system:\n  nix: nixpkgs\n  packages: [bash, nix]\n",
			system: []string{"nix", "bash", "openssh"}, ports: []string{"22/tcp"}, layers: DefaultLayers},
		{name: "ssh keeps openssh once", target: "ssh", src: "system:\n  packages: [git, openssh]\nlayers: 7\n",
			system: []string{"git", "openssh"}, ports: []string{"22/tcp"}, layers: 7},
		{name: "image clears cmd", target: "ssh", src: "config:\n  cmd: [bash]\nimages:\n  ssh:\n    config:\n      cmd: []\n",
			system: append(append([]string{}, DefaultSystemPackages...), "openssh"), ports: []string{"22/tcp"}, cmd: []string{}, layers: DefaultLayers},
		{name: "top-level cmd", target: "default", src: "config:\n  cmd: [bash]\n",
			packages: DefaultImagePackages, system: DefaultSystemPackages, cmd: []string{"bash"}, layers: DefaultLayers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("nix-image.yaml", []byte(base+tt.src))
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Resolve(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Packages, tt.packages) || !reflect.DeepEqual(r.SystemPackages, tt.system) ||
				!reflect.DeepEqual(r.Config.ExposedPorts, tt.ports) || !reflect.DeepEqual(r.Config.Cmd, tt.cmd) || r.Layers != tt.layers {
				t.Errorf("Resolve = packages %#v system %#v ports %#v cmd %#v layers %d", r.Packages, r.SystemPackages, r.Config.ExposedPorts, r.Config.Cmd, r.Layers)
			}
		})
	}
}

// TestResolveContext: flake outputs leave Packages for FlakePackages, and
// ContextPaths lists the flake's directory and the expressions' files.
func TestResolveContext(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(base+`flake: app
packages: [jq, ".#mytool"]
expressions:
  - {file: nix/pkgs.nix, attrs: [a], include: [nix/src, app]}
images:
  default:
    defaultPackages: false
    packages: [".#other"]
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve("default")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Packages, []string{"jq"}) || !slices.Equal(r.FlakePackages, []string{"mytool", "other"}) || r.Flake != "app" {
		t.Errorf("Packages %v, FlakePackages %v, Flake %q", r.Packages, r.FlakePackages, r.Flake)
	}
	if got, want := r.ContextPaths(), []string{"app", "nix/pkgs.nix", "nix/src"}; !slices.Equal(got, want) {
		t.Errorf("ContextPaths = %v, want %v", got, want)
	}
	ssh, err := s.Resolve("ssh")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ssh.FlakePackages, []string{"mytool"}) {
		t.Errorf("ssh FlakePackages = %v", ssh.FlakePackages)
	}
}

// TestResolvedOrigins: a Resolved says where its values came from: the
// positions of the spec's fields, the field naming each package (the
// first list that names it; none for a default package) and the one
// setting each nixConfig key.
func TestResolvedOrigins(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(validSpec))
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]map[string]string{
		"default": {"ripgrep": "packages[0]", "htop": "images.default.packages[0]", "git": "system.packages[0]", "curl": ""},
		"ssh":     {"ripgrep": "packages[0]", "tmux": "images.ssh.packages[1]", "openssh": ""},
	} {
		r, err := s.Resolve(target)
		if err != nil {
			t.Fatal(err)
		}
		for attr, field := range want {
			if got := r.PackageField(attr); got != field {
				t.Errorf("%s: PackageField(%q) = %q, want %q", target, attr, got, field)
			}
		}
		for _, path := range []string{"nixpkgs.url", "packages[1]", "nix"} {
			gotPos, gotOK := r.Position(path)
			wantPos, wantOK := s.Position(path)
			if gotPos != wantPos || gotOK != wantOK {
				t.Errorf("%s: Position(%q) = %v, %v; the spec's is %v, %v", target, path, gotPos, gotOK, wantPos, wantOK)
			}
		}
		for k := range r.NixConfig {
			if got, want := r.NixConfigField(k), s.NixConfigField(target, k); got != want {
				t.Errorf("%s: NixConfigField(%q) = %q, want %q", target, k, got, want)
			}
		}
	}
}
