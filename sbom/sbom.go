// Package sbom turns the closure the realise step wrote (nixstep.Closure
// and nixstep.Meta) into an SPDX 2.3 document: one package per store path,
// DEPENDS_ON relationships from the references and DESCRIBES for the
// image's roots. The same closure and options give the same bytes, so the
// attestation of a rebuilt image keeps its digest.
package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// Filename is the attestation's file in the result the frontend returns.
const Filename = "sbom.spdx.json"

// Creator names the tool in the document's creation info.
const Creator = "nix-image"

const noAssertion = "NOASSERTION"

// Options name and date a document.
type Options struct {
	// Name is the document's name, e.g. "nix-image default linux/amd64".
	Name string
	// Created is the document's creation time: the build's
	// SOURCE_DATE_EPOCH, never the clock.
	Created time.Time
}

// Document describes the closure c. meta may be nil (an older realise
// step): names then come from the store paths alone.
func Document(c *nixstep.Closure, meta *nixstep.Meta, opt Options) (*spdx.Document, error) {
	if meta == nil {
		meta = &nixstep.Meta{}
	}
	requested := map[string]*nixstep.PackageMeta{}
	for i := range meta.Packages {
		for _, o := range meta.Packages[i].Outputs {
			if _, ok := requested[o]; !ok {
				requested[o] = &meta.Packages[i]
			}
		}
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      opt.Name,
		DocumentNamespace: "https://spdx.org/spdxdocs/nix-image-" + closureHash(c),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: Creator}},
			Created:  opt.Created.UTC().Format(time.RFC3339),
		},
	}
	ids := map[string]common.ElementID{}
	for _, p := range c.Paths {
		ids[p.Path] = elementID(p.Path)
	}
	others := map[string]*spdx.OtherLicense{}
	for _, p := range c.Paths {
		pkg, err := storePackage(p, meta.Derivations[p.Path], requested[p.Path], others)
		if err != nil {
			return nil, err
		}
		pkg.PackageSPDXIdentifier = ids[p.Path]
		doc.Packages = append(doc.Packages, pkg)
	}
	for _, id := range sortedKeys(others) {
		doc.OtherLicenses = append(doc.OtherLicenses, others[id])
	}
	for _, root := range []string{c.Roots.System, c.Roots.Profile, c.Roots.Channel} {
		if root == "" {
			continue
		}
		id, ok := ids[root]
		if !ok {
			return nil, fmt.Errorf("sbom: root %s is not in the closure", root)
		}
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", "DOCUMENT"),
			RefB:         common.MakeDocElementID("", string(id)),
			Relationship: common.TypeRelationshipDescribe,
		})
	}
	for _, p := range c.Paths {
		for _, ref := range p.References {
			if ref == p.Path {
				continue
			}
			id, ok := ids[ref]
			if !ok {
				return nil, fmt.Errorf("sbom: %s refers to %s, which is not in the closure", p.Path, ref)
			}
			doc.Relationships = append(doc.Relationships, &spdx.Relationship{
				RefA:         common.MakeDocElementID("", string(ids[p.Path])),
				RefB:         common.MakeDocElementID("", string(id)),
				Relationship: common.TypeRelationshipDependsOn,
			})
		}
	}
	return doc, nil
}

// Marshal encodes a document as indented JSON.
func Marshal(doc *spdx.Document) ([]byte, error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return append(data, '\n'), nil
}

// storePackage is the SPDX package of one store path. Its name and
// version come from the requested package's meta, else from the
// derivation, else from the store path's name.
func storePackage(p nixstep.PathInfo, drv nixstep.DrvInfo, req *nixstep.PackageMeta, others map[string]*spdx.OtherLicense) (*spdx.Package, error) {
	sum, err := spec.SHA256Hex(p.NarHash)
	if err != nil {
		return nil, fmt.Errorf("sbom: nar hash of %s: %w", p.Path, err)
	}
	name, version := SplitName(nixstep.StoreName(p.Path))
	switch {
	case req != nil && req.Pname != "":
		name, version = req.Pname, req.Version
	case drv.Pname != "":
		name, version = drv.Pname, drv.Version
	case drv.Name != "":
		name, version = SplitName(drv.Name)
	}
	pkg := &spdx.Package{
		PackageName:             name,
		PackageVersion:          version,
		PackageFileName:         p.Path,
		PackageDownloadLocation: downloadLocation(drv.URLs),
		FilesAnalyzed:           false,
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: sum}},
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager,
			RefType:  common.TypePackageManagerPURL,
			Locator:  purl(name, version),
		}},
	}
	if req != nil {
		pkg.PackageSourceInfo = "nixpkgs attribute " + req.Attr
		if req.Attr == "" {
			pkg.PackageSourceInfo = req.Source
		}
		pkg.PackageHomePage = req.Homepage
		pkg.PackageSummary = req.Description
		if lic := licenseExpression(req.Licenses, others); lic != "" {
			pkg.PackageLicenseDeclared = lic
		}
	}
	return pkg, nil
}

// SplitName splits a derivation name as Nix does (DrvName): the version
// starts at the first dash that is not followed by a letter.
func SplitName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isLetter(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// purl is the package URL pkg:nix/NAME@VERSION.
func purl(name, version string) string {
	s := "pkg:nix/" + url.PathEscape(name)
	if version != "" {
		s += "@" + url.PathEscape(version)
	}
	return s
}

// downloadLocation is the first source URL SPDX accepts as a download
// location (nixpkgs' mirror:// URLs are resolved only when fetching).
func downloadLocation(urls []string) string {
	for _, u := range urls {
		for _, scheme := range []string{"https://", "http://", "ftp://", "git+"} {
			if strings.HasPrefix(u, scheme) {
				return u
			}
		}
	}
	return noAssertion
}

var licenseRefRE = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// licenseExpression joins a package's licenses with AND, as nixpkgs lists
// every license that covers part of a package. A license without an SPDX
// id becomes a LicenseRef, declared in others.
func licenseExpression(ls []nixstep.License, others map[string]*spdx.OtherLicense) string {
	var ids []string
	for _, l := range ls {
		switch {
		case l.SPDXID != "":
			ids = append(ids, l.SPDXID)
		case l.ShortName != "":
			id := "LicenseRef-" + strings.Trim(licenseRefRE.ReplaceAllString(l.ShortName, "-"), "-")
			others[id] = &spdx.OtherLicense{
				LicenseIdentifier: id,
				LicenseName:       l.ShortName,
				ExtractedText:     "nixpkgs license " + l.ShortName + " (no SPDX identifier)",
			}
			ids = append(ids, id)
		}
	}
	return strings.Join(ids, " AND ")
}

// elementID is a store path's SPDX id, from its hash part (unique in the
// closure).
func elementID(p string) common.ElementID {
	hash, _, _ := strings.Cut(path.Base(p), "-")
	return common.ElementID("nix-" + hash)
}

// closureHash identifies the closure: the sha256 of its paths, NAR hashes
// and roots.
func closureHash(c *nixstep.Closure) string {
	h := sha256.New()
	for _, p := range c.Paths {
		fmt.Fprintf(h, "%s %s\n", p.Path, p.NarHash)
	}
	fmt.Fprintf(h, "roots %s %s %s\n", c.Roots.System, c.Roots.Profile, c.Roots.Channel)
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
