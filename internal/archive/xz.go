package archive

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"

	"github.com/therootcompany/xz"
)

// xz file format (https://tukaani.org/xz/xz-file-format.txt): a stream is
// a 12-byte header, blocks, an index (one record per block: its unpadded
// and uncompressed sizes) and a 12-byte footer. Every block can be decoded
// on its own; xz -T (the default of xz >= 5.6, used for Nix releases)
// writes many of them.
const (
	xzHeaderSize = 12
	xzFooterSize = 12
	// xzMaxParallelBytes bounds the memory the decoded blocks waiting for
	// the tar reader may hold.
	xzMaxParallelBytes = 512 << 20
)

var (
	xzHeaderMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	xzFooterMagic = []byte{'Y', 'Z'}
)

// xzBlock is where one block lies in the file and what its index record
// says.
type xzBlock struct {
	offset       int64
	unpadded     int64
	uncompressed int64
}

// xzStream is the layout of a file holding one xz stream.
type xzStream struct {
	header []byte // the stream header, reused for each block's own stream
	flags  []byte // the stream flags (header and footer agree)
	blocks []xzBlock
}

// openXZ returns the decompressed content of the xz file f of the given
// size. A file of one stream with several blocks is decoded block by block
// on up to GOMAXPROCS goroutines, in order; anything else (one block,
// concatenated streams, an index it cannot read) is decoded sequentially.
// Either way the decoder checks every block's check (CRC64 for releases).
func openXZ(f io.ReaderAt, size int64) (io.ReadCloser, error) {
	s, err := readXZStream(f, size)
	if err != nil {
		s = nil
	}
	if workers := xzWorkers(s, runtime.GOMAXPROCS(0)); workers > 1 {
		return s.decodeParallel(f, workers), nil
	}
	r, err := xz.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20), 0)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(r), nil
}

// xzWorkers is how many goroutines openXZ decodes the stream s with, on
// procs CPUs: 1 (the sequential decoder) for a file it could not split (s
// nil: several streams, padding) or of one block, else as many as procs
// and the memory bound on decoded blocks allow.
func xzWorkers(s *xzStream, procs int) int {
	if s == nil || len(s.blocks) < 2 {
		return 1
	}
	workers := procs
	if biggest := s.largestBlock(); biggest > 0 {
		workers = int(min(int64(workers), max(1, xzMaxParallelBytes/biggest-1)))
	}
	return max(workers, 1)
}

// readXZStream reads the index of a single-stream xz file.
func readXZStream(f io.ReaderAt, size int64) (*xzStream, error) {
	header := make([]byte, xzHeaderSize)
	if _, err := f.ReadAt(header, 0); err != nil {
		return nil, err
	}
	if !bytes.Equal(header[:6], xzHeaderMagic) {
		return nil, errors.New("not an xz stream")
	}
	footer := make([]byte, xzFooterSize)
	if _, err := f.ReadAt(footer, size-xzFooterSize); err != nil {
		return nil, err
	}
	if !bytes.Equal(footer[10:], xzFooterMagic) || !bytes.Equal(footer[8:10], header[6:8]) {
		// Stream padding, or another stream, follows: not ours to
		// split.
		return nil, errors.New("the file does not end with the footer of its first stream")
	}
	if crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:4]) {
		return nil, errors.New("bad footer checksum")
	}
	indexSize := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	indexStart := size - xzFooterSize - indexSize
	if indexStart < xzHeaderSize {
		return nil, errors.New("index out of range")
	}
	index := make([]byte, indexSize)
	if _, err := f.ReadAt(index, indexStart); err != nil {
		return nil, err
	}
	blocks, err := parseXZIndex(index)
	if err != nil {
		return nil, err
	}
	offset := int64(xzHeaderSize)
	for i := range blocks {
		blocks[i].offset = offset
		offset += padded(blocks[i].unpadded)
	}
	if offset != indexStart {
		return nil, errors.New("the blocks do not fill the stream")
	}
	return &xzStream{header: header, flags: header[6:8], blocks: blocks}, nil
}

// parseXZIndex reads the records of an index (indicator, count, records,
// padding, CRC32).
func parseXZIndex(index []byte) ([]xzBlock, error) {
	n := len(index)
	if n < 8 || index[0] != 0 {
		return nil, errors.New("bad index")
	}
	if crc32.ChecksumIEEE(index[:n-4]) != binary.LittleEndian.Uint32(index[n-4:]) {
		return nil, errors.New("bad index checksum")
	}
	r := bytes.NewReader(index[1 : n-4])
	count, err := binary.ReadUvarint(r)
	if err != nil || count > uint64(n) {
		return nil, errors.New("bad index record count")
	}
	blocks := make([]xzBlock, count)
	for i := range blocks {
		unpadded, err1 := binary.ReadUvarint(r)
		uncompressed, err2 := binary.ReadUvarint(r)
		if err1 != nil || err2 != nil || unpadded == 0 || unpadded > 1<<50 || uncompressed > 1<<50 {
			return nil, errors.New("bad index record")
		}
		blocks[i] = xzBlock{unpadded: int64(unpadded), uncompressed: int64(uncompressed)}
	}
	for r.Len() > 0 {
		if b, _ := r.ReadByte(); b != 0 {
			return nil, errors.New("bad index padding")
		}
	}
	return blocks, nil
}

func padded(n int64) int64 { return (n + 3) &^ 3 }

func (s *xzStream) largestBlock() int64 {
	var m int64
	for _, b := range s.blocks {
		m = max(m, b.uncompressed)
	}
	return m
}

// blockStream returns block b as an xz stream of its own: the file's
// header, the block, an index of one record and a footer.
func (s *xzStream) blockStream(f io.ReaderAt, b xzBlock) io.Reader {
	var index bytes.Buffer
	index.WriteByte(0)
	index.Write(binary.AppendUvarint(nil, 1))
	index.Write(binary.AppendUvarint(nil, uint64(b.unpadded)))
	index.Write(binary.AppendUvarint(nil, uint64(b.uncompressed)))
	for index.Len()%4 != 0 {
		index.WriteByte(0)
	}
	index.Write(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(index.Bytes())))
	footer := binary.LittleEndian.AppendUint32(nil, uint32(index.Len()/4-1))
	footer = append(footer, s.flags...)
	footer = append(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(footer)), footer...)
	footer = append(footer, xzFooterMagic...)
	return io.MultiReader(
		bytes.NewReader(s.header),
		io.NewSectionReader(f, b.offset, padded(b.unpadded)),
		&index,
		bytes.NewReader(footer),
	)
}

// decodeBlock decodes block i into memory.
func (s *xzStream) decodeBlock(f io.ReaderAt, i int) ([]byte, error) {
	b := s.blocks[i]
	zr, err := xz.NewReader(s.blockStream(f, b), 0)
	if err != nil {
		return nil, fmt.Errorf("xz block %d: %w", i, err)
	}
	// The index only claims the size: allocate no more than the block can
	// plausibly hold, and decode no more than the index says (plus one
	// byte, to see a lie).
	out := bytes.NewBuffer(make([]byte, 0, min(b.uncompressed, 16*b.unpadded+64<<10)))
	if _, err := io.Copy(out, io.LimitReader(zr, b.uncompressed+1)); err != nil {
		return nil, fmt.Errorf("xz block %d: %w", i, err)
	}
	if int64(out.Len()) != b.uncompressed {
		return nil, fmt.Errorf("xz block %d: %d bytes, the index says %d", i, out.Len(), b.uncompressed)
	}
	return out.Bytes(), nil
}

// decodeParallel decodes the blocks on workers goroutines, at most workers
// blocks ahead of the reader, and writes them in order to the returned
// reader. Closing it stops the decoding.
func (s *xzStream) decodeParallel(f io.ReaderAt, workers int) io.ReadCloser {
	type result struct {
		data []byte
		err  error
	}
	pr, pw := io.Pipe()
	results := make([]chan result, len(s.blocks))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	slots := make(chan struct{}, workers)
	done := make(chan struct{})
	go func() {
		for i := range s.blocks {
			select {
			case slots <- struct{}{}:
			case <-done:
				return
			}
			go func() {
				data, err := s.decodeBlock(f, i)
				results[i] <- result{data, err}
			}()
		}
	}()
	go func() {
		defer close(done)
		for i := range s.blocks {
			r := <-results[i]
			<-slots
			if r.err != nil {
				pw.CloseWithError(r.err)
				return
			}
			if _, err := pw.Write(r.data); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr
}
