package data

import (
	"fmt"
	"math"
)

// Dataset is what the Batcher reads from. *Set implements it; other sources
// (streamed files, generated data) can too.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// ExampleShape is the shape of one example: [H, W, C] for images, [D] otherwise.
	ExampleShape() []int
	// Item returns example i (row-major, prod(ExampleShape()) values) and its
	// label, or -1 when the data set is unlabeled. The caller must not modify x.
	Item(i int) (x []float32, label int32)
	// NumClasses is the number of label values, 0 when unlabeled.
	NumClasses() int
}

// Set is an in-memory data set.
type Set struct {
	Name string
	// Shape is the per-example shape: [H, W, C] for images (NHWC order, C=1
	// for grayscale), [D] for tabular and 2D data.
	Shape []int
	// X holds Len()*Dim() values, row-major. Images are stored in [0, 1]
	// (pixel/255).
	X []float32
	// Y holds labels in [0, NumClasses()), or is nil when unlabeled.
	Y []int32
	// ClassNames has one name per class; nil when unlabeled.
	ClassNames []string
}

var _ Dataset = (*Set)(nil)

// Dim is the number of values in one example, the product of Shape.
func (s *Set) Dim() int { return shapeProd(s.Shape) }

// Len is the number of examples.
func (s *Set) Len() int {
	d := s.Dim()
	if d == 0 {
		return 0
	}
	return len(s.X) / d
}

// IsImage reports whether examples are images ([H, W, C]).
func (s *Set) IsImage() bool { return len(s.Shape) == 3 }

// NumClasses is the number of classes, 0 when the set is unlabeled.
func (s *Set) NumClasses() int {
	if s.Y == nil {
		return 0
	}
	return len(s.ClassNames)
}

// ExampleShape returns s.Shape (it implements Dataset).
func (s *Set) ExampleShape() []int { return s.Shape }

// Example returns the values of example i. It is a view into s.X, not a copy.
// It panics if i is out of range, like slice indexing.
func (s *Set) Example(i int) []float32 {
	d := s.Dim()
	return s.X[i*d : (i+1)*d : (i+1)*d]
}

// Label returns the label of example i, or -1 when the set is unlabeled.
func (s *Set) Label(i int) int32 {
	if s.Y == nil {
		return -1
	}
	return s.Y[i]
}

// Item returns Example(i) and Label(i) (it implements Dataset).
func (s *Set) Item(i int) ([]float32, int32) { return s.Example(i), s.Label(i) }

// Subset returns a new set holding copies of the examples idx, in that order.
// It panics if an index is out of range, like slice indexing.
func (s *Set) Subset(idx []int) *Set {
	d := s.Dim()
	out := &Set{
		Name:       s.Name,
		Shape:      append([]int(nil), s.Shape...),
		X:          make([]float32, len(idx)*d),
		ClassNames: s.ClassNames,
	}
	if s.Y != nil {
		out.Y = make([]int32, len(idx))
	}
	for k, i := range idx {
		copy(out.X[k*d:(k+1)*d], s.X[i*d:(i+1)*d])
		if s.Y != nil {
			out.Y[k] = s.Y[i]
		}
	}
	return out
}

// Head returns the first n examples (all of them if n <= 0 or n >= Len()),
// sharing memory with s.
func (s *Set) Head(n int) *Set {
	if n <= 0 || n >= s.Len() {
		return s
	}
	out := *s
	out.X = s.X[:n*s.Dim()]
	if s.Y != nil {
		out.Y = s.Y[:n]
	}
	return &out
}

// ClassCounts returns the number of examples of each class (nil if unlabeled).
func (s *Set) ClassCounts() []int {
	if s.Y == nil {
		return nil
	}
	c := make([]int, s.NumClasses())
	for _, y := range s.Y {
		if int(y) >= 0 && int(y) < len(c) {
			c[y]++
		}
	}
	return c
}

// Validate checks that the fields agree with each other: a positive shape,
// len(X) a multiple of Dim(), finite values, labels in range.
func (s *Set) Validate() error {
	if len(s.Shape) == 0 {
		return fmt.Errorf("data set %q: empty shape", s.Name)
	}
	for _, d := range s.Shape {
		if d <= 0 {
			return fmt.Errorf("data set %q: shape %v has a non-positive dimension", s.Name, s.Shape)
		}
	}
	if len(s.Shape) != 1 && len(s.Shape) != 3 {
		return fmt.Errorf("data set %q: shape %v must be [D] or [H, W, C]", s.Name, s.Shape)
	}
	d := s.Dim()
	if len(s.X)%d != 0 {
		return fmt.Errorf("data set %q: %d values is not a multiple of the example size %d", s.Name, len(s.X), d)
	}
	n := len(s.X) / d
	for i, v := range s.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("data set %q: example %d holds a non-finite value %v", s.Name, i/d, v)
		}
	}
	if s.Y == nil {
		return nil
	}
	if len(s.Y) != n {
		return fmt.Errorf("data set %q: %d labels for %d examples", s.Name, len(s.Y), n)
	}
	if len(s.ClassNames) == 0 {
		return fmt.Errorf("data set %q: labels without class names", s.Name)
	}
	for i, y := range s.Y {
		if y < 0 || int(y) >= len(s.ClassNames) {
			return fmt.Errorf("data set %q: example %d has label %d outside [0, %d)", s.Name, i, y, len(s.ClassNames))
		}
	}
	return nil
}

// Split deterministically shuffles s with seed and cuts it into a training
// part and a test part holding round(testFrac*Len()) examples. Both parts are
// copies; each must end up non-empty.
func Split(s *Set, testFrac float64, seed int64) (train, test *Set, err error) {
	if !(testFrac > 0 && testFrac < 1) {
		return nil, nil, fmt.Errorf("splitting %q: test fraction %v must be in (0, 1)", s.Name, testFrac)
	}
	n := s.Len()
	nTest := int(math.Round(testFrac * float64(n)))
	if nTest < 1 || nTest >= n {
		return nil, nil, fmt.Errorf("splitting %q: %d examples are too few for a test fraction of %v", s.Name, n, testFrac)
	}
	p := newRNG(streamKey(seed, tagSplit)).perm(n)
	return s.Subset(p[nTest:]), s.Subset(p[:nTest]), nil
}

func shapeProd(shape []int) int {
	if len(shape) == 0 {
		return 0
	}
	p := 1
	for _, d := range shape {
		p *= d
	}
	return p
}
