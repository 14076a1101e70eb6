package eval

import (
	"math"
	"testing"
)

func TestBitsPerDim(t *testing.T) {
	// A uniform density on [-1, 1]^D has log p = -D log 2; every 8-bit
	// image is then equally likely, 1/256^D, i.e. exactly 8 bits/dim.
	for _, d := range []int{1, 784, 3072} {
		logp := -float64(d) * math.Log(2)
		if got := BitsPerDim(logp, d); math.Abs(got-8) > 1e-12 {
			t.Errorf("D=%d: uniform density gives %.12g bits/dim, want 8", d, got)
		}
		// The same uniform density on [0, 1]^D has log p = 0.
		if got := BitsPerDimScaled(0, d, 1.0/PixelBins); math.Abs(got-8) > 1e-12 {
			t.Errorf("D=%d: uniform on [0,1] gives %.12g bits/dim, want 8", d, got)
		}
	}
}
