package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// file is a regular file of the tree.
type file struct {
	data []byte
	exec bool
}

// node is a directory (file nil) or a regular file of the tree.
type node struct {
	file     *file
	children map[string]*node
}

func newDir() *node { return &node{children: map[string]*node{}} }

// add puts f at the slash-separated path p, making its directories.
func (n *node) add(p string, f file) error {
	dir, name := path.Split(p)
	d, err := n.dir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if _, ok := d.children[name]; ok {
		return fmt.Errorf("%s: already in the tree", p)
	}
	d.children[name] = &node{file: &f}
	return nil
}

// dir returns the directory at the slash-separated path p ("" is n),
// making it and its parents.
func (n *node) dir(p string) (*node, error) {
	d := n
	if p == "" {
		return d, nil
	}
	for _, name := range strings.Split(p, "/") {
		c := d.children[name]
		if c == nil {
			c = newDir()
			d.children[name] = c
		} else if c.file != nil {
			return nil, fmt.Errorf("%s is a file", p)
		}
		d = c
	}
	return d, nil
}

// readTree reads the directory dir: directories and regular files (an
// executable file is one with any x bit, as Nix has it).
func readTree(dir string) (*node, error) {
	root := newDir()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			_, err := root.dir(filepath.ToSlash(rel))
			return err
		case !e.Type().IsRegular():
			return fmt.Errorf("%s: neither a directory nor a regular file", p)
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return root.add(filepath.ToSlash(rel), file{data: data, exec: info.Mode()&0o111 != 0})
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	return root, nil
}

// names are n's children's names in byte order: the order of both GNU
// tar's --sort=name and NAR directories.
func (n *node) names() []string {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// stats counts the regular files under n and their bytes.
func (n *node) stats() (files int, bytes int64) {
	if n.file != nil {
		return 1, int64(len(n.file.data))
	}
	for _, c := range n.children {
		f, b := c.stats()
		files += f
		bytes += b
	}
	return files, bytes
}

// writeTar writes n as a tar stream under top: each directory before its
// entries, entries sorted by name, owner 0, mtime 1, modes 0755 (directories
// and executables) or 0644.
func (n *node) writeTar(w io.Writer, top string) error {
	tw := tar.NewWriter(w)
	if err := n.tarEntries(tw, top); err != nil {
		return err
	}
	return tw.Close()
}

func (n *node) tarEntries(tw *tar.Writer, name string) error {
	h := &tar.Header{Name: name, ModTime: time.Unix(1, 0), Format: tar.FormatGNU, Mode: 0o755}
	if n.file != nil {
		h.Typeflag = tar.TypeReg
		h.Size = int64(len(n.file.data))
		if !n.file.exec {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(n.file.data)
		return err
	}
	h.Typeflag = tar.TypeDir
	h.Name += "/"
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	for _, c := range n.names() {
		if err := n.children[c].tarEntries(tw, path.Join(name, c)); err != nil {
			return err
		}
	}
	return nil
}

// narHash is the SRI sha256 of n's NAR serialisation, what `nix hash path`
// prints for the unpacked tree.
func (n *node) narHash() string {
	h := sha256.New()
	nw := narWriter{w: h}
	nw.str("nix-archive-1")
	nw.node(n)
	return "sha256-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// narWriter writes the NAR format: every string as its length (64-bit
// little-endian) and its bytes, zero-padded to 8 bytes.
type narWriter struct{ w io.Writer }

func (nw narWriter) str(s string) { nw.bytes([]byte(s)) }

func (nw narWriter) bytes(b []byte) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	nw.w.Write(n[:])
	nw.w.Write(b)
	if pad := (8 - len(b)%8) % 8; pad > 0 {
		nw.w.Write(make([]byte, pad))
	}
}

func (nw narWriter) node(n *node) {
	nw.str("(")
	nw.str("type")
	if n.file != nil {
		nw.str("regular")
		if n.file.exec {
			nw.str("executable")
			nw.str("")
		}
		nw.str("contents")
		nw.bytes(n.file.data)
	} else {
		nw.str("directory")
		for _, name := range n.names() {
			nw.str("entry")
			nw.str("(")
			nw.str("name")
			nw.str(name)
			nw.str("node")
			nw.node(n.children[name])
			nw.str(")")
		}
	}
	nw.str(")")
}
