// Package eval scores generative models the same way across families:
// likelihoods (nats, bits/dim) and sample-quality metrics.
package eval

import "math"

// PixelBins is the number of intensity levels of 8-bit images.
const PixelBins = 256

// BitsPerDim converts the log-density logp (nats) of one 8-bit image with
// dims values, evaluated in genmod's symmetric pixel space [-1, 1], into
// bits per dimension of the discrete image.
//
// With uniform dequantization y = (k + u)/256, u ~ U[0, 1), a pixel k in
// {0..255} owns a bin of width 1/256 in [0, 1]; genmod models x = 2y - 1,
// whose bins are 2/256 = 1/128 wide. So log P(k) >= log p(x) - D·log 128, and
//
//	bits/dim = -log p(x) / (D·ln 2) + log2(128) = -log p(x)/(D·ln 2) + 7.
//
// For data kept in [0, 1] (no symmetric scaling) use BitsPerDimScaled with
// binWidth 1/256.
func BitsPerDim(logp float64, dims int) float64 {
	return BitsPerDimScaled(logp, dims, 2.0/PixelBins)
}

// BitsPerDimScaled is BitsPerDim for data whose dequantization bins have
// width binWidth in the model's space: -log p/(D ln 2) - log2(binWidth).
func BitsPerDimScaled(logp float64, dims int, binWidth float64) float64 {
	return -logp/(float64(dims)*math.Ln2) - math.Log2(binWidth)
}
