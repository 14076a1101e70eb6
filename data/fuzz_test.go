package data

import (
	"bytes"
	"compress/gzip"
	"io"
	"slices"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the readers. They must never
// panic, and must never allocate much more than the input justifies: a
// fixed allowance for buffers and decoder tables plus a small multiple of
// the (decompressed) input size.

const fuzzAllocSlack = 1 << 20

// payloadSize is the size of the data a reader can see in b: the
// decompressed size for gzip input, len(b) otherwise.
func payloadSize(b []byte) int {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return len(b)
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(zr, 1<<30))
		return max(len(b), int(n))
	}
	return len(b)
}

func checkAlloc(t *testing.T, what string, b []byte, f func()) {
	t.Helper()
	limit := uint64(fuzzAllocSlack + 16*payloadSize(b))
	if n := allocated(f); n > limit {
		t.Fatalf("%s: %d input bytes made the reader allocate %d bytes (limit %d)", what, len(b), n, limit)
	}
}

func FuzzIDX(f *testing.F) {
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 2, 7, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAlloc(t, "DecodeIDX", b, func() {
			idx, err := DecodeIDX(bytes.NewReader(b), "fuzz")
			if err == nil {
				if shapeProd(idx.Dims) != len(idx.Data) {
					t.Fatalf("dims %v but %d values", idx.Dims, len(idx.Data))
				}
				if len(idx.Dims) >= 2 && len(idx.Dims) <= 4 {
					IDXSet("fuzz", idx, nil, nil)
				}
			}
		})
		// The file path, which knows the size of raw input.
		checkAlloc(t, "decodeIDX with size", b, func() {
			idx, err := decodeIDX(bytes.NewReader(b), int64(len(b)), "fuzz")
			if err == nil && 4+4*len(idx.Dims)+len(idx.Data) != len(b) {
				t.Fatalf("accepted %d bytes holding dims %v", len(b), idx.Dims)
			}
		})
	})
}

func FuzzNPY(f *testing.F) {
	f.Add(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", []byte{0, 0, 128, 63}))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAlloc(t, "DecodeNPY", b, func() {
			x, rows, cols, err := DecodeNPY(bytes.NewReader(b), "fuzz")
			if err == nil && (rows*cols != len(x) || rows <= 0 || cols <= 0) {
				t.Fatalf("%dx%d but %d values", rows, cols, len(x))
			}
		})
		checkAlloc(t, "decodeNPY with size", b, func() {
			decodeNPY(bytes.NewReader(b), int64(len(b)), "fuzz")
		})
		// Whatever is read writes back and reads again identically.
		x, rows, cols, err := DecodeNPY(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := EncodeNPY(&buf, x, rows, cols); err != nil {
			t.Fatal(err)
		}
		y, r2, c2, err := DecodeNPY(&buf, "again")
		if err != nil || r2 != rows || c2 != cols || !slices.Equal(x, y) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAlloc(t, "DecodeCSV", b, func() {
			x, rows, cols, header, err := DecodeCSV(bytes.NewReader(b), "fuzz")
			if err != nil {
				return
			}
			if rows*cols != len(x) || rows <= 0 || (header != nil && len(header) != cols) {
				t.Fatalf("%dx%d, %d values, header %q", rows, cols, len(x), header)
			}
		})
		x, rows, cols, _, err := DecodeCSV(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := EncodeCSV(&buf, x, rows, cols, nil); err != nil {
			t.Fatal(err)
		}
		y, r2, c2, _, err := DecodeCSV(&buf, "again")
		if err != nil || r2 != rows || c2 != cols || !slices.Equal(x, y) {
			t.Fatalf("round trip of %q: %v", buf.String(), err)
		}
	})
}
