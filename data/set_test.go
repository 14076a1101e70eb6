package data

import (
	"reflect"
	"strings"
	"testing"
)

func seqSet(n, d int, labeled bool) *Set {
	s := &Set{Name: "seq", Shape: []int{d}, X: make([]float32, n*d)}
	for i := range s.X {
		s.X[i] = float32(i) / float32(n*d)
	}
	if labeled {
		s.Y = make([]int32, n)
		for i := range s.Y {
			s.Y[i] = int32(i % 3)
		}
		s.ClassNames = []string{"a", "b", "c"}
	}
	return s
}

func TestSetBasics(t *testing.T) {
	img := &Set{Name: "img", Shape: []int{2, 3, 1}, X: make([]float32, 4*6), Y: []int32{0, 1, 1, 0}, ClassNames: []string{"x", "y"}}
	for i := range img.X {
		img.X[i] = float32(i)
	}
	tests := []struct {
		name              string
		s                 *Set
		len, dim, classes int
		isImage           bool
		example2          []float32
		label2            int32
	}{
		{"image", img, 4, 6, 2, true, []float32{12, 13, 14, 15, 16, 17}, 1},
		{"unlabeled", &Set{Shape: []int{2}, X: []float32{1, 2, 3, 4, 5, 6}}, 3, 2, 0, false, []float32{5, 6}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			if s.Len() != tc.len || s.Dim() != tc.dim || s.NumClasses() != tc.classes || s.IsImage() != tc.isImage {
				t.Fatalf("Len %d Dim %d NumClasses %d IsImage %v", s.Len(), s.Dim(), s.NumClasses(), s.IsImage())
			}
			if got := s.Example(2); !reflect.DeepEqual(got, tc.example2) {
				t.Errorf("Example(2) = %v, want %v", got, tc.example2)
			}
			if x, l := s.Item(2); !reflect.DeepEqual(x, tc.example2) || l != tc.label2 {
				t.Errorf("Item(2) = %v, %d", x, l)
			}
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
			sub := s.Subset([]int{2, 0})
			if sub.Len() != 2 || !reflect.DeepEqual(sub.Example(0), tc.example2) || sub.Label(0) != tc.label2 {
				t.Errorf("Subset: %+v", sub)
			}
			sub.X[0] = -1 // a copy: the original is untouched
			if s.Example(2)[0] == -1 {
				t.Error("Subset shares memory with the original")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	nan := float32(0)
	nan = nan / nan
	tests := []struct {
		name string
		s    *Set
		want string
	}{
		{"empty shape", &Set{X: []float32{1}}, "empty shape"},
		{"ragged", &Set{Shape: []int{2}, X: []float32{1, 2, 3}}, "not a multiple"},
		{"rank 2", &Set{Shape: []int{2, 2}, X: []float32{1, 2, 3, 4}}, "must be [D]"},
		{"nan", &Set{Shape: []int{1}, X: []float32{1, nan}}, "non-finite"},
		{"label count", &Set{Shape: []int{1}, X: []float32{1, 2}, Y: []int32{0}, ClassNames: []string{"a"}}, "1 labels for 2"},
		{"label range", &Set{Shape: []int{1}, X: []float32{1}, Y: []int32{3}, ClassNames: []string{"a"}}, "outside"},
		{"no names", &Set{Shape: []int{1}, X: []float32{1}, Y: []int32{0}}, "without class names"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	s := seqSet(100, 3, true)
	train, test, err := Split(s, 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 80 || test.Len() != 20 {
		t.Fatalf("sizes %d/%d", train.Len(), test.Len())
	}
	// Disjoint, covering, deterministic.
	seen := map[float32]bool{}
	for _, part := range []*Set{train, test} {
		for i := 0; i < part.Len(); i++ {
			seen[part.Example(i)[0]] = true
		}
	}
	if len(seen) != 100 {
		t.Errorf("split covers %d distinct examples, want 100", len(seen))
	}
	train2, test2, _ := Split(s, 0.2, 7)
	if !reflect.DeepEqual(train.X, train2.X) || !reflect.DeepEqual(test.Y, test2.Y) {
		t.Error("Split is not deterministic")
	}
	train3, _, _ := Split(s, 0.2, 8)
	if reflect.DeepEqual(train.X, train3.X) {
		t.Error("another seed gave the same split")
	}
	for _, frac := range []float64{0, 1, -0.5, 0.001, 0.999} {
		if _, _, err := Split(s, frac, 1); err == nil {
			t.Errorf("Split(frac=%v) succeeded", frac)
		}
	}
}
