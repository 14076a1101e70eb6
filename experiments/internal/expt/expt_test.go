package expt

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

type row struct {
	Experiment string  `json:"experiment"`
	Value      float64 `json:"value"`
}

func TestMergeRowsReplacesOnlyRerunKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	key := func(r row) string { return r.Experiment }
	if err := MergeRows(path, []row{{"a", 1}, {"b", 2}}, key); err != nil {
		t.Fatal(err)
	}
	if err := MergeRows(path, []row{{"b", 3}, {"c", 4}}, key); err != nil {
		t.Fatal(err)
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "experiment": "a",
    "value": 1
  },
  {
    "experiment": "b",
    "value": 3
  },
  {
    "experiment": "c",
    "value": 4
  }
]
`
	if string(buf) != want {
		t.Errorf("results file:\n%s\nwant:\n%s", buf, want)
	}
}

func TestRunPartsOnlyAfterAndErrors(t *testing.T) {
	var ran []string
	part := func(name string, err error) Part {
		return Part{Name: name, Run: func() error { ran = append(ran, name); return err }}
	}
	after := func() error { ran = append(ran, "after"); return nil }
	if err := RunParts("b", []Part{part("a", nil), part("b", nil)}, after); err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "after"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("-only b ran %v, want %v", ran, want)
	}
	ran = nil
	boom := errors.New("boom")
	err := RunParts("", []Part{part("a", nil), part("b", boom), part("c", nil)}, nil)
	if !errors.Is(err, boom) || err.Error() != "b: boom" {
		t.Errorf("error %v, want b: boom", err)
	}
	if want := []string{"a", "b"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("ran %v, want %v (stop at the first error)", ran, want)
	}
}
