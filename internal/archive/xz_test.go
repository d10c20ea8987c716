package archive

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// xzData compresses data into xz with blocks of blockSize bytes.
func xzData(t testing.TB, data []byte, blockSize int64) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := xz.WriterConfig{BlockSize: blockSize}.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sample is compressible but not trivial data.
func sample(n int) []byte {
	rng := rand.New(rand.NewSource(1))
	words := strings.Fields("nix store path derivation closure layer image buildkit frontend")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.Intn(len(words))])
		b.WriteByte(byte('a' + rng.Intn(26)))
	}
	return b.Bytes()[:n]
}

func TestOpenXZ(t *testing.T) {
	data := sample(3<<20 + 12345)
	multi := xzData(t, data, 256<<10)
	single := xzData(t, data, 64<<20)
	corrupt := bytes.Clone(multi)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name     string
		file     []byte
		want     []byte
		blocks   int // blocks the index has; 0: decoded sequentially
		parallel bool
		wantErr  bool
	}{
		{name: "many blocks", file: multi, want: data, blocks: 13, parallel: true},
		{name: "one block", file: single, want: data, blocks: 1},
		{name: "two streams", file: append(bytes.Clone(single), multi...), want: append(bytes.Clone(data), data...)},
		{name: "stream padding", file: append(bytes.Clone(multi), 0, 0, 0, 0), want: data},
		{name: "corrupt block", file: corrupt, blocks: 13, parallel: true, wantErr: true},
		{name: "truncated", file: multi[:len(multi)-100], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bytes.NewReader(tt.file)
			s, err := readXZStream(f, int64(len(tt.file)))
			if err == nil && len(s.blocks) != tt.blocks {
				t.Errorf("index has %d blocks, want %d", len(s.blocks), tt.blocks)
			} else if err != nil && tt.blocks != 0 {
				t.Errorf("reading the index: %v", err)
			}
			for _, workers := range []int{1, 2, 8} {
				r, err := func() (io.ReadCloser, error) {
					if tt.parallel {
						return s.decodeParallel(f, workers), nil
					}
					return openXZ(f, int64(len(tt.file)))
				}()
				var got []byte
				if err == nil {
					got, err = io.ReadAll(r)
					r.Close()
				}
				if tt.wantErr {
					if err == nil {
						t.Errorf("workers %d: no error", workers)
					}
					continue
				}
				if err != nil {
					t.Fatalf("workers %d: %v", workers, err)
				}
				if sha256.Sum256(got) != sha256.Sum256(tt.want) {
					t.Errorf("workers %d: decoded %d bytes, want %d bytes", workers, len(got), len(tt.want))
				}
			}
		})
	}
}

// TestXZWorkers: openXZ decodes a multi-block stream in parallel, and
// sequentially what it cannot split or has one block, or on one CPU.
func TestXZWorkers(t *testing.T) {
	data := sample(3<<20 + 12345)
	multi := xzData(t, data, 256<<10)
	single := xzData(t, data, 64<<20)
	tests := []struct {
		name  string
		file  []byte
		procs int
		want  int
	}{
		{"many blocks", multi, 8, 8},
		{"many blocks, 2 CPUs", multi, 2, 2},
		{"many blocks, 1 CPU", multi, 1, 1},
		{"one block", single, 8, 1},
		{"two streams", append(bytes.Clone(single), multi...), 8, 1},
		{"stream padding", append(bytes.Clone(multi), 0, 0, 0, 0), 8, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := readXZStream(bytes.NewReader(tt.file), int64(len(tt.file)))
			if err != nil {
				s = nil
			}
			if got := xzWorkers(s, tt.procs); got != tt.want {
				t.Errorf("xzWorkers = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestOpenXZStopsWhenClosed checks that closing the reader early stops the
// decoding goroutines' output (the tar reader failed).
func TestOpenXZStopsWhenClosed(t *testing.T) {
	file := xzData(t, sample(2<<20), 128<<10)
	s, err := readXZStream(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	r := s.decodeParallel(bytes.NewReader(file), 2)
	if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Error("read after close succeeded")
	}
}

func BenchmarkOpenXZ(b *testing.B) {
	data := sample(32 << 20)
	file := xzData(b, data, 4<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, err := openXZ(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
