package nixstep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// errMismatch is a store path whose content is not what its registration
// says.
var errMismatch = errors.New("does not match its registration")

// checkPath compares the NAR hash and size of the tree at p (a copy of the
// store path info.Path) with info's registration.
func checkPath(p string, info PathInfo) (int64, error) {
	want, err := ParseNarHash(info.NarHash)
	if err != nil {
		return 0, fmt.Errorf("store path %s: %w", info.Path, err)
	}
	sum, size, err := narHashSize(p)
	if err != nil {
		return size, fmt.Errorf("store path %s: hashing its content: %w", info.Path, err)
	}
	if !bytes.Equal(sum, want) || size != info.NarSize {
		return size, fmt.Errorf("store path %s %w (NAR sha256:%s, %d bytes; registered %s, %d bytes)",
			info.Path, errMismatch, NixBase32(sum), size, info.NarHash, info.NarSize)
	}
	return size, nil
}

// layerChecker writes the layer trees of store paths and checks each copy
// against the path's registration, so that no store path of the /nix cache
// that was changed or left half-written (by a killed build, a full disk, a
// person) reaches an image. A path that does not match is repaired from the
// substituters (nix-store --repair-path) and copied again; one that cannot
// be repaired fails the build, named.
type layerChecker struct {
	r   *realiser
	out string
	// bytes of NAR checked, and the time spent copying and checking
	// (summed over the goroutines).
	bytes, copyNS, checkNS atomic.Int64
}

func (c *layerChecker) write(ctx context.Context, info PathInfo) error {
	p := LayerPath{Path: info.Path, NarHash: info.NarHash, NarSize: info.NarSize}
	top := filepath.Join(c.out, LayersDir, filepath.Base(info.Path))
	err := c.writeTree(top, p)
	if err == nil || !errors.Is(err, errMismatch) {
		return err
	}
	fmt.Fprintf(os.Stderr, "%v: repairing it\n", err)
	if rerr := c.r.nix(ctx, "nix-store", "--repair-path", info.Path); rerr != nil {
		return fmt.Errorf("%w; it was changed in the /nix cache, or left half-written, and repairing it failed: %v", err, rerr)
	}
	if err := c.writeTree(top, p); err != nil {
		return fmt.Errorf("after nix-store --repair-path: %w", err)
	}
	return nil
}

// writeTree is writeCheckedTree from the store, counted.
func (c *layerChecker) writeTree(top string, p LayerPath) error {
	cost, err := writeCheckedTree(storeDir, top, p)
	c.bytes.Add(cost.size)
	c.copyNS.Add(int64(cost.copy))
	c.checkNS.Add(int64(cost.check))
	return err
}

// writeCheckedLayerTrees writes and checks the layer trees of infos, in
// parallel, and logs what the checks cost.
func (r *realiser) writeCheckedLayerTrees(ctx context.Context, out string, infos []PathInfo) error {
	c := &layerChecker{r: r, out: out}
	fmt.Fprintf(os.Stderr, "writing the layer trees of %d store paths and checking them against their registered NAR hashes\n", len(infos))
	start := time.Now()
	if err := parallel(len(infos), func(i int) error { return c.write(ctx, infos[i]) }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "copied %d store paths out of the cache and checked them against their registered NAR hashes "+
		"(%d MiB of NAR) in %.2fs: copying %.2fs, checking %.2fs (summed over %d goroutines)\n",
		len(infos), c.bytes.Load()>>20, time.Since(start).Seconds(),
		time.Duration(c.copyNS.Load()).Seconds(), time.Duration(c.checkNS.Load()).Seconds(), parallelism())
	return nil
}
