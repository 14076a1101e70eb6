package data

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	data := []float32{1, -2.5, 3e-8, 0.1, 1e20, 6}
	for _, header := range [][]string{nil, {"x", "y"}} {
		path := filepath.Join(dir, "a.csv")
		if err := WriteCSV(path, data, 3, 2, header); err != nil {
			t.Fatal(err)
		}
		got, rows, cols, h, err := ReadCSV(path)
		if err != nil {
			t.Fatal(err)
		}
		if rows != 3 || cols != 2 || !reflect.DeepEqual(got, data) || !reflect.DeepEqual(h, header) {
			t.Errorf("round trip: %dx%d %v %v", rows, cols, got, h)
		}
	}
	if err := WriteCSV(filepath.Join(dir, "b.csv"), data, 2, 2, nil); err == nil {
		t.Error("WriteCSV with a wrong shape succeeded")
	}
}

func TestCSVRead(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		want   []float32
		cols   int
		header []string
	}{
		{"plain", "1,2\n3,4\n", []float32{1, 2, 3, 4}, 2, nil},
		{"header spaces comments", "# made by hand\n a , b \n1, 2\n\n3 ,4\n", []float32{1, 2, 3, 4}, 2, []string{"a", "b"}},
		{"crlf no final newline", "1.5,-2e3\r\n3,4", []float32{1.5, -2000, 3, 4}, 2, nil},
		{"single column", "v\n1\n2\n", []float32{1, 2}, 1, []string{"v"}},
		{"quoted", "\"1\",\"2\"\n", []float32{1, 2}, 2, nil},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "f.csv")
			os.WriteFile(path, []byte(tc.text), 0o644)
			got, _, cols, h, err := ReadCSV(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || cols != tc.cols || !reflect.DeepEqual(h, tc.header) {
				t.Errorf("got %v cols %d header %q", got, cols, h)
			}
		})
	}
}

func TestCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"empty", "", "no data rows"},
		{"header only", "a,b\n", "no data rows"},
		{"nan", "1,2\n3,NaN\n", "line 2, column 3 (field 2): \"NaN\" is not a finite"},
		{"inf", "1,2\n-Inf,4\n", "line 2, column 1"},
		{"overflow", "1,1e60\n", "out of the float32 range"},
		{"word", "x,y\n1,2\n3,abc\n", "line 3, column 3 (field 2): \"abc\" is not a number"},
		{"empty cell", "1,,3\n", "empty cell"},
		{"ragged", "1,2\n3,4,5\n", "line 2 has 3 columns but earlier rows have 2"},
		{"bad quote", "1,\"2\n", "line"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.csv")
			os.WriteFile(path, []byte(tc.text), 0o644)
			_, _, _, _, err := ReadCSV(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadCSV() = %v, want an error naming the file and containing %q", err, tc.want)
			}
		})
	}
}
