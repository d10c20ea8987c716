package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/mirror"
)

var (
	mirrorOnce sync.Once
	theMirror  *mirror.Mirror
	mirrorErr  error
)

// needMirror generates (or reuses) the offline mirror and serves it for
// the rest of the run.
func needMirror(t *testing.T) *mirror.Mirror {
	t.Helper()
	mirrorOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		repo, err := filepath.Abs("..")
		if err != nil {
			mirrorErr = err
			return
		}
		theMirror, mirrorErr = mirror.Start(ctx, repo)
	})
	if mirrorErr != nil {
		t.Fatalf("offline mirror: %v", mirrorErr)
	}
	return theMirror
}

// stopMirror stops serving, if a test started the mirror.
func stopMirror() {
	if theMirror != nil {
		theMirror.Close()
	}
}

// exampleSpec returns examples/NAME/nix-image.yaml without its `# syntax=`
// line (SpecContext writes one naming the frontend under test).
func exampleSpec(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", name, "nix-image.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	if !strings.HasPrefix(first, "# syntax=") {
		t.Fatalf("examples/%s/nix-image.yaml does not start with a # syntax= line", name)
	}
	return rest
}
