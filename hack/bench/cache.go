package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nix-image/nix-image/internal/testenv"
)

// Cold builds from an empty daemon: pruning the whole build cache,
// checking with `buildctl du` that nothing is left, and checking in a cold
// build's log that ours's /nix cache mount did not survive.

// emptyCache prunes the daemon's whole build cache: the cold builds then
// start from empty daemon state, every input (the frontend image, the base
// image, the Nix release, substitutes) coming from the registry or the
// mirror, as on a new CI runner.
func (b *bench) emptyCache(ctx context.Context, r *round) error {
	if _, stderr, err := r.env.Buildctl(ctx, "prune", "--all"); err != nil {
		return fmt.Errorf("pruning the build cache: %w: %s", err, stderr)
	}
	du, _, err := r.env.Buildctl(ctx, "du", "--format", "{{json .}}")
	if err != nil {
		return fmt.Errorf("buildctl du: %w", err)
	}
	left, err := duRecords(du)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("the build cache is not empty after prune --all: %s", strings.Join(left, "; "))
	}
	b.logf("round %d: build cache pruned: buildctl du lists nothing", r.n)
	return nil
}

// duRecords describes the records of `buildctl du --format '{{json .}}'`
// (a JSON array of the daemon's cache records, the cache mounts among
// them: the realise step's /nix).
func duRecords(out string) ([]string, error) {
	var recs []struct {
		ID          string `json:"id"`
		Description string `json:"description"`
		RecordType  string `json:"recordType"`
		Size        int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		return nil, fmt.Errorf("buildctl du: %w: %q", err, out)
	}
	var left []string
	for _, r := range recs {
		left = append(left, fmt.Sprintf("%s %s %q (%d bytes)", r.RecordType, r.ID, r.Description, r.Size))
	}
	return left, nil
}

// checkUnpacked checks that a cold build of ours really started from
// nothing: its realise step unpacked the Nix release, which it skips when
// the /nix cache mount holds it.
func checkUnpacked(p *testenv.Progress) error {
	if !strings.Contains(p.Output("[nix-image] realise "), "unpacking the Nix release") {
		return errors.New("the realise step did not unpack the Nix release: the /nix cache mount survived")
	}
	return nil
}
