package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// npyFile builds an NPY file by hand, the way numpy lays it out.
func npyFile(major byte, dict string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{major, 0})
	header := dict + "\n"
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(payload)
	return b.Bytes()
}

func le(vals ...any) []byte {
	var b bytes.Buffer
	for _, v := range vals {
		binary.Write(&b, binary.LittleEndian, v)
	}
	return b.Bytes()
}

func TestNPYRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npy")
	data := []float32{1, -2.5, 3e-8, 4, float32(math.Pi), 6}
	if err := WriteNPY(path, data, 3, 2); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if hl := int(binary.LittleEndian.Uint16(raw[8:10])); (10+hl)%64 != 0 {
		t.Errorf("data starts at %d, not 64-byte aligned", 10+hl)
	}
	got, rows, cols, err := ReadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 || cols != 2 || !reflect.DeepEqual(got, data) {
		t.Errorf("round trip: %dx%d %v", rows, cols, got)
	}
	s, err := LoadNPY(path)
	if err != nil || s.Len() != 3 || s.Dim() != 2 {
		t.Errorf("LoadNPY: %v %v", s, err)
	}
	if err := WriteNPY(path, data, 4, 2); err == nil {
		t.Error("WriteNPY with a wrong shape succeeded")
	}
}

func TestNPYDtypes(t *testing.T) {
	want := []float32{1, -2, 3, 4}
	tests := []struct {
		major   byte
		descr   string
		payload []byte
		want    []float32
	}{
		{1, "<f4", le(float32(1), float32(-2), float32(3), float32(4)), want},
		{2, "<f8", le(1.0, -2.0, 3.0, 4.0), want},
		{3, "<i4", le(int32(1), int32(-2), int32(3), int32(4)), want},
		{1, "<i8", le(int64(1), int64(-2), int64(3), int64(4)), want},
		{1, "|u1", []byte{1, 254, 3, 4}, []float32{1, 254, 3, 4}},
		{1, "|i1", []byte{1, 0xfe, 3, 4}, want},
	}
	for _, tc := range tests {
		for _, shape := range []string{"(2, 2)", "(4,)"} {
			name := fmt.Sprintf("v%d %s %s", tc.major, tc.descr, shape)
			b := npyFile(tc.major, fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", tc.descr, shape), tc.payload)
			got, rows, cols, err := DecodeNPY(bytes.NewReader(b), name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wantRows := 2
			if shape == "(4,)" {
				wantRows = 4
			}
			if rows != wantRows || rows*cols != 4 || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %dx%d %v", name, rows, cols, got)
			}
		}
	}
}

func TestNPYErrors(t *testing.T) {
	f4 := le(float32(1), float32(2))
	dict := func(descr, fortran, shape string) string {
		return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran, shape)
	}
	ok := dict("<f4", "False", "(2,)")
	hugeHeader := npyFile(1, ok, f4)
	binary.LittleEndian.PutUint16(hugeHeader[8:], 60000)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"magic", []byte("NUMPY\x01\x00\x10\x00{}"), "bad magic"},
		{"version", npyFile(4, ok, f4), "version 4.0"},
		{"fortran", npyFile(1, dict("<f4", "True", "(1, 2)"), f4), "Fortran"},
		{"big endian", npyFile(1, dict(">f4", "False", "(2,)"), f4), `">f4"`},
		{"complex", npyFile(1, dict("<c8", "False", "(1,)"), f4), `"<c8"`},
		{"rank 3", npyFile(1, dict("<f4", "False", "(1, 1, 2)"), f4), "rank 3"},
		{"scalar", npyFile(1, dict("<f4", "False", "()"), f4[:4]), "rank 0"},
		{"empty shape", npyFile(1, dict("<f4", "False", "(0, 2)"), nil), "empty"},
		{"truncated", npyFile(1, ok, f4[:6]), "truncated"},
		{"trailing", npyFile(1, ok, append(f4, 0)), "trailing"},
		{"header lies", npyFile(1, dict("<f8", "False", "(10000000, 1000)"), f4), "truncated"},
		{"too large", npyFile(1, dict("<f8", "False", "(9999999999999, 9999999999999)"), f4), "too large"},
		{"header length lies", hugeHeader, "header length"},
		{"missing key", npyFile(1, "{'descr': '<f4', 'shape': (2,), }", f4), `missing key "fortran_order"`},
		{"extra key", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f4), `unexpected key "x"`},
		{"not a dict", npyFile(1, "descr", f4), "does not start"},
		{"bad tuple", npyFile(1, dict("<f4", "False", "(2, x)"), f4), "integer"},
		{"structured", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4), "structured"},
		{"nan", npyFile(1, ok, le(float32(1), float32(math.NaN()))), "row 1"},
		{"f8 overflow", npyFile(1, dict("<f8", "False", "(1,)"), le(1e300)), "finite"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".npy")
			if err := os.WriteFile(path, tc.b, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			n := allocated(func() { _, _, _, err = ReadNPY(path) })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadNPY() = %v, want an error naming the file and containing %q", err, tc.want)
			}
			if n > 1<<20 {
				t.Errorf("reading a %d-byte file allocated %d bytes", len(tc.b), n)
			}
			// The stream reader, which cannot see the file size, agrees.
			if _, _, _, err := DecodeNPY(bytes.NewReader(tc.b), "s"); err == nil {
				t.Error("DecodeNPY accepted it")
			}
		})
	}
}
