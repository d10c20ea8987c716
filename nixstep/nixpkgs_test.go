package nixstep

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	// Expectations from Nix's builtins.compareVersions.
	tests := []struct {
		a, b string
		want int
	}{
		{"2.3.17", "2.8.0", -1},
		{"2.18", "2.8.0", 1},
		{"2.8.0", "2.8.0", 0},
		{"2.8", "2.8.0", -1},
		{"2.4pre20210601", "2.4", -1},
		{"2.4pre", "2.4", -1},
		{"2.3a", "2.3.1", -1},
		{"2.33.3", "2.33.3-rc1", -1},
		{"1.0", "1.0-pre", 1},
		{"10.0", "9.9", 1},
	}
	for _, tc := range tests {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestParseMinver(t *testing.T) {
	tests := []struct {
		src, want string
		ok        bool
	}{
		// nixpkgs' own file.
		{"# Expose the minimum required version for evaluating Nixpkgs\n\"2.3.17\"\n", "2.3.17", true},
		{"/* old style */ \"2.2\"", "2.2", true},
		{"\"2.3\" + \"1\"", "", false},
		{"builtins.nixVersion", "", false},
	}
	for _, tc := range tests {
		got, ok := parseMinver(tc.src)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMinver(%q) = %q, %v; want %q, %v", tc.src, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNixpkgsConfigNix(t *testing.T) {
	got, err := nixpkgsConfigNix(json.RawMessage(`{"permittedInsecurePackages":["openssl-1.1.1w","a\"${b}\\"],"allowUnfree":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  allowUnfree = true;
  permittedInsecurePackages = [
    "openssl-1.1.1w"
    "a\"\${b}\\"
  ];
}
`
	if !strings.HasSuffix(got, want) || !strings.HasPrefix(got, "# Written by nix-image") {
		t.Errorf("config.nix =\n%s\nwant it to end with\n%s", got, want)
	}
	for _, empty := range []string{"", "{}"} {
		if got, err := nixpkgsConfigNix(json.RawMessage(empty)); got != "" || err != nil {
			t.Errorf("config %q: %q, %v; want no file", empty, got, err)
		}
	}
}

func TestRefusal(t *testing.T) {
	pkg := Package{Attr: "hello-unfree", Where: "nix-image.yaml:9:5 (packages[0])"}
	tests := []struct {
		name, config string
		st           attrStatus
		want         string
	}{
		{"unfree", ``, attrStatus{Name: "hello-unfree-1.0", Unfree: []string{"unfree"}},
			`nix-image.yaml:9:5 (packages[0]): package "hello-unfree" (hello-unfree-1.0) has an unfree license (unfree): set nixpkgs.config.allowUnfree: true`},
		{"insecure", `{"allowUnfree":true}`, attrStatus{Name: "hello-unfree-1.0", Unfree: []string{"unfree"}, Vulns: []string{"CVE-1"}},
			`is marked as insecure (known issues: CVE-1): add "hello-unfree-1.0" to nixpkgs.config.permittedInsecurePackages`},
		{"broken", `{"permittedInsecurePackages":["hello-unfree-1.0"]}`, attrStatus{Name: "hello-unfree-1.0", Vulns: []string{"CVE-1"}, Broken: true},
			`is marked as broken: set nixpkgs.config.allowBroken: true`},
		{"allowed but refused: nixpkgs' own error", `{"allowBroken":true}`, attrStatus{Name: "x-1", Broken: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &realiser{cfg: RealiseConfig{NixpkgsConfig: json.RawMessage(tc.config)}}
			got := r.refusal(pkg, tc.st)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("refusal = %q, want %q", got, tc.want)
			}
		})
	}
}
