package data

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// firstChunk caps the first allocation when reading a payload whose size a
// header claims but the input has not proven yet: the buffer then grows
// only as fast as data actually arrives, so a header that lies about its
// size cannot make us allocate more than about twice what the input holds.
const firstChunk = 64 << 10

// readPayload reads exactly n bytes of payload from r and checks that r ends
// right after them. known is the number of bytes r holds, when it is known
// (a raw file), or -1 (a gzip stream): when known, a mismatch is reported
// before anything is allocated.
func readPayload(r io.Reader, n, known int64, what string) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("%s: negative size %d", what, n)
	}
	if known >= 0 && known != n {
		if known < n {
			return nil, fmt.Errorf("%s: the header promises %d bytes of data but the file holds only %d (truncated?)", what, n, known)
		}
		return nil, fmt.Errorf("%s: the header promises %d bytes of data but the file holds %d (%d trailing bytes)", what, n, known, known-n)
	}
	if known >= 0 {
		// The size is proven by the file length: read it in one piece.
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return buf, nil
	}
	buf := make([]byte, 0, min(n, firstChunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			if int64(len(buf)) < n {
				return nil, fmt.Errorf("%s: the header promises %d bytes of data but only %d follow (truncated?)", what, n, len(buf))
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	// The data must end here. Reading once more also makes a gzip reader
	// verify its checksum.
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	if m > 0 {
		return nil, fmt.Errorf("%s: unexpected data after the %d bytes the header promises", what, n)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return buf, nil
}

// openMaybeGzip opens path and returns a reader of its (decompressed)
// content, the size of that content when known (-1 for gzip) and a close
// function. Gzip is detected by its magic bytes 1f 8b, not by the name.
func openMaybeGzip(path string) (io.Reader, int64, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s is a directory", path)
	}
	r, gz, err := maybeGunzip(f)
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	size := st.Size()
	if gz {
		size = -1
	}
	return r, size, f.Close, nil
}

// maybeGunzip returns a reader that decompresses r when it starts with the
// gzip magic bytes, and r's bytes unchanged otherwise.
func maybeGunzip(r io.Reader) (io.Reader, bool, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, fmt.Errorf("bad gzip header: %w", err)
		}
		return zr, true, nil
	}
	return br, false, nil
}
