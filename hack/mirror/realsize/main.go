// Command realsize writes the real-size nixpkgs stand-in of the offline
// mirror (hack/mirror.sh, "Offline Nix mirror" in hack/README.md): the
// small package set's tree plus a pkgs/ and nixos/ tree of generated
// Nix-like files that nothing evaluates, with about the file count, size
// distribution and gzip ratio of a nixpkgs checkout. So a build pays what
// carrying nixpkgs costs users (fetching, unpacking, adding it to the
// store, hashing and copying it), while the evaluated set, its derivations
// and its closures stay the small tarball's.
//
//	go run ./hack/mirror/realsize -src DIR -out FILE.tar.gz
//
// DIR is the small package set's unpacked tree; FILE gets the tarball, top
// directory nixpkgs/. It prints the tree's regular files, their bytes and
// the tree's NAR hash (SRI, as `nix hash path` prints it), one line,
// space-separated.
//
// The tarball is deterministic: the generated files come from a
// fixed-seed generator with integer arithmetic only; the tar has sorted
// entries, owner 0 and mtime 1 (as hack/mirror.sh's det_tar); the gzip
// stream (level 6, no name or time, 1 MiB blocks each primed with the
// previous block's last 32 KiB, as pigz does) does not depend on the
// number of cores. Nothing is written to disk but the tarball, so it takes
// seconds.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/klauspost/pgzip"
)

func main() {
	src := flag.String("src", "", "the small package set's unpacked tree")
	out := flag.String("out", "", "the tarball to write")
	flag.Parse()
	if *src == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: realsize -src DIR -out FILE.tar.gz")
		os.Exit(2)
	}
	t, err := run(*src, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "realsize: %v\n", err)
		os.Exit(1)
	}
	files, bytes := t.stats()
	fmt.Printf("%d %d %s\n", files, bytes, t.narHash())
}

// run reads src, adds the generated files and writes the tarball.
func run(src, out string) (*node, error) {
	t, err := readTree(src)
	if err != nil {
		return nil, err
	}
	for p, f := range generate(realCounts) {
		if err := t.add(p, f); err != nil {
			return nil, err
		}
	}
	if err := writeTarball(out, t); err != nil {
		return nil, err
	}
	return t, nil
}

// writeTarball writes t as FILE, top directory nixpkgs/, compressed on
// every core.
func writeTarball(path string, t *node) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := pgzip.NewWriterLevel(bw, 6)
	if err != nil {
		return err
	}
	// pgzip's output depends on the block size and level, not on how many
	// blocks are compressed at once.
	if err := zw.SetConcurrency(1<<20, 2*runtime.NumCPU()); err != nil {
		return err
	}
	if err := t.writeTar(zw, "nixpkgs"); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
