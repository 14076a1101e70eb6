package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestModeCoverage(t *testing.T) {
	centers := [][]float64{{0, 0}, {1, 0}, {0, 1}}
	r := rand.New(rand.NewPCG(1, 1))
	draw := func(m []float64, s float64, n int) [][]float64 {
		var out [][]float64
		for range n {
			out = append(out, []float64{m[0] + s*r.NormFloat64(), m[1] + s*r.NormFloat64()})
		}
		return out
	}
	cases := []struct {
		name    string
		x       [][]float64
		modes   int
		quality float64 // expected share, ± 0.02
	}{
		// A 2-D Gaussian's radius is Rayleigh: P(r <= 3σ) = 1 − e^{−9/2} ≈ 0.989.
		{"all modes", append(append(draw(centers[0], 0.01, 1000), draw(centers[1], 0.01, 1000)...), draw(centers[2], 0.01, 1000)...), 3, 1 - math.Exp(-4.5)},
		{"collapsed to one", draw(centers[1], 0.01, 3000), 1, 1 - math.Exp(-4.5)},
		{"too wide", draw(centers[0], 0.1, 3000), 1, 1 - math.Exp(-0.045)}, // 3σ_mode = 0.03 = 0.3 of the samples' σ
		{"between modes", draw([]float64{0.5, 0.5}, 0.01, 1000), 0, 0},
	}
	for _, c := range cases {
		cov, err := ModeCoverage(c.x, centers, 0.01, 20)
		if err != nil {
			t.Fatal(err)
		}
		if cov.Modes != c.modes || math.Abs(cov.HighQuality-c.quality) > 0.02 {
			t.Errorf("%s: %d modes, %.3f high quality; want %d and %.3f", c.name, cov.Modes, cov.HighQuality, c.modes, c.quality)
		}
	}
	if _, err := ModeCoverage(nil, centers, 0.01, 1); err == nil {
		t.Error("no samples: no error")
	}
}
