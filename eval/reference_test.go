package eval

import (
	"slices"
	"testing"

	"genmod/data"
)

func TestReferenceSubset(t *testing.T) {
	// 100 one-value examples whose value encodes their index and label.
	set := &data.Set{Shape: []int{1}, X: make([]float32, 100), Y: make([]int32, 100)}
	for i := range set.X {
		set.X[i], set.Y[i] = float32(i), int32(i%10)
	}
	all, allY := referenceSubset(set, 100, 1)
	if len(all) != 100 || all[99] != 99 || len(allY) != 100 {
		t.Fatalf("n = len: got %d values, want the whole split in order", len(all))
	}
	x, y := referenceSubset(set, 20, 1)
	again, _ := referenceSubset(set, 20, 1)
	other, _ := referenceSubset(set, 20, 2)
	if len(x) != 20 || len(y) != 20 {
		t.Fatalf("got %d values and %d labels, want 20", len(x), len(y))
	}
	seen := map[float32]bool{}
	beyondFirst := false
	for i, v := range x {
		if seen[v] {
			t.Fatalf("example %v chosen twice", v)
		}
		seen[v] = true
		if y[i] != int32(v)%10 {
			t.Fatalf("label %d does not belong to example %v", y[i], v)
		}
		beyondFirst = beyondFirst || v >= 20
		if again[i] != v {
			t.Fatalf("same seed, different subset")
		}
	}
	if !beyondFirst {
		t.Fatalf("subset is the first 20 examples: %v", x)
	}
	if slices.Equal(x, other) {
		t.Fatalf("different seeds gave the same subset")
	}
}
