package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func idxBytes(t testing.TB, dims []int, data []uint8) []byte {
	var buf bytes.Buffer
	if err := EncodeIDX(&buf, dims, data); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestIDXRoundTrip(t *testing.T) {
	dir := t.TempDir()
	data := make([]uint8, 3*4*5)
	for i := range data {
		data[i] = uint8(i * 7)
	}
	for _, name := range []string{"a-idx3-ubyte", "a-idx3-ubyte.gz"} {
		path := filepath.Join(dir, name)
		if err := WriteIDX(path, []int{3, 4, 5}, data); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if isGz := raw[0] == 0x1f && raw[1] == 0x8b; isGz != strings.HasSuffix(name, ".gz") {
			t.Errorf("%s: gzip = %v", name, isGz)
		}
		got, err := ReadIDX(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Dims, []int{3, 4, 5}) || !reflect.DeepEqual(got.Data, data) {
			t.Errorf("%s: round trip gave %v", name, got.Dims)
		}
		got2, err := DecodeIDX(bytes.NewReader(raw), name)
		if err != nil || !reflect.DeepEqual(got2.Data, data) {
			t.Errorf("%s: DecodeIDX: %v", name, err)
		}
	}
	// A gzipped file without the .gz suffix is still detected.
	path := filepath.Join(dir, "noext")
	os.WriteFile(path, gz(t, idxBytes(t, []int{2}, []uint8{1, 2})), 0o644)
	if got, err := ReadIDX(path); err != nil || !reflect.DeepEqual(got.Data, []uint8{1, 2}) {
		t.Errorf("gzip without suffix: %v %v", got, err)
	}
}

func TestIDXErrors(t *testing.T) {
	valid := idxBytes(t, []int{2, 3}, []uint8{1, 2, 3, 4, 5, 6})
	// 1,000,000 x 28 x 28 images promised, 3 bytes given.
	huge := []byte{0, 0, 8, 3, 0, 0x0f, 0x42, 0x40, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3}
	tooBig := []byte{0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 1, 2, 3}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"wrong magic", append([]byte{1, 0}, valid[2:]...), "bad magic"},
		{"png", []byte("\x89PNG\r\n\x1a\n...."), "bad magic"},
		{"float type", []byte{0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "float32"},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 0}, "unknown element type"},
		{"no dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"zero dim", []byte{0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 1}, "dimension 0 is 0"},
		{"short dims", []byte{0, 0, 8, 3, 0, 0, 0, 1}, "dimensions"},
		{"truncated", valid[:len(valid)-1], "truncated"},
		{"trailing", append(append([]byte(nil), valid...), 9), "trailing"},
		{"header lies", huge, "truncated"},
		{"gzip header lies", gz(t, huge), "truncated"},
		{"too big", tooBig, "claim more than"},
		// 2^19 * 2^19 * 2^26 = 2^64 wraps to 0 in int64 arithmetic.
		{"wrapping dims", []byte{0, 0, 8, 3, 0, 8, 0, 0, 0, 8, 0, 0, 4, 0, 0, 0}, "claim more than"},
		{"gzip trailing", gz(t, append(append([]byte(nil), valid...), 9)), "after the"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
		{"corrupt gzip", append(gz(t, valid)[:20], make([]byte, 20)...), "IDX"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, tc.b, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			n := allocated(func() { _, err = ReadIDX(path) })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadIDX() = %v, want an error naming the file and containing %q", err, tc.want)
			}
			if n > 1<<20 {
				t.Errorf("reading a %d-byte file allocated %d bytes", len(tc.b), n)
			}
		})
	}
}

func TestEncodeIDXErrors(t *testing.T) {
	tests := []struct {
		name string
		dims []int
		data []uint8
	}{
		{"no dims", nil, nil},
		{"zero dim", []int{0}, nil},
		{"count", []int{2, 2}, []uint8{1, 2, 3}},
	}
	for _, tc := range tests {
		if err := EncodeIDX(&bytes.Buffer{}, tc.dims, tc.data); err == nil {
			t.Errorf("%s: EncodeIDX succeeded", tc.name)
		}
	}
	if err := WriteIDX(filepath.Join(t.TempDir(), "x"), []int{2}, []uint8{1}); err == nil {
		t.Error("WriteIDX with a wrong count succeeded")
	}
}

func TestIDXSet(t *testing.T) {
	images := &IDX{Dims: []int{2, 2, 2}, Data: []uint8{0, 255, 51, 102, 1, 2, 3, 4}}
	labels := &IDX{Dims: []int{2}, Data: []uint8{1, 0}}
	s, err := IDXSet("t", images, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Shape, []int{2, 2, 1}) || s.X[1] != 1 || s.X[2] != 0.2 || !reflect.DeepEqual(s.ClassNames, []string{"0", "1"}) {
		t.Errorf("IDXSet = %+v", s)
	}
	if _, err := IDXSet("t", images, &IDX{Dims: []int{3}, Data: []uint8{0, 0, 0}}, nil); err == nil {
		t.Error("label count mismatch accepted")
	}
	if _, err := IDXSet("t", images, &IDX{Dims: []int{2}, Data: []uint8{0, 12}}, MNISTClasses); err == nil {
		t.Error("label 12 accepted with 10 classes")
	}
	if _, err := IDXSet("t", &IDX{Dims: []int{8}, Data: make([]uint8, 8)}, nil, nil); err == nil {
		t.Error("1-D images accepted")
	}
}
