package data

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func pixelSet(n, d int) *Set {
	s := &Set{Name: "pix", Shape: []int{d}, X: make([]float32, n*d), Y: make([]int32, n), ClassNames: []string{"a", "b"}}
	for i := range s.X {
		s.X[i] = float32(i%256) / 255
	}
	for i := range s.Y {
		s.Y[i] = int32(i % 2)
	}
	return s
}

func TestBatcherResume(t *testing.T) {
	tests := []struct {
		name string
		n    int
		opts BatchOptions
	}{
		{"plain", 50, BatchOptions{BatchSize: 8, Seed: 1}},
		{"droplast dequantize", 50, BatchOptions{BatchSize: 8, Seed: 2, DropLast: true, Transform: Transform{Dequantize: true, Symmetric: true}}},
		{"dynamic binarize", 37, BatchOptions{BatchSize: 5, Seed: 3, Transform: Transform{Binarize: BinarizeDynamic}}},
		{"batch larger than set", 5, BatchOptions{BatchSize: 8, Seed: 4, Transform: Transform{Dequantize: true}}},
	}
	for _, tc := range tests {
		for _, k := range []int{0, 1, 6, 7, 13} {
			ds := pixelSet(tc.n, 4)
			a, err := NewBatcher(ds, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < k; i++ {
				a.Next()
			}
			// The state goes through JSON as in a checkpoint.
			js, err := json.Marshal(a.State())
			if err != nil {
				t.Fatal(err)
			}
			var st BatcherState
			if err := json.Unmarshal(js, &st); err != nil {
				t.Fatal(err)
			}
			b, _ := NewBatcher(ds, tc.opts)
			if err := b.Restore(st); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				xa, ya := a.Next()
				xb, yb := b.Next()
				if !reflect.DeepEqual(xa, xb) || !reflect.DeepEqual(ya, yb) {
					t.Fatalf("%s: after %d batches and a resume, batch %d differs", tc.name, k, i)
				}
			}
		}
	}
}

func TestBatcherEpochs(t *testing.T) {
	ds := seqSet(10, 1, true)
	tests := []struct {
		name     string
		opts     BatchOptions
		sizes    []int // batch sizes of one epoch
		perEpoch int
	}{
		{"keep last", BatchOptions{BatchSize: 4, Seed: 9}, []int{4, 4, 2}, 3},
		{"drop last", BatchOptions{BatchSize: 4, Seed: 9, DropLast: true}, []int{4, 4}, 2},
		{"exact", BatchOptions{BatchSize: 5, Seed: 9}, []int{5, 5}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBatcher(ds, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if b.BatchesPerEpoch() != tc.perEpoch {
				t.Errorf("BatchesPerEpoch() = %d, want %d", b.BatchesPerEpoch(), tc.perEpoch)
			}
			var epochs [][]float32
			for e := 0; e < 3; e++ {
				var seen []float32
				for _, size := range tc.sizes {
					x, y := b.Next()
					if len(x) != size || len(y) != size {
						t.Fatalf("epoch %d: batch of %d values / %d labels, want %d", e, len(x), len(y), size)
					}
					for j := range x {
						// seqSet: example i has value i/10 and label i%3.
						if want := int32(int(x[j]*10+0.5) % 3); y[j] != want {
							t.Fatalf("label %d does not belong to value %v", y[j], x[j])
						}
					}
					seen = append(seen, x...)
				}
				distinct := map[float32]bool{}
				for _, v := range seen {
					distinct[v] = true
				}
				if len(distinct) != len(seen) {
					t.Errorf("epoch %d repeats an example: %v", e, seen)
				}
				if !tc.opts.DropLast && len(distinct) != 10 {
					t.Errorf("epoch %d covers %d examples, want 10", e, len(distinct))
				}
				epochs = append(epochs, seen)
			}
			if reflect.DeepEqual(epochs[0], epochs[1]) && reflect.DeepEqual(epochs[1], epochs[2]) {
				t.Error("every epoch has the same order; no reshuffling")
			}
			if st := b.State(); st.Epoch != 2 {
				t.Errorf("state after 3 epochs = %+v", st)
			}
		})
	}
}

func TestBatcherSeedMatters(t *testing.T) {
	ds := seqSet(100, 1, false)
	a, _ := NewBatcher(ds, BatchOptions{BatchSize: 10, Seed: 1})
	b, _ := NewBatcher(ds, BatchOptions{BatchSize: 10, Seed: 2})
	xa, ya := a.Next()
	xb, _ := b.Next()
	if reflect.DeepEqual(xa, xb) {
		t.Error("different seeds gave the same first batch")
	}
	if ya != nil {
		t.Error("unlabeled data set gave labels")
	}
}

func TestBatcherErrors(t *testing.T) {
	toyish := &Set{Name: "toy", Shape: []int{2}, X: []float32{-3, 1, 0.5, 2}}
	tests := []struct {
		name string
		ds   Dataset
		opts BatchOptions
		want string
	}{
		{"zero batch", seqSet(5, 1, false), BatchOptions{}, "batch size 0"},
		{"empty", &Set{Shape: []int{1}}, BatchOptions{BatchSize: 1}, "empty"},
		{"drop everything", seqSet(5, 1, false), BatchOptions{BatchSize: 6, DropLast: true}, "no batch is left"},
		{"bad binarize", seqSet(5, 1, false), BatchOptions{BatchSize: 1, Transform: Transform{Binarize: "soft"}}, "unknown binarization"},
		{"both", seqSet(5, 1, false), BatchOptions{BatchSize: 1, Transform: Transform{Binarize: "static", Dequantize: true}}, "exclude"},
		{"range", toyish, BatchOptions{BatchSize: 1, Transform: Transform{Symmetric: true}}, "[-3, 2]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBatcher(tc.ds, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewBatcher() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	b, _ := NewBatcher(seqSet(5, 1, false), BatchOptions{BatchSize: 2})
	for _, st := range []BatcherState{{Epoch: -1}, {Pos: -1}, {Pos: 6}} {
		if err := b.Restore(st); err == nil {
			t.Errorf("Restore(%+v) succeeded", st)
		}
	}
}
