package nn

import (
	"math/rand/v2"
	"testing"
)

// TestMADEMasksAutoregressive multiplies the masks of natural and random
// MADEs: output o must be reachable from input i exactly when i comes
// before o's input in the order (some path exists in a wide enough net),
// and never otherwise.
func TestMADEMasksAutoregressive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		deg  MADEDegrees
		full bool // every allowed connection is realized
	}{
		{"natural/1 layer", NaturalMADEDegrees(5, []int{16}), true},
		{"natural/2 layers", NaturalMADEDegrees(6, []int{20, 20}), true},
		{"random/2 layers", RandomMADEDegrees(6, []int{64, 64}, r), true},
		{"random/no hidden", RandomMADEDegrees(4, nil, r), true},
		{"natural/D=1", NaturalMADEDegrees(1, []int{3}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			masks := tc.deg.Masks(1)
			d := len(tc.deg.Inputs)
			// reach[i][k]: number of paths from input i to unit k.
			reach := make([][]float64, d)
			for i := range reach {
				reach[i] = make([]float64, d)
				reach[i][i] = 1
			}
			for _, m := range masks {
				next := make([][]float64, d)
				for i := range next {
					next[i] = make([]float64, len(m[0]))
					for j, v := range reach[i] {
						if v == 0 {
							continue
						}
						for k, ok := range m[j] {
							next[i][k] += v * ok
						}
					}
				}
				reach = next
			}
			order := tc.deg.Order()
			for step, o := range order {
				if tc.deg.Inputs[o] != step+1 {
					t.Fatalf("Order()[%d] = %d, but that input has degree %d", step, o, tc.deg.Inputs[o])
				}
			}
			for i := range d {
				for o := range d {
					before := tc.deg.Inputs[i] < tc.deg.Inputs[o]
					if reach[i][o] > 0 && !before {
						t.Errorf("output %d (degree %d) reads input %d (degree %d)", o, tc.deg.Inputs[o], i, tc.deg.Inputs[i])
					}
					if tc.full && before && reach[i][o] == 0 {
						t.Errorf("output %d (degree %d) cannot read input %d (degree %d)", o, tc.deg.Inputs[o], i, tc.deg.Inputs[i])
					}
				}
			}
		})
	}
}
