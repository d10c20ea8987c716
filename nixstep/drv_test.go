package nixstep

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseDerivation(t *testing.T) {
	drv := `Derive([("out","/nix/store/aaa-hello-2.12","",""),("man","/nix/store/bbb-hello-2.12-man","","")],` +
		`[("/nix/store/ccc-hello-2.12.tar.gz.drv",["out"]),("/nix/store/ddd-bash.drv",["out"])],["/nix/store/eee-builder.sh"],` +
		`"x86_64-linux","/nix/store/fff-bash/bin/bash",["-e","/nix/store/eee-builder.sh"],` +
		`[("name","hello-2.12"),("pname","hello"),("version","2.12"),("src","/nix/store/ggg-hello-2.12.tar.gz"),("script","echo \"a\\b\"\nline\ttab")])`
	d, err := parseDerivation(drv)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/nix/store/aaa-hello-2.12", "/nix/store/bbb-hello-2.12-man"}; !reflect.DeepEqual(d.outputs, want) {
		t.Errorf("outputs = %v, want %v", d.outputs, want)
	}
	if want := []string{"/nix/store/ccc-hello-2.12.tar.gz.drv", "/nix/store/ddd-bash.drv"}; !reflect.DeepEqual(d.inputDrvs, want) {
		t.Errorf("inputDrvs = %v, want %v", d.inputDrvs, want)
	}
	if got, want := d.env["script"], "echo \"a\\b\"\nline\ttab"; got != want {
		t.Errorf("escaped env value = %q, want %q", got, want)
	}
	if d.env["pname"] != "hello" || d.env["version"] != "2.12" {
		t.Errorf("env = %v", d.env)
	}
	structured, err := parseDerivation(`Derive([("out","/nix/store/aaa-jq-1.7","","")],[],[],"x86_64-linux","/bin/sh",[],` +
		`[("__json","{\"pname\":\"jq\",\"version\":\"1.7\",\"urls\":[\"https://a.example/jq.tar.gz\",\"https://b.example/jq.tar.gz\"],\"n\":1}"),("out","/nix/store/aaa-jq-1.7")])`)
	if err != nil {
		t.Fatal(err)
	}
	if e := structured.env; e["pname"] != "jq" || e["version"] != "1.7" || e["urls"] != "https://a.example/jq.tar.gz https://b.example/jq.tar.gz" {
		t.Errorf("structured attrs: env = %v", e)
	}
	for _, bad := range []string{"", "Derive(", `Derive(["a"`, `Derive([],[],[],"s","b",[],[]) x`, `Other([],[],[],"s","b",[],[])`, `Derive([],[])`} {
		if _, err := parseDerivation(bad); err == nil {
			t.Errorf("parseDerivation(%q) succeeded", bad)
		}
	}
}

// TestReadDerivations follows input derivations to the fetcher of a
// package's src, and skips derivers missing from the store.
func TestReadDerivations(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, data string) {
		if err := os.WriteFile(p(name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("src.drv", `Derive([("out","`+p("hello-2.12.tar.gz")+`","sha256","abc")],[],[],"builtin","builtin:fetchurl",[],`+
		`[("name","hello-2.12.tar.gz"),("urls","mirror://gnu/hello/hello-2.12.tar.gz https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz")])`)
	write("hello.drv", `Derive([("out","`+p("hello-2.12")+`","","")],[("`+p("src.drv")+`",["out"])],[],"x86_64-linux","/bin/sh",[],`+
		`[("name","hello-2.12"),("pname","hello"),("version","2.12"),("src","`+p("hello-2.12.tar.gz")+`")])`)
	write("env.drv", `Derive([("out","`+p("user-environment")+`","","")],[("`+p("hello.drv")+`",["out"])],[],"x86_64-linux","builtin:buildenv",[],[("name","user-environment")])`)
	want := map[string]bool{p("hello-2.12"): true, p("user-environment"): true, p("glibc-2.36"): true}
	got := readDerivations(os.DirFS("/"), []string{p("env.drv"), p("missing.drv")}, want)
	exp := map[string]DrvInfo{
		p("hello-2.12"): {Name: "hello-2.12", Pname: "hello", Version: "2.12",
			URLs: []string{"mirror://gnu/hello/hello-2.12.tar.gz", "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz"}},
		p("user-environment"): {Name: "user-environment"},
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("ReadDerivations =\n%v\nwant\n%v", got, exp)
	}
}

// TestReadDerivationsOfNix reads .drv files as the host's Nix writes them
// (instantiated into a chroot store): a package, the fixed-output
// derivation of its src with its urls, and the store path of a package
// whose .drv is missing.
func TestReadDerivationsOfNix(t *testing.T) {
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Fatalf("nix-instantiate (Debian's nix-bin, make deps): %v", err)
	}
	root := t.TempDir()
	src, err := filepath.Abs("testdata/meta-nixpkgs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix-instantiate", "--store", "local?root="+root, src, "-A", "withsrc")
	cmd.Env = []string{"HOME=" + root, "NIX_STATE_DIR=" + filepath.Join(root, "state"), "NIX_CONF_DIR=" + root, "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	drv := strings.TrimSpace(string(out))
	d, err := parseDerivation(readFile(t, filepath.Join(root, drv)))
	if err != nil {
		t.Fatal(err)
	}
	outPath := d.outputs[0]
	missing := "/nix/store/00000000000000000000000000000000-missing-1"
	got := readDerivations(os.DirFS(root), []string{drv, "/nix/store/00000000000000000000000000000000-missing-1.drv"},
		map[string]bool{outPath: true, missing: true})
	want := map[string]DrvInfo{outPath: {Name: "withsrc-1.0", Pname: "withsrc", Version: "1.0",
		URLs: []string{"https://a.example/withsrc-1.0.tar.gz", "https://b.example/withsrc-1.0.tar.gz"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readDerivations = %+v, want %+v", got, want)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
