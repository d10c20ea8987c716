package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// sbomSpec installs packages whose licenses cover the cases: one SPDX id
// (hello, jq), a list (xz), none with an SPDX id (sqlite: publicDomain).
const sbomSpec = minimalSpec + "packages: [hello, jq, xz, sqlite]\n"

// wantLicenses are the licenses the offline package set's meta gives the
// requested packages (hack/mirror/nixpkgs/default.nix), by attribute.
var wantLicenses = map[string]string{
	"nix": "LGPL-2.1-or-later", "bashInteractive": "GPL-3.0-or-later", "coreutils": "GPL-3.0-or-later",
	"cacert": "MPL-2.0", "shadow": "BSD-3-Clause",
	"hello": "GPL-3.0-or-later", "jq": "MIT", "xz": "GPL-2.0-or-later AND LGPL-2.1-or-later", "sqlite": "LicenseRef-publicDomain",
}

// TestSBOM pushes a `docker buildx build --sbom=true` build to the
// registry and reads its attestation back: an SPDX document the frontend
// made, without BuildKit's scanner, whose packages are exactly the store
// paths the image's Nix DB registers, with their NAR hashes, a DEPENDS_ON
// per reference, DESCRIBES for the roots and the requested packages'
// licenses. A rebuild from scratch gives the same attestation; a build
// without --sbom pushes a single image manifest, as before.
func TestSBOM(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, sbomSpec, nil)
	repo := e.RegistryAddr + "/sbom/nix"
	// The README's command (--sbom=true replaced by sbomFlag, dropped
	// when it is ""), pushed to repo:tag and also exported as an OCI
	// archive to run.
	build := func(t *testing.T, tag, sbomFlag string) (*testenv.BuildResult, string) {
		t.Helper()
		cmds := readmeCommands(t, "SBOM attestations", repo+":"+tag)
		cmd := slices.DeleteFunc(slices.Clone(cmds[0]), func(a string) bool { return a == "--sbom=true" })
		if len(cmd) != len(cmds[0])-1 {
			t.Fatalf("README: the SBOM command has no --sbom=true: %q", cmds[0])
		}
		if sbomFlag != "" {
			cmd = withArgs(cmd, sbomFlag)
		}
		oci := filepath.Join(t.TempDir(), "image.oci.tar")
		cmd = withArgs(cmd, append([]string{"--platform", "linux/amd64", "-o", "type=oci,dest=" + oci}, buildxMirrorArgs(m)...)...)
		res, err := e.BuildxJSON(ctx, dir, cmd...)
		if err != nil {
			t.Fatalf("docker buildx build: %v\n%s", err, lastLines(res.Progress.Output("realise"), 30))
		}
		return res, oci
	}

	res, oci := build(t, "sbom", "--sbom=true")
	for _, v := range res.Progress.Vertices {
		if strings.Contains(v.Name, "generating sbom using") || strings.Contains(v.Name, "buildkit-syft-scanner") {
			t.Errorf("BuildKit's scanner ran: vertex %q", v.Name)
		}
	}
	// The spec names the frontend by tag: the build warns, as
	// --call check does.
	warned := false
	for _, w := range res.Progress.Warnings {
		warned = warned || strings.HasPrefix(string(w.Short), "FrontendNotPinned: ")
	}
	if !warned {
		t.Errorf("no FrontendNotPinned build warning: %+v", res.Progress.Warnings)
	}
	if len(res.Progress.Find("[nix-image] SBOM of the closure")) == 0 {
		t.Errorf("no [nix-image] SBOM step in the progress: %v", vertexNames(res.Progress.Vertices))
	}
	att := readSBOMAttestation(t, repo+":sbom")
	if len(att.layers) != 1 {
		t.Fatalf("attestation manifest has %d SPDX layers, want 1", len(att.layers))
	}
	doc := att.docs[0]
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo == nil || doc.CreationInfo.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("document: version %q, creation %+v; want SPDX-2.3 created at SOURCE_DATE_EPOCH 0", doc.SPDXVersion, doc.CreationInfo)
	}

	// The closure as the image registers it, and as its store holds it.
	script := `nix-store --dump-db; echo ===; ls /nix/store; echo ===;
for l in /run/current-system/sw /root/.nix-profile /nix/var/nix/profiles/per-user/root/channels; do readlink -f $l; done; echo ===;
for p in hello jq xz sqlite3; do readlink -f /root/.nix-profile/bin/$p; done; echo ===;
for p in nix bash ls env useradd; do readlink -f /run/current-system/sw/bin/$p 2>/dev/null; done; readlink -f /run/current-system/sw/etc/ssl/certs/ca-bundle.crt`
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: oci, Args: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatalf("reading the image's closure: %v\n%s", err, stderr)
	}
	parts := strings.Split(stdout, "===\n")
	if len(parts) != 5 {
		t.Fatalf("unexpected output:\n%s", stdout)
	}
	infos, err := nixstep.ParseRegistration(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var storeDir []string
	for _, n := range strings.Fields(parts[1]) {
		storeDir = append(storeDir, "/nix/store/"+n)
	}
	byPath := map[string]*spdx.Package{}
	for _, p := range doc.Packages {
		if byPath[p.PackageFileName] != nil {
			t.Errorf("store path %s has two packages", p.PackageFileName)
		}
		byPath[p.PackageFileName] = p
	}
	var regPaths, spdxPaths []string
	for _, i := range infos {
		regPaths = append(regPaths, i.Path)
	}
	for p := range byPath {
		spdxPaths = append(spdxPaths, p)
	}
	sort.Strings(spdxPaths)
	sort.Strings(storeDir)
	if !slices.Equal(spdxPaths, regPaths) || !slices.Equal(regPaths, storeDir) {
		t.Fatalf("SPDX packages (%d), registered paths (%d) and /nix/store (%d) differ:\nSPDX %v\nDB %v\nstore %v",
			len(spdxPaths), len(regPaths), len(storeDir), spdxPaths, regPaths, storeDir)
	}
	idOf := map[string]string{}
	for _, p := range doc.Packages {
		idOf[p.PackageFileName] = "SPDXRef-" + string(p.PackageSPDXIdentifier)
	}
	rels := map[string]bool{}
	for _, r := range doc.Relationships {
		a, _ := json.Marshal(r.RefA)
		b, _ := json.Marshal(r.RefB)
		rels[fmt.Sprintf("%s %s %s", strings.Trim(string(a), `"`), r.Relationship, strings.Trim(string(b), `"`))] = true
	}
	want := map[string]bool{}
	for _, i := range infos {
		p := byPath[i.Path]
		sum, err := spec.SHA256Hex(i.NarHash)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.PackageChecksums) != 1 || p.PackageChecksums[0].Algorithm != "SHA256" || p.PackageChecksums[0].Value != sum {
			t.Errorf("%s: checksums %+v, want SHA256 %s (the NAR hash)", i.Path, p.PackageChecksums, sum)
		}
		if len(p.PackageExternalReferences) != 1 || !strings.HasPrefix(p.PackageExternalReferences[0].Locator, "pkg:nix/"+p.PackageName) {
			t.Errorf("%s: external refs %+v, want purl pkg:nix/%s@...", i.Path, p.PackageExternalReferences, p.PackageName)
		}
		for _, ref := range i.References {
			if ref != i.Path {
				want[idOf[i.Path]+" DEPENDS_ON "+idOf[ref]] = true
			}
		}
	}
	for _, root := range strings.Fields(parts[2]) {
		want["SPDXRef-DOCUMENT DESCRIBES "+idOf[root]] = true
	}
	t.Logf("SPDX document: %d packages, %d relationships, %d bytes of in-toto statement",
		len(doc.Packages), len(doc.Relationships), len(att.statements[0]))
	if len(want) < len(infos) {
		t.Fatalf("only %d relationships expected for %d paths: the closure is too small to test", len(want), len(infos))
	}
	for r := range want {
		if !rels[r] {
			t.Errorf("missing relationship %s", r)
		}
	}
	for r := range rels {
		if !want[r] {
			t.Errorf("relationship %s matches no reference or root", r)
		}
	}

	// Licenses of the requested packages, found through the profiles.
	attrsOf := []string{"hello", "jq", "xz", "sqlite", "nix", "bashInteractive", "coreutils", "coreutils", "shadow", "cacert"}
	targets := append(strings.Fields(parts[3]), strings.Fields(parts[4])...)
	if len(targets) != len(attrsOf) {
		t.Fatalf("profile links %v, want %d", targets, len(attrsOf))
	}
	for i, target := range targets {
		attr := attrsOf[i]
		root := strings.Join(strings.SplitN(target, "/", 5)[:4], "/")
		p := byPath[root]
		if p == nil {
			t.Errorf("%s: %s has no package", attr, root)
			continue
		}
		if p.PackageLicenseDeclared != wantLicenses[attr] {
			t.Errorf("%s (%s): license %q, want %q", attr, root, p.PackageLicenseDeclared, wantLicenses[attr])
		}
		// The system profile's Nix is the release's, not nixpkgs'.
		source := "nixpkgs attribute " + attr
		if attr == "nix" {
			source = "the Nix release " + m.URL + "/nix/nix-" + m.Vars["NIX_VERSION"] + "/nix-" + m.Vars["NIX_VERSION"] + "-x86_64-linux.tar.xz"
		}
		if !strings.HasPrefix(p.PackageHomePage, "https://") || !strings.HasPrefix(p.PackageSourceInfo, source) {
			t.Errorf("%s: homepage %q, source info %q", attr, p.PackageHomePage, p.PackageSourceInfo)
		}
		name, version := p.PackageName, p.PackageVersion
		if base := filepath.Base(root)[33:]; base != name+"-"+version {
			t.Errorf("%s: name %q version %q, want the derivation's %s", attr, name, version, base)
		}
	}
	if len(doc.OtherLicenses) != 1 || doc.OtherLicenses[0].LicenseIdentifier != "LicenseRef-publicDomain" {
		t.Errorf("other licenses %+v, want LicenseRef-publicDomain", doc.OtherLicenses)
	}

	t.Run("imagetools inspect shows it", func(t *testing.T) {
		stdout, stderr, err := e.Buildx(ctx, "", "imagetools", "inspect", repo+":sbom", "--format", "{{ json .SBOM }}")
		if err != nil {
			t.Fatalf("docker buildx imagetools inspect: %v\n%s", err, stderr)
		}
		var got struct {
			SPDX spdx.Document `json:"SPDX"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("imagetools inspect: %v\n%s", err, stdout)
		}
		if got.SPDX.DocumentNamespace != doc.DocumentNamespace || len(got.SPDX.Packages) != len(doc.Packages) {
			t.Errorf("imagetools inspect shows namespace %q with %d packages, want %q with %d",
				got.SPDX.DocumentNamespace, len(got.SPDX.Packages), doc.DocumentNamespace, len(doc.Packages))
		}
	})

	t.Run("a rebuild on an empty cache gives the same attestation", func(t *testing.T) {
		// An empty build cache (cache mounts too): the closure is
		// realised again. The same tag: the in-toto subject names it.
		if _, stderr, err := e.Buildx(ctx, "", "prune", "--all", "--force"); err != nil {
			t.Fatalf("docker buildx prune: %v\n%s", err, stderr)
		}
		res, _ := build(t, "sbom", "--sbom=true")
		if len(res.Progress.ExecutedSteps("[nix-image] realise")) == 0 {
			t.Fatalf("the rebuild did not realise the closure again: %v", vertexNames(res.Progress.Vertices))
		}
		again := readSBOMAttestation(t, repo+":sbom")
		if again.manifest != att.manifest || !slices.Equal(again.layers, att.layers) {
			t.Errorf("attestation manifest %s, SPDX layers %v; first build: %s, %v", again.manifest, again.layers, att.manifest, att.layers)
			if len(again.statements) == 1 {
				t.Errorf("first statement:\n%s\nsecond:\n%s", diffLines(att.statements[0], again.statements[0]), diffLines(again.statements[0], att.statements[0]))
			}
		}
	})

	// A scanner the user names runs as well, on the image: a stand-in
	// built FROM the image just pushed, which counts the store paths it
	// is shown.
	t.Run("a user's scanner runs as well", func(t *testing.T) {
		scanner := e.RegistryAddr + "/sbom/scanner:1"
		sdir := t.TempDir()
		files := map[string]string{
			"Dockerfile": "FROM " + repo + ":sbom\nCOPY scan.sh /scan.sh\nCMD [\"/bin/sh\", \"/scan.sh\"]\n",
			"scan.sh": `n=$(ls "$BUILDKIT_SCAN_SOURCE/nix/store" | wc -l)
printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"test-scanner saw %s store paths","documentNamespace":"https://example.com/scan","creationInfo":{"creators":["Tool: test-scanner"],"created":"1970-01-01T00:00:00Z"}}}' "$n" >"$BUILDKIT_SCAN_DESTINATION/scan.spdx.json"
`,
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(sdir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, stderr, err := e.Buildx(ctx, sdir, "build", "--provenance=false", "-t", scanner, "--push", "."); err != nil {
			t.Fatalf("building the scanner image: %v\n%s", err, stderr)
		}
		res, _ := build(t, "scanned", "--sbom=generator="+scanner)
		if len(res.Progress.Find("generating sbom using "+scanner)) == 0 {
			t.Errorf("no scanner step in the progress: %v", vertexNames(res.Progress.Vertices))
		}
		scanned := readSBOMAttestation(t, repo+":scanned")
		var names []string
		for _, d := range scanned.docs {
			names = append(names, d.DocumentName)
		}
		sort.Strings(names)
		want := []string{"nix-image default linux/amd64", fmt.Sprintf("test-scanner saw %d store paths", len(infos))}
		if !slices.Equal(names, want) {
			t.Errorf("SPDX documents %q, want %q", names, want)
		}
	})

	t.Run("without sbom a single manifest", func(t *testing.T) {
		res, _ := build(t, "plain", "")
		// Asking for an SBOM changed no step's cache key.
		if v := res.Progress.ExecutedSteps("[nix-image] realise"); len(v) != 0 {
			t.Errorf("the build without --sbom realised the closure again: %v", vertexNames(v))
		}
		mt, body := getManifest(t, repo+":plain")
		if mt != ocispecs.MediaTypeImageManifest {
			t.Errorf("media type %s, want a single image manifest %s:\n%s", mt, ocispecs.MediaTypeImageManifest, body)
		}
		// The SBOM build's index holds the very same image.
		_, index := getManifest(t, repo+":sbom")
		var idx ocispecs.Index
		if err := json.Unmarshal(index, &idx); err != nil {
			t.Fatal(err)
		}
		plain := digest.FromBytes(body)
		var images []string
		for _, d := range idx.Manifests {
			if d.Annotations["vnd.docker.reference.type"] == "" {
				images = append(images, d.Digest.String())
			}
		}
		if len(images) != 1 || images[0] != plain.String() {
			t.Errorf("images of the --sbom build %v, want the build without it, %s", images, plain)
		}
	})
}

// sbomAttestation is what a pushed image's attestation manifest holds.
type sbomAttestation struct {
	manifest string
	layers   []string
	docs     []*spdx.Document
	// statements are the in-toto statements, as pushed.
	statements []string
}

// readSBOMAttestation follows REF's index to its attestation manifest and
// reads the SPDX documents of its in-toto layers.
func readSBOMAttestation(t *testing.T, ref string) sbomAttestation {
	t.Helper()
	mt, body := getManifest(t, ref)
	if mt != ocispecs.MediaTypeImageIndex {
		t.Fatalf("%s: media type %s, want an index with an attestation manifest", ref, mt)
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	repo := ref[:strings.LastIndex(ref, ":")]
	var out sbomAttestation
	for _, d := range idx.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			continue
		}
		out.manifest = d.Digest.String()
		_, body := getManifest(t, repo+"@"+out.manifest)
		var man ocispecs.Manifest
		if err := json.Unmarshal(body, &man); err != nil {
			t.Fatal(err)
		}
		for _, l := range man.Layers {
			if l.Annotations["in-toto.io/predicate-type"] != "https://spdx.dev/Document" {
				continue
			}
			out.layers = append(out.layers, l.Digest.String())
			var stmt struct {
				PredicateType string          `json:"predicateType"`
				Predicate     json.RawMessage `json:"predicate"`
			}
			blob := getBlob(t, repo, l.Digest.String())
			out.statements = append(out.statements, string(blob))
			if err := json.Unmarshal(blob, &stmt); err != nil {
				t.Fatalf("in-toto statement %s: %v", l.Digest, err)
			}
			var doc spdx.Document
			if err := json.Unmarshal(stmt.Predicate, &doc); err != nil {
				t.Fatalf("SPDX document %s: %v", l.Digest, err)
			}
			out.docs = append(out.docs, &doc)
		}
	}
	if out.manifest == "" {
		t.Fatalf("%s: no attestation manifest in %s", ref, body)
	}
	return out
}

// getManifest GETs a manifest or index (REPO:TAG or REPO@DIGEST, REPO
// with the registry host) and returns its media type and body.
func getManifest(t *testing.T, ref string) (string, []byte) {
	t.Helper()
	host, rest, _ := strings.Cut(ref, "/")
	name, tag, ok := strings.Cut(rest, "@")
	if !ok {
		i := strings.LastIndex(rest, ":")
		name, tag = rest[:i], rest[i+1:]
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+host+"/v2/"+name+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", strings.Join([]string{ocispecs.MediaTypeImageIndex, ocispecs.MediaTypeImageManifest,
		"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json"}, ", "))
	body, mt := httpGet(t, req)
	return mt, body
}

func getBlob(t *testing.T, repo, digest string) []byte {
	t.Helper()
	host, name, _ := strings.Cut(repo, "/")
	req, err := http.NewRequest(http.MethodGet, "http://"+host+"/v2/"+name+"/blobs/"+digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := httpGet(t, req)
	return body
}

func httpGet(t *testing.T, req *http.Request) ([]byte, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", req.URL, resp.Status, err, body)
	}
	return body, resp.Header.Get("Content-Type")
}

// diffLines returns the lines of a that b lacks, at most 20.
func diffLines(a, b string) string {
	have := map[string]bool{}
	for _, l := range strings.Split(b, "\n") {
		have[l] = true
	}
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !have[l] && len(out) < 20 {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
