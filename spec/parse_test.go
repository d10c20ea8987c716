package spec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	nixpkgsURL = "https://github.com/NixOS/nixpkgs/archive/0123456789abcdef0123456789abcdef01234567.tar.gz"
	aliceKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMKN+3vtlLjI7i+EFu4I48phRfpAK51oG200q9aVClEy alice@example"
	bobKey     = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDM+0eTr5Xqiwoo9H0EGeiSgOYiGpKdKagNmkWUpQxyaPCDZvHdGl93hTgx0LwwAbt3w4U20a2PfEtQmknRKRZY= bob"
	// A well-formed key of another cache, for lists of several.
	otherKey = "cache.example.org-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)

// base is the smallest valid spec; invalid cases append to it, so their
// own lines start at line 4.
const base = "nixpkgs:\n  url: " + nixpkgsURL + "\n  sha256: " + helloHex + "\n"

// want is one expected error: exact position and path, and a part of the
// message.
type want struct {
	line, col int
	path, msg string
}

func (w want) String() string {
	return fmt.Sprintf("%d:%d: %s: ...%s...", w.line, w.col, w.path, w.msg)
}

func checkErrors(t *testing.T, err error, wants []want) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error = %v (%T), want ErrorList", err, err)
	}
	if len(list) != len(wants) {
		t.Errorf("got %d errors, want %d:\n%v\nwant:\n%v", len(list), len(wants), err, wants)
		return
	}
	for i, e := range list {
		w := wants[i]
		if e.Pos.Line != w.line || e.Pos.Col != w.col || e.Path != w.path || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = %v\nwant %v", i, e, w)
		}
		if e.File != "nix-image.yaml" {
			t.Errorf("error %d file = %q", i, e.File)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string // appended to base unless noBase
		// noBase: src is the whole document.
		noBase bool
		want   []want
	}{
		// Documents.
		{name: "empty", noBase: true, src: "", want: []want{{1, 1, "", "empty spec"}}},
		{name: "only comments", noBase: true, src: "# syntax=x\n# nothing\n", want: []want{{1, 1, "", "empty spec"}}},
		{name: "null", noBase: true, src: "\n&0", want: []want{{1, 1, "", "empty spec"}}},
		{name: "not a mapping", noBase: true, src: "- a\n", want: []want{{1, 1, "", "expected a mapping, found a list"}}},
		{name: "syntax error", src: "packages: [a\nlayers: 1\n", want: []want{{4, 1, "", "invalid YAML: did not find expected ',' or ']'"}}},
		{name: "syntax error at end", noBase: true, src: "a: [\n", want: []want{{2, 1, "", "invalid YAML: did not find expected node content"}}},
		{name: "scanner error", src: "packages: a: b\n", want: []want{{4, 1, "", "invalid YAML: mapping values are not allowed"}}},
		{name: "tab indent", src: "config:\n\tuser: x\n", want: []want{{5, 1, "", "invalid YAML: found character that cannot start any token"}}},
		{name: "two documents", src: "---\nlayers: 1\n", want: []want{{4, 1, "", "single YAML document"}}},

		// Strict decoding.
		{name: "unknown field", src: "nixpks: 1\n", want: []want{{4, 1, "nixpks", `unknown field "nixpks" (did you mean "nixpkgs"?)`}}},
		{name: "unknown nested field", src: "nix:\n  versoin: 2.3.0\n", want: []want{{5, 3, "nix.versoin", `unknown field "versoin" (did you mean "version"?)`}}},
		{name: "unknown field far from any", src: "zzzzzzzz: 1\n", want: []want{{4, 1, "zzzzzzzz", `unknown field "zzzzzzzz"`}}},
		{name: "unknown field with a dot", src: "config:\n  a.b: 1\n", want: []want{{5, 3, `config["a.b"]`, `unknown field "a.b"`}}},
		{name: "list for nix", src: "nix: [2.33.3]\n", want: []want{{4, 6, "nix", "expected a Nix version or a mapping with version or url, found a list"}}},
		{name: "string for list", src: "packages: curl\n", want: []want{{4, 11, "packages", `expected a list, found the string "curl"`}}},
		{name: "list for string", src: "nix:\n  version: [2]\n", want: []want{{5, 12, "nix.version", "expected a string, found a list"}}},
		{name: "mapping for list item", src: "packages:\n  - {a: b}\n", want: []want{{5, 5, "packages[0]", "expected a string, found a mapping"}}},
		{name: "string for int", src: "layers: many\n", want: []want{{4, 9, "layers", `expected an integer, found the string "many"`}}},
		{name: "float for int", src: "layers: 1.5\n", want: []want{{4, 9, "layers", "expected an integer, found the number 1.5"}}},
		{name: "string for bool", src: "images:\n  default:\n    defaultPackages: maybe\n", want: []want{{6, 22, "images.default.defaultPackages", "expected true or false"}}},
		{name: "list for mapping", src: "config:\n  env: [A=1]\n", want: []want{{5, 8, "config.env", "expected a mapping, found a list"}}},
		{name: "duplicate key", src: "packages: [a]\npackages: [b]\n", want: []want{{5, 1, "packages", `duplicate key "packages" (first at line 4)`}}},
		{name: "duplicate map key", src: "config:\n  env:\n    A: 1\n    A: 2\n", want: []want{{7, 5, "config.env.A", `duplicate key "A" (first at line 6)`}}},
		{name: "bad merge", src: "x-a: &a [1]\nconfig:\n  <<: *a\n", want: []want{{4, 10, "config", "merge key << expects a mapping"}}},
		{name: "version 2", src: "version: 2\n", want: []want{{4, 10, "version", "unsupported spec version 2"}}},
		{name: "version 0", src: "version: 0\n", want: []want{{4, 10, "version", "unsupported spec version 0"}}},

		// nix.
		{name: "nix version", src: "nix: latest\n", want: []want{{4, 6, "nix.version", `invalid Nix version "latest"`}}},
		{name: "nix url without sha256", src: "nix:\n  url: https://example.com/nix.tar.xz\n", want: []want{{5, 8, "nix.url", "nix.url needs nix.sha256"}}},
		{name: "nix url and version", src: "nix:\n  version: 2.33.3\n  url: https://e.com/x\n  sha256: " + helloHex + "\n",
			want: []want{{6, 8, "nix.url", "exclusive"}}},
		{name: "nix sha256 without url", src: "nix:\n  sha256: " + helloHex + "\n", want: []want{{5, 11, "nix.sha256", "only used with nix.url"}}},
		{name: "nix url scheme", src: "nix:\n  url: ftp://e.com/x\n  sha256: " + helloHex + "\n", want: []want{{5, 8, "nix.url", `invalid URL "ftp://e.com/x"`}}},
		{name: "nix releases with url", src: "nix:\n  url: https://e.com/x\n  sha256: " + helloHex + "\n  releases: https://r.com\n",
			want: []want{{7, 13, "nix.releases", "only used with nix.version"}}},
		{name: "nix releases url", src: "nix:\n  releases: releases.nixos.org\n", want: []want{{5, 13, "nix.releases", "invalid URL"}}},
		{name: "nix sha256 invalid", src: "nix:\n  url: https://e.com/x\n  sha256: abc\n", want: []want{{6, 11, "nix.sha256", `invalid sha256 "abc"`}}},
		{name: "nix url per system without sha256", src: "nix:\n  url: https://e.com/nix-{system}.tar.xz\n",
			want: []want{{5, 8, "nix.url", "a mapping from each Nix system type the build needs to the sha256 of its tarball"}}},
		{name: "nix url per system with one sha256", src: "nix:\n  url: https://e.com/nix-{system}.tar.xz\n  sha256: " + helloHex + "\n",
			want: []want{{6, 11, "nix.sha256", "nix.url names {system}, a tarball per Nix system type: give nix.sha256 as a mapping"}}},
		{name: "nix sha256 per system without {system}", src: "nix:\n  url: https://e.com/x\n  sha256:\n    x86_64-linux: " + helloHex + "\n",
			want: []want{{6, 3, "nix.sha256", "a sha256 per system needs {system} in nix.url"}}},
		{name: "nix sha256 per system bad system and hash", src: "nix:\n  url: https://e.com/{system}\n  sha256:\n    x86_64-darwin: " + helloHex + "\n    aarch64-linux: abc\n",
			want: []want{{7, 5, "nix.sha256.x86_64-darwin", `invalid Nix system type "x86_64-darwin"`}, {8, 5, "nix.sha256.aarch64-linux", `invalid sha256 "abc"`}}},
		{name: "nix sha256 per system without url", src: "nix:\n  sha256:\n    x86_64-linux: " + helloHex + "\n",
			want: []want{{5, 3, "nix.sha256", "only used with nix.url"}}},
		{name: "nix sha256 per system is strings", src: "nix:\n  url: https://e.com/{system}\n  sha256:\n    x86_64-linux: [a]\n",
			want: []want{{7, 19, "nix.sha256.x86_64-linux", "expected a string, found a list"}}},

		// nixpkgs.
		{name: "nixpkgs missing", noBase: true, src: "# syntax=x\npackages: [curl]\n",
			want: []want{{2, 1, "nixpkgs", "nixpkgs is required: set nixpkgs.url"}}},
		{name: "nixpkgs sha256 missing", noBase: true, src: "nixpkgs:\n  url: " + nixpkgsURL + "\n",
			want: []want{{1, 1, "nixpkgs.sha256", "nix-prefetch-url <url>"}}},
		{name: "nixpkgs null fields", noBase: true, src: "nixpkgs:\n  url:\n  sha256: ~\n",
			want: []want{{1, 1, "nixpkgs", "nixpkgs is required"}}},
		{name: "nixpkgs url missing", noBase: true, src: "nixpkgs:\n  sha256: " + helloHex + "\n",
			want: []want{{1, 1, "nixpkgs.url", "nixpkgs.url is required"}}},
		{name: "nixpkgs file url", noBase: true, src: "nixpkgs:\n  url: file:///tmp/n.tar.gz\n  sha256: " + helloHex + "\n",
			want: []want{{2, 8, "nixpkgs.url", "expected an http:// or https:// URL"}}},
		{name: "nixpkgs bad hash", noBase: true, src: "nixpkgs:\n  url: " + nixpkgsURL + "\n  sha256: sha256-AAAA\n",
			want: []want{{3, 11, "nixpkgs.sha256", "decodes to 3 bytes"}}},

		{name: "nixpkgs sha256 and narHash", noBase: true, src: "nixpkgs:\n  url: " + nixpkgsURL + "\n  sha256: " + helloHex + "\n  narHash: " + helloSRI + "\n",
			want: []want{{4, 12, "nixpkgs.narHash", "nixpkgs.sha256 and nixpkgs.narHash are exclusive"}}},
		{name: "nixpkgs bad narHash", noBase: true, src: "nixpkgs:\n  url: " + nixpkgsURL + "\n  narHash: sha256-AAAA\n",
			want: []want{{3, 12, "nixpkgs.narHash", "decodes to 3 bytes"}}},
		{name: "nixpkgs without a pin", noBase: true, src: "nixpkgs:\n  url: " + nixpkgsURL + "\n",
			want: []want{{1, 1, "nixpkgs.sha256", "or set nixpkgs.narHash"}}},
		{name: "nixpkgs config not a bool", src: "  config:\n    allowUnfree: yes please\n",
			want: []want{{5, 18, "nixpkgs.config.allowUnfree", "expected true or false"}}},
		{name: "nixpkgs config unknown key", src: "  config:\n    allowUnfreePredicate: true\n",
			want: []want{{5, 5, "nixpkgs.config.allowUnfreePredicate", `unknown field "allowUnfreePredicate"`}}},
		{name: "nixpkgs config insecure names", src: "  config:\n    permittedInsecurePackages: [openssl-1.1.1w, openssl, \"a\\\"-1\", openssl-1.1.1w]\n",
			want: []want{
				{5, 49, "nixpkgs.config.permittedInsecurePackages[1]", `invalid package name "openssl"`},
				{5, 58, "nixpkgs.config.permittedInsecurePackages[2]", `invalid package name "a\"-1"`},
				{5, 67, "nixpkgs.config.permittedInsecurePackages[3]", "duplicate package"},
			}},

		// Packages: all errors are reported, in order.
		{name: "packages", src: "packages:\n  - curl\n  - foo bar\n  - curl\n  - 1abc\n  - python3Packages.requests\n  - \"\"\n",
			want: []want{
				{6, 5, "packages[1]", `invalid package attribute path "foo bar"`},
				{7, 5, "packages[2]", `duplicate package "curl" (already at packages[0])`},
				{8, 5, "packages[3]", `invalid package attribute path "1abc"`},
				{10, 5, "packages[5]", `invalid package attribute path ""`},
			}},
		{name: "system packages", src: "system:\n  packages: [git, \"a..b\"]\n", want: []want{{5, 19, "system.packages[1]", `"a..b"`}}},
		{name: "system nix value", src: "system:\n  nix: nixos\n", want: []want{{5, 8, "system.nix", `invalid system.nix "nixos": expected "release"`}}},
		{name: "release nix listed", src: "system:\n  packages: [bash, nix]\n", want: []want{{5, 20, "system.packages[1]", "remove nix from system.packages, or set system.nix: nixpkgs"}}},
		{name: "image packages", src: "images:\n  ssh:\n    packages: [htop, htop]\n", want: []want{{6, 22, "images.ssh.packages[1]", "duplicate package"}}},

		// Binary caches.
		{name: "substituters", src: "substituters:\n  - https://cache.nixos.org\n  - cache.example.com\n  - https://cache.nixos.org\n  - gopher://x\n  - s3://bucket?region=eu-west-1\n  - daemon\n",
			want: []want{
				{6, 5, "substituters[1]", `invalid substituter "cache.example.com"`},
				{7, 5, "substituters[2]", "duplicate substituter"},
				{8, 5, "substituters[3]", `invalid substituter "gopher://x"`},
			}},
		{name: "trusted public keys", src: "trustedPublicKeys:\n  - foo\n  - k:AAAA\n  - " + DefaultTrustedPublicKey + "\n  - \":" + strings.Repeat("A", 43) + "=\"\n",
			want: []want{
				{5, 5, "trustedPublicKeys[0]", `invalid trusted public key "foo"`},
				{6, 5, "trustedPublicKeys[1]", "32-byte"},
				{8, 5, "trustedPublicKeys[3]", "<name>:<base64"},
			}},

		// nixConfig.
		{name: "nixConfig", src: "nixConfig:\n  substituters: x\n  Max_Jobs: 2\n  sandbox: \"a\\nb\"\n  max-jobs: 4\n  trusted-public-keys: y\n",
			want: []want{
				{5, 3, "nixConfig.substituters", "top-level substituters field"},
				{6, 3, "nixConfig.Max_Jobs", `invalid nix.conf setting name "Max_Jobs"`},
				{7, 3, "nixConfig.sandbox", "line break"},
				{9, 3, "nixConfig.trusted-public-keys", "top-level trustedPublicKeys field"},
			}},
		{name: "nixConfig credentials", src: "images:\n  ssh:\n    nixConfig:\n      access-tokens: github.com=ghp_x\n",
			want: []want{{7, 7, "images.ssh.nixConfig.access-tokens", "build secret nix-access-tokens"}}},
		{name: "image nixConfig", src: "images:\n  default:\n    nixConfig: {\"a b\": c}\n", want: []want{{6, 17, `images.default.nixConfig["a b"]`, "invalid nix.conf setting name"}}},

		// Layers.
		{name: "layers too many", src: "layers: 121\n", want: []want{{4, 9, "layers", "between 4 and 120"}}},
		{name: "layers negative", src: "layers: -1\n", want: []want{{4, 9, "layers", "found -1"}}},
		{name: "layers too few", src: "layers: 3\n", want: []want{{4, 9, "layers", "between 4 and 120"}}},
		{name: "image layers", src: "images:\n  ssh:\n    layers: 500\n", want: []want{{6, 13, "images.ssh.layers", "between 4 and 120"}}},

		// Images.
		{name: "unknown image", src: "images:\n  foo: {}\n  x-bar: {}\n", want: []want{{5, 3, "images.foo", `unknown image "foo": valid images are default, ssh`}}},
		// expressions.
		{name: "expression without file", src: "expressions:\n  - attrs: [a]\n", want: []want{{5, 5, "expressions[0].file", "file is required"}}},
		{name: "expression without attrs", src: "expressions:\n  - file: pkgs.nix\n", want: []want{{5, 5, "expressions[0].attrs", "attrs is required"}}},
		{name: "expression bad attr", src: "expressions:\n  - file: pkgs.nix\n    attrs: [a, \"b c\", a]\n",
			want: []want{{6, 16, "expressions[0].attrs[1]", `invalid package attribute path "b c"`}, {6, 23, "expressions[0].attrs[2]", `duplicate package "a"`}}},
		{name: "expression absolute", src: "expressions:\n  - file: /etc/pkgs.nix\n    attrs: [a]\n", want: []want{{5, 11, "expressions[0].file", `"/etc/pkgs.nix" is absolute`}}},
		{name: "expression outside", src: "expressions:\n  - file: ../pkgs.nix\n    attrs: [a]\n", want: []want{{5, 11, "expressions[0].file", "outside the build context"}}},
		{name: "expression unclean", src: "expressions:\n  - file: nix//pkgs.nix\n    attrs: [a]\n    include: [src/, \"*.nix\", .]\n",
			want: []want{{5, 11, "expressions[0].file", `write it as "nix/pkgs.nix"`}, {7, 15, "expressions[0].include[0]", `write it as "src"`},
				{7, 21, "expressions[0].include[1]", "pattern character"}, {7, 30, "expressions[0].include[2]", "whole build context"}}},
		// flake.
		{name: "flake output without flake", src: "packages: [\".#mytool\"]\n", want: []want{{4, 12, "packages[0]", "the spec has no flake"}}},
		{name: "flake output invalid", src: "flake: .\npackages: [\".#my tool\"]\n", want: []want{{5, 12, "packages[0]", `invalid flake output ".#my tool"`}}},
		{name: "flake output in system", src: "flake: .\nsystem:\n  packages: [\".#mytool\"]\n", want: []want{{6, 14, "system.packages[0]", "is a flake output"}}},
		{name: "flake outside", src: "flake: ../x\n", want: []want{{4, 8, "flake", "outside the build context"}}},
		{name: "flake absolute", src: "flake: /src\n", want: []want{{4, 8, "flake", "is absolute"}}},
		// images.<name>.user. Base is 3 lines: images is line 4.
		{name: "user in ssh", src: "images:\n  ssh:\n    user: {name: dev, uid: 1000}\n",
			want: []want{{6, 5, "images.ssh.user", "the ssh image is root-only"}}},
		{name: "user without name", src: "images:\n  default:\n    user:\n      uid: 1000\n",
			want: []want{{6, 5, "images.default.user.name", "user.name is required"}}},
		{name: "user name invalid", src: "images:\n  default:\n    user:\n      name: Dev\n      uid: 1000\n",
			want: []want{{7, 13, "images.default.user.name", `invalid user name "Dev"`}}},
		{name: "user name reserved", src: "images:\n  default:\n    user:\n      name: nixbld7\n      uid: 1000\n",
			want: []want{{7, 13, "images.default.user.name", `user name "nixbld7" is one of the image's own accounts`}}},
		{name: "user uid missing", src: "images:\n  default:\n    user:\n      name: dev\n",
			want: []want{{6, 5, "images.default.user.uid", "user.uid is required"}}},
		{name: "user uid of nixbld", src: "images:\n  default:\n    user:\n      name: dev\n      uid: 30001\n",
			want: []want{{8, 12, "images.default.user.uid", "invalid uid 30001: 30001..30032 are the Nix build users nixbld1..nixbld32"}}},
		{name: "user uid nobody", src: "images:\n  default:\n    user:\n      name: dev\n      uid: 65534\n",
			want: []want{{8, 12, "images.default.user.uid", "invalid uid 65534: expected 1..65533"}}},
		{name: "user gid nixbld", src: "images:\n  default:\n    user:\n      name: dev\n      uid: 1000\n      gid: 30000\n",
			want: []want{{9, 12, "images.default.user.gid", "invalid gid 30000: 30000..30000 are the group nixbld"}}},
		{name: "user and config.user", src: "config:\n  user: \"1000\"\nimages:\n  default:\n    user: {name: dev, uid: 1000}\n",
			want: []want{{8, 5, "images.default.user", "images.default.user and config.user both set"}}},
		{name: "user and image config.user", src: "images:\n  default:\n    config: {user: dev}\n    user: {name: dev, uid: 1000}\n",
			want: []want{{7, 5, "images.default.user", "images.default.user and images.default.config.user both set"}}},
		{name: "authorizedKeys outside ssh", src: "images:\n  default:\n    authorizedKeys: [\"" + aliceKey + "\"]\n",
			want: []want{{6, 5, "images.default.authorizedKeys", "only used by the ssh image"}}},
		{name: "authorizedKeys", src: `images:
  ssh:
    authorizedKeys:
      - ` + aliceKey + `
      - |
        -----BEGIN OPENSSH PRIVATE KEY-----
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
        -----END OPENSSH PRIVATE KEY-----
      - ssh-dss AAAAB3NzaC1kc3MAAACBAP
      - ssh-ed25519 not-base64!
      - ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMKN+3vtlLjI7i+EFu4I48phRfpAK51oG200q9aVClEy
      - ssh-ed25519
      - "` + bobKey + `\n` + aliceKey + `"
      - ` + bobKey + `
`,
			want: []want{
				{8, 9, "images.ssh.authorizedKeys[1]", "this is a private key"},
				{12, 9, "images.ssh.authorizedKeys[2]", `unsupported key type "ssh-dss"`},
				{13, 9, "images.ssh.authorizedKeys[3]", "not base64"},
				{14, 9, "images.ssh.authorizedKeys[4]", "does not hold a ssh-rsa key"},
				{15, 9, "images.ssh.authorizedKeys[5]", "expected <type> <base64> [comment]"},
				{16, 9, "images.ssh.authorizedKeys[6]", "one public key per list item"},
			}},

		// Image config.
		{name: "config", src: "config:\n  env:\n    1A: x\n    OK_1: y\n  workdir: src\n  exposedPorts: [\"80\", \"70000\", 53/udp, 80/tcp, x, \"0\"]\n  labels:\n    \"\": x\n",
			want: []want{
				{6, 5, "config.env.1A", `invalid environment variable name "1A"`},
				{8, 12, "config.workdir", `workdir must be an absolute path, found "src"`},
				{9, 24, "config.exposedPorts[1]", `invalid port "70000"`},
				{9, 41, "config.exposedPorts[3]", `duplicate port "80/tcp" (already at config.exposedPorts[0])`},
				{9, 49, "config.exposedPorts[4]", `invalid port "x"`},
				{9, 52, "config.exposedPorts[5]", `invalid port "0"`},
				{11, 5, `config.labels[""]`, "label keys must not be empty"},
			}},
		{name: "image config", src: "images:\n  ssh:\n    config:\n      exposedPorts: [22/icmp]\n", want: []want{{7, 22, "images.ssh.config.exposedPorts[0]", `invalid port "22/icmp"`}}},

		// Several problems at once, reported in source order.
		{name: "many", src: "layers: 0x100\npackages: [\"a b\"]\nnix: 2\n",
			want: []want{
				{4, 9, "layers", "found 256"},
				{5, 12, "packages[0]", "invalid package attribute path"},
				{6, 6, "nix.version", `invalid Nix version "2"`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !tt.noBase {
				src = base + src
			}
			s, err := Parse("nix-image.yaml", []byte(src))
			if s != nil {
				t.Errorf("Parse returned a spec along with error %v", err)
			}
			checkErrors(t, err, tt.want)
		})
	}
}

// Nested merge keys expand exponentially; the node budget stops them.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(base + "x-0: &a0 {layers: 1}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("images:\n  default:\n    <<: *a12\n")
	start := time.Now()
	_, err := Parse("nix-image.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Errorf("error = %v, want document too large", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "f.yaml", Pos: Pos{3, 5}, Path: "nix.url", Msg: "bad"}, "f.yaml:3:5: nix.url: bad"},
		{&Error{File: "f.yaml", Pos: Pos{1, 1}, Msg: "empty spec"}, "f.yaml:1:1: empty spec"},
		{&Error{Path: "build-arg:NIX_URL", Msg: "bad"}, "build-arg:NIX_URL: bad"},
		{&Error{File: "f.yaml", Path: "build-arg:NIX_URL", Msg: "bad"}, "f.yaml: build-arg:NIX_URL: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	l := ErrorList{tests[0].err, tests[2].err}
	if got, want := l.Error(), "f.yaml:3:5: nix.url: bad\nbuild-arg:NIX_URL: bad"; got != want {
		t.Errorf("ErrorList.Error() = %q, want %q", got, want)
	}
}

const validSpec = `# syntax=ghcr.io/nix-image/frontend:v1
version: 1
x-common: &common
  LANG: C.UTF-8
nix:
  version: 2.31.1
  releases: https://mirror.example.com/nix
  x-note: ignored
nixpkgs:
  url: ` + nixpkgsURL + `
  sha256: ` + helloBase32 + `
system:
  packages: [git, bashInteractive, coreutils, cacert, shadow, tzdata]
packages:
  - ripgrep
  - python3Packages.requests
substituters: [https://cache.example.org, https://cache.nixos.org]
trustedPublicKeys:
  - ` + otherKey + `
  - ` + DefaultTrustedPublicKey + `
nixConfig:
  max-jobs: auto
  sandbox: "false"
layers: 50
config:
  env:
    <<: *common
    PAGER: less
  labels:
    org.opencontainers.image.title: nix
  exposedPorts: ["8080"]
images:
  x-later: {}
  default:
    defaultPackages: false
    packages: [htop]
    config:
      cmd: [bash, -l]
  ssh:
    packages: [ripgrep, tmux]
    authorizedKeys:
      - ` + aliceKey + `
    layers: 20
    nixConfig:
      max-jobs: "4"
      trusted-users: root
    config:
      env: {PAGER: more}
      workdir: /root
`

func TestParseValid(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(validSpec))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	f := false
	want := &Spec{
		Version:           1,
		Nix:               Nix{Version: "2.31.1", Releases: "https://mirror.example.com/nix"},
		Nixpkgs:           Nixpkgs{URL: nixpkgsURL, SHA256: helloHex},
		System:            System{Nix: SystemNixRelease, Packages: []string{"git", "bashInteractive", "coreutils", "cacert", "shadow", "tzdata"}},
		Packages:          []string{"ripgrep", "python3Packages.requests"},
		Substituters:      []string{"https://cache.example.org", "https://cache.nixos.org"},
		TrustedPublicKeys: []string{otherKey, DefaultTrustedPublicKey},
		NixConfig:         map[string]string{"max-jobs": "auto", "sandbox": "false"},
		Layers:            50,
		Config: ImageConfig{
			Env:          map[string]string{"LANG": "C.UTF-8", "PAGER": "less"},
			Labels:       map[string]string{"org.opencontainers.image.title": "nix"},
			ExposedPorts: []string{"8080/tcp"},
		},
		Images: map[string]Image{
			"default": {DefaultPackages: &f, Packages: []string{"htop"}, Config: ImageConfig{Cmd: []string{"bash", "-l"}}},
			"ssh": {
				Packages:       []string{"ripgrep", "tmux"},
				AuthorizedKeys: []string{aliceKey},
				Layers:         20,
				NixConfig:      map[string]string{"max-jobs": "4", "trusted-users": "root"},
				Config:         ImageConfig{Env: map[string]string{"PAGER": "more"}, WorkingDir: "/root"},
			},
		},
	}
	s.src = nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", s, want)
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 {
		t.Errorf("Version = %d", s.Version)
	}
	if !reflect.DeepEqual(s.Nix, Nix{Version: DefaultNixVersion, Releases: DefaultNixReleases}) {
		t.Errorf("Nix = %+v", s.Nix)
	}
	if s.Layers != DefaultLayers {
		t.Errorf("Layers = %d", s.Layers)
	}
	if !reflect.DeepEqual(s.System.Packages, DefaultSystemPackages) {
		t.Errorf("System.Packages = %v", s.System.Packages)
	}
	if !reflect.DeepEqual(s.Substituters, []string{DefaultSubstituter}) || !reflect.DeepEqual(s.TrustedPublicKeys, []string{DefaultTrustedPublicKey}) {
		t.Errorf("caches = %v %v", s.Substituters, s.TrustedPublicKeys)
	}

	// An explicit empty list means no binary cache; null means absent.
	s, err = Parse("nix-image.yaml", []byte(base+"substituters: []\ntrustedPublicKeys:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Substituters == nil || len(s.Substituters) != 0 || !reflect.DeepEqual(s.TrustedPublicKeys, []string{DefaultTrustedPublicKey}) {
		t.Errorf("caches = %#v %#v", s.Substituters, s.TrustedPublicKeys)
	}

	// A Nix tarball by url gets no version or releases.
	s, err = Parse("nix-image.yaml", []byte(base+"nix:\n  url: https://e.com/nix.tar.xz\n  sha256: "+helloSRI+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Nix, Nix{URL: "https://e.com/nix.tar.xz", SHA256: helloHex}) {
		t.Errorf("Nix = %+v", s.Nix)
	}

	// A url with {system} gets a sha256 per system, normalised.
	s, err = Parse("nix-image.yaml", []byte(base+"nix:\n  url: https://e.com/nix-{system}.tar.xz\n  sha256:\n    x86_64-linux: "+helloSRI+"\n    aarch64-linux: "+helloBase32+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Nix{URL: "https://e.com/nix-{system}.tar.xz", SystemSHA256: map[string]string{"x86_64-linux": helloHex, "aarch64-linux": helloHex}}
	if !reflect.DeepEqual(s.Nix, want) {
		t.Errorf("Nix = %+v", s.Nix)
	}
	if got := s.Nix.SystemURL("aarch64-linux"); got != "https://e.com/nix-aarch64-linux.tar.xz" {
		t.Errorf("SystemURL = %s", got)
	}
	if pos, ok := s.Position("nix.sha256.aarch64-linux"); !ok || pos.Line != 8 {
		t.Errorf("Position(nix.sha256.aarch64-linux) = %v %v", pos, ok)
	}
}

func TestPosition(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(validSpec))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		pos  Pos
		ok   bool
	}{
		{"nix.version", Pos{6, 12}, true},
		{"nixpkgs.url", Pos{10, 8}, true},
		{"nixpkgs", Pos{9, 1}, true},
		{"system.packages[0]", Pos{13, 14}, true},
		{"packages[1]", Pos{16, 5}, true},
		{"nixConfig.sandbox", Pos{23, 3}, true},
		{`config.labels["org.opencontainers.image.title"]`, Pos{30, 5}, true},
		// Merged from the x-common anchor: the anchor's line.
		{"config.env.LANG", Pos{4, 3}, true},
		{"images.default.packages[0]", Pos{36, 16}, true},
		{"images.ssh", Pos{39, 3}, true},
		{"images.ssh.authorizedKeys[0]", Pos{42, 9}, true},
		{"nix.url", Pos{}, false},
		{"x-common", Pos{}, false},
	}
	for _, tt := range tests {
		pos, ok := s.Position(tt.path)
		if pos != tt.pos || ok != tt.ok {
			t.Errorf("Position(%q) = %v, %v; want %v, %v", tt.path, pos, ok, tt.pos, tt.ok)
		}
	}
	// A bare version points at the scalar.
	s, err = Parse("nix-image.yaml", []byte(base+"nix: 2.30.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pos, ok := s.Position("nix.version"); pos != (Pos{4, 6}) || !ok {
		t.Errorf("Position(nix.version) = %v, %v", pos, ok)
	}
}

// TestParseNixpkgs checks the two kinds of pin and the nixpkgs config.
func TestParseNixpkgs(t *testing.T) {
	yes := true
	tests := []struct {
		name, src string
		want      Nixpkgs
	}{
		{"sha256", base, Nixpkgs{URL: nixpkgsURL, SHA256: helloHex}},
		{"narHash SRI", "nixpkgs:\n  url: " + nixpkgsURL + "\n  narHash: " + helloSRI + "\n", Nixpkgs{URL: nixpkgsURL, NarHash: helloSRI}},
		// nix-prefetch-url --unpack prints base32.
		{"narHash base32", "nixpkgs:\n  url: " + nixpkgsURL + "\n  narHash: " + helloBase32 + "\n", Nixpkgs{URL: nixpkgsURL, NarHash: helloSRI}},
		{"config", base + "  config:\n    allowUnfree: true\n    allowBroken: true\n    permittedInsecurePackages: [openssl-1.1.1w, python-2.7.18.8]\n",
			Nixpkgs{URL: nixpkgsURL, SHA256: helloHex, Config: NixpkgsConfig{AllowUnfree: &yes, AllowBroken: &yes,
				PermittedInsecurePackages: []string{"openssl-1.1.1w", "python-2.7.18.8"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("nix-image.yaml", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(s.Nixpkgs, tc.want) {
				t.Errorf("nixpkgs = %+v, want %+v", s.Nixpkgs, tc.want)
			}
		})
	}
}
