package eval

import (
	"errors"
	"math"
)

// Coverage is how a sample covers a mixture of tight modes (the GAN
// mode-collapse benchmarks: VEEGAN, Srivastava et al. 2017, §5.1; PacGAN,
// Lin et al. 2018).
type Coverage struct {
	// Modes is the number of modes recovered: modes that hold at least
	// MinCount high-quality samples.
	Modes int
	// HighQuality is the share of samples within 3σ of their nearest
	// mode's centre.
	HighQuality float64
	// PerMode are the high-quality samples of each mode, in centre order.
	PerMode []int
}

// ModeCoverage assigns each sample to its nearest centre, counts it as
// high quality within 3σ of it (Euclidean distance), and counts a mode as
// recovered when at least minCount samples are high quality there.
func ModeCoverage(x [][]float64, centers [][]float64, sigma float64, minCount int) (*Coverage, error) {
	if len(x) == 0 || len(centers) == 0 || !(sigma > 0) || minCount < 1 {
		return nil, errors.New("mode coverage needs samples, centres, σ > 0 and a count >= 1")
	}
	c := &Coverage{PerMode: make([]int, len(centers))}
	good := 0
	for _, p := range x {
		if len(p) != len(centers[0]) {
			return nil, errors.New("mode coverage: samples and centres differ in dimension")
		}
		best, bd := 0, math.Inf(1)
		for k, m := range centers {
			d := 0.0
			for i := range p {
				d += (p[i] - m[i]) * (p[i] - m[i])
			}
			if d < bd {
				best, bd = k, d
			}
		}
		if math.Sqrt(bd) <= 3*sigma {
			c.PerMode[best]++
			good++
		}
	}
	for _, n := range c.PerMode {
		if n >= minCount {
			c.Modes++
		}
	}
	c.HighQuality = float64(good) / float64(len(x))
	return c, nil
}
