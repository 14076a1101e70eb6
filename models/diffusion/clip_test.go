package diffusion

import (
	"math"
	"testing"

	"genmod/models"
	"genmod/solver"
)

// Clipping x̂ to the data range: with data N(0.8, 0.3²) per coordinate,
// about 25% of it lies above 1. Clipped ddim/ddpm samples never leave
// [-1, 1] and pile up at the bound; unclipped they follow the data, and
// samplers that do not step through x̂ (euler) ignore the bound.
func TestClipKeepsSamplesInRange(t *testing.T) {
	g, err := NewGaussian([]float64{0.8, 0.8}, []float64{0.09, 0, 0, 0.09})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := NewDDPM("linear", DDPMSteps)
	const n = 2000
	for _, c := range []struct {
		sampler string
		clip    models.Range
		wantMax float64 // bound on every value (Inf: none)
		above   bool    // some values must exceed 1
	}{
		{"ddim", models.Range{Lo: -1, Hi: 1}, 1, false},
		{"ddpm", models.Range{Lo: -1, Hi: 1}, 1, false},
		{"ddim", models.Range{}, math.Inf(1), true},
		{"euler", models.Range{Lo: -1, Hi: 1}, math.Inf(1), true},
	} {
		x := models.Noise(n, 2, 5)
		plan := Plan{Sampler: c.sampler, Steps: 50, Variance: solver.PosteriorVariance, Clip: c.clip}
		if err := plan.Run(path, g.Denoiser(path), x, 3, nil); err != nil {
			t.Fatalf("%s: %v", c.sampler, err)
		}
		hi, above := math.Inf(-1), 0
		for _, v := range x {
			hi = max(hi, float64(v))
			if v > 1 {
				above++
			}
		}
		if hi > c.wantMax {
			t.Errorf("%s clip %v: max %.3f > %g", c.sampler, c.clip, hi, c.wantMax)
		}
		if frac := float64(above) / float64(len(x)); c.above && (frac < 0.2 || frac > 0.3) {
			t.Errorf("%s clip %v: %.3f of the values above 1, want ≈ 0.25 (the data's share)", c.sampler, c.clip, frac)
		}
	}
}
