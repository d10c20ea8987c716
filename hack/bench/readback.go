package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// Reading a round's images back from the registry (layers.go): the cold
// image's figures for its sample, and the add-one push's byte accounting
// (new bytes, reused bytes, what ours may upload).

// describe reads the cold image back from the registry: layers, sizes,
// closure.
func (b *bench) describe(ctx context.Context, r *round, w way, s *sample) error {
	im, err := readImage(ctx, r.reg, "bench/"+w.name, "v1", nil)
	if err != nil {
		return err
	}
	s.info = im
	s.Digest = im.digest
	s.Layers = len(im.layers)
	s.CompressedBytes = im.compressed()
	s.ImageBytes = im.tarBytes()
	s.ImageFileBytes = im.fileBytes()
	s.ClosureBytes, s.LocalPaths, err = closureBytes(im, filepath.Join(b.mirror.Dir, "cache"))
	s.ChannelMissing = channelMissing(im, b.nixpkgs.Bytes)
	return err
}

// channelMissing says what of root's nixpkgs channel im lacks: the link
// ~/.nix-defexpr/channels, or a store path holding the package set's tree
// (a path with exactly its bytes); "" when it has both.
func channelMissing(im *imageInfo, nixpkgsBytes int64) string {
	var missing []string
	hasLink := false
	for _, l := range im.layers {
		for _, e := range l.entries {
			hasLink = hasLink || "/"+e.name == channelLink
		}
	}
	if !hasLink {
		missing = append(missing, "no "+channelLink)
	}
	if !slices.Contains(slices.Collect(maps.Values(im.pathFileBytes)), nixpkgsBytes) {
		missing = append(missing, fmt.Sprintf("no store path of the package set's %d bytes", nixpkgsBytes))
	}
	return strings.Join(missing, ", ")
}

// addOne builds w with one package more and measures the push: new blobs,
// reused layer bytes, and (for the ours target) the compressed size of the
// layers holding new store paths or no store path at all.
func (b *bench) addOne(ctx context.Context, r *round, w way, s *sample, oldRef, newRef string) error {
	have, err := r.reg.layerDigests(ctx)
	if err != nil {
		return fmt.Errorf("listing the registry's layers: %w", err)
	}
	d, _, err := b.build(ctx, r, w, b.add1, newRef)
	if err != nil {
		return err
	}
	s.Add1S, s.Add1CPU = d.wall, d.cpu
	repo := "bench/" + w.name
	_, oldM, err := r.reg.image(ctx, repo, strings.TrimPrefix(oldRef, r.env.RegistryAddr+"/"+repo+":"))
	if err != nil {
		return err
	}
	oldDigests := map[string]bool{}
	var oldTotal int64
	for _, l := range oldM.Layers {
		oldDigests[l.Digest.String()] = true
		oldTotal += l.Size
	}
	// Only the layers the old image lacks need reading.
	newIm, err := readImage(ctx, r.reg, repo, "add1", func(d string) bool { return !oldDigests[d] })
	if err != nil {
		return err
	}
	newDigests := map[string]bool{}
	counted := map[string]bool{}
	for _, l := range newIm.layers {
		newDigests[l.digest] = true
		if !have[l.digest] && !counted[l.digest] {
			s.Add1NewBytes += l.compressed
			counted[l.digest] = true
		}
	}
	s.Add1AllowanceBytes = allowance(newIm.layers, oldDigests, s.info.storePaths())
	var reused int64
	for _, l := range oldM.Layers {
		if newDigests[l.Digest.String()] {
			reused += l.Size
		}
	}
	if oldTotal > 0 {
		s.Add1ReusedRatio = float64(reused) / float64(oldTotal)
	}
	b.logf("round %d: %-6s add-one   %6.1f s, %6.1f CPU s, %d new bytes, %.3f of the old bytes reused", r.n, w.name, d.wall, d.cpu, s.Add1NewBytes, s.Add1ReusedRatio)
	return nil
}

// allowance is what an add-one push may upload: the compressed bytes of
// the new image's layers that the old image lacks and that hold either
// only store paths the old image lacks (the new package's) or no store
// path at all (the system layers: /etc, the Nix DB and profiles). A layer
// that holds an old path too (a shared layer re-uploading unchanged paths)
// is not allowed for.
func allowance(layers []layerInfo, oldDigests, oldPaths map[string]bool) int64 {
	var n int64
	for _, l := range layers {
		if oldDigests[l.digest] {
			continue
		}
		onlyNew := true
		for p := range l.storePaths {
			onlyNew = onlyNew && !oldPaths[p]
		}
		if onlyNew {
			n += l.compressed
		}
	}
	return n
}
