package solver

import (
	"math"
	"testing"
)

type line struct{}

func (line) Coefs(t float64) (a, b, da, db float64) { return 1 - t, t, -1, 1 }

// ClipDenoiser bounds x̂, leaves in-range predictions alone and keeps
// x_t = a·x̂ + b·ẑ where it clips.
func TestClipDenoiser(t *testing.T) {
	raw := func(x []float32, _ float64, xhat, zhat []float32) error {
		copy(xhat, []float32{-3, 0.5, 2})
		copy(zhat, []float32{1, -1, 0.25})
		return nil
	}
	x := []float32{0.2, -0.4, 1.1}
	for _, tm := range []float64{0.5, 0} {
		xhat, zhat := make([]float32, 3), make([]float32, 3)
		if err := ClipDenoiser(line{}, raw, -1, 1)(x, tm, xhat, zhat); err != nil {
			t.Fatal(err)
		}
		if xhat[0] != -1 || xhat[1] != 0.5 || xhat[2] != 1 {
			t.Errorf("t=%g: x̂ = %v, want [-1 0.5 1]", tm, xhat)
		}
		if zhat[1] != -1 {
			t.Errorf("t=%g: in-range ẑ changed to %v", tm, zhat[1])
		}
		a, b, _, _ := line{}.Coefs(tm)
		for _, i := range []int{0, 2} { // the clipped ones
			if b > 0 && math.Abs(a*float64(xhat[i])+b*float64(zhat[i])-float64(x[i])) > 1e-6 {
				t.Errorf("t=%g: a·x̂+b·ẑ = %v, want x = %v", tm, a*float64(xhat[i])+b*float64(zhat[i]), x[i])
			}
		}
		if tm == 0 && zhat[0] != 1 {
			t.Errorf("b = 0: ẑ changed to %v", zhat[0])
		}
	}
}
