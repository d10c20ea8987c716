package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// nar encodes tokens as NAR strings; a []byte token is a file's contents.
func nar(tokens ...any) []byte {
	var b bytes.Buffer
	for _, t := range tokens {
		var data []byte
		switch v := t.(type) {
		case string:
			data = []byte(v)
		case []byte:
			data = v
		}
		binary.Write(&b, binary.LittleEndian, uint64(len(data)))
		b.Write(data)
		b.Write(make([]byte, (8-len(data)%8)%8))
	}
	return b.Bytes()
}

// tarEntries lists a tar stream's entries as "NAME MODE TYPE [CONTENT|-> LINK]".
func tarEntries(t *testing.T, data []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		e := fmt.Sprintf("%s %o %c", h.Name, h.Mode, h.Typeflag)
		switch {
		case h.Typeflag == tar.TypeSymlink:
			e += " -> " + h.Linkname
		case h.Typeflag == tar.TypeReg:
			e += " " + string(content)
		}
		if h.ModTime.Unix() != 1 || h.Uid != 0 {
			e += " (not mtime 1, owner 0)"
		}
		out = append(out, e)
	}
}

func TestNarToTar(t *testing.T) {
	tests := []struct {
		name string
		nar  []byte
		want []string
		err  string
	}{
		{"a file", nar("nix-archive-1", "(", "type", "regular", "contents", []byte("hello\n"), ")"),
			[]string{"nix/store/x-f 444 0 hello\n"}, ""},
		{"a tree", nar("nix-archive-1", "(", "type", "directory",
			"entry", "(", "name", "bin", "node", "(", "type", "directory",
			"entry", "(", "name", "hello", "node", "(", "type", "regular", "executable", "", "contents", []byte("#!/bin/sh\n"), ")", ")",
			")", ")",
			"entry", "(", "name", "lib", "node", "(", "type", "symlink", "target", "/nix/store/y-glibc/lib", ")", ")",
			"entry", "(", "name", "empty", "node", "(", "type", "regular", "contents", "", ")", ")",
			")"),
			[]string{"nix/store/x-f/ 555 5", "nix/store/x-f/bin/ 555 5", "nix/store/x-f/bin/hello 555 0 #!/bin/sh\n",
				"nix/store/x-f/lib 777 2 -> /nix/store/y-glibc/lib", "nix/store/x-f/empty 444 0 "}, ""},
		{"not a NAR", nar("nix-archive-2"), nil, `"nix-archive-2" where "nix-archive-1" belongs`},
		{"an entry escaping the path", nar("nix-archive-1", "(", "type", "directory", "entry", "(", "name", "..", "node"), nil, `entry name ".."`},
		{"cut short", nar("nix-archive-1", "(", "type", "regular", "contents")[:60], nil, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tw := tar.NewWriter(&out)
			err := narToTar(bufio.NewReader(bytes.NewReader(tt.nar)), tw, "nix/store/x-f")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			if got := tarEntries(t, out.Bytes()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
