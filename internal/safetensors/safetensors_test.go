package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	in := []Tensor{
		{Name: "net/w", DType: "F32", Shape: []int{2, 3}, Data: make([]byte, 24)},
		{Name: "#rng", DType: "U64", Shape: []int{3}, Data: bytes.Repeat([]byte{7}, 24)},
		{Name: "step", DType: "I64", Shape: []int{}, Data: []byte{5, 0, 0, 0, 0, 0, 0, 0}},
	}
	in[0].Data[4] = 0x3f
	if err := Write(path, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Tensors) != 3 {
		t.Fatalf("got metadata %v, %d tensors", f.Metadata, len(f.Tensors))
	}
	for _, want := range in {
		got := f.Get(want.Name)
		if got == nil || got.DType != want.DType || !bytes.Equal(got.Data, want.Data) || len(got.Shape) != len(want.Shape) {
			t.Errorf("tensor %q: got %+v", want.Name, got)
		}
	}
	// Byte-deterministic: writing the same content twice gives the same file.
	path2 := filepath.Join(t.TempDir(), "w2.safetensors")
	if err := Write(path2, []Tensor{in[2], in[0], in[1]}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path2)
	if !bytes.Equal(a, b) {
		t.Error("same content written in another order gave different bytes")
	}
}

func file(header string, data []byte) []byte {
	buf := make([]byte, 8)
	binary.LittleEndian.PutUint64(buf, uint64(len(header)))
	return append(append(buf, header...), data...)
}

func TestParseRejects(t *testing.T) {
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	cases := []struct {
		name string
		buf  []byte
	}{
		{"short", []byte{1, 2}},
		{"header longer than file", huge},
		{"bad json", file("{", nil)},
		{"unknown dtype", file(`{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}}`, []byte{0})},
		{"offsets past end", file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, []byte{0, 1})},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 8))},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 8))},
		{"overflowing shape", file(`{"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`, nil)},
		{"overlap", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, make([]byte, 3))},
		{"bad metadata", file(`{"__metadata__":{"a":1}}`, nil)},
	}
	for _, c := range cases {
		if _, err := Parse(c.buf); err == nil {
			t.Errorf("%s: expected an error", c.name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 2}))
	f.Add(file(`{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, buf []byte) {
		f, err := Parse(buf)
		if err != nil {
			return
		}
		for _, tn := range f.Tensors {
			n := DTypeSize(tn.DType)
			for _, d := range tn.Shape {
				n *= d
			}
			if n != len(tn.Data) {
				t.Fatalf("tensor %q: %d bytes for shape %v", tn.Name, len(tn.Data), tn.Shape)
			}
		}
	})
}
