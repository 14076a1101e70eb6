package data

import (
	"fmt"
	"math"
	"strings"
)

// Binarization modes for Transform.Binarize.
const (
	BinarizeNone    = ""
	BinarizeStatic  = "static"  // x > 0.5 -> 1, else 0
	BinarizeDynamic = "dynamic" // x -> Bernoulli(x), resampled every batch
)

// Transform maps examples stored in [0, 1] (pixel/255) to what a model
// trains on. Its steps run in this order:
//
//  1. Dequantize: x = (pixel + u) / 256 with pixel = round(255 x) and
//     u ~ U[0, 1), the uniform dequantization that turns the discrete
//     likelihood of 8-bit data into a continuous density (flows, AR models
//     with continuous outputs). The result lies in [0, 1).
//  2. Binarize: "static" thresholds at 0.5, "dynamic" draws Bernoulli(x)
//     (the usual binarized-MNIST protocol for NADE/VAE likelihoods).
//  3. Symmetric: x -> 2x - 1, from [0, 1] to [-1, 1] (GANs, diffusion).
//
// Dequantize and Binarize exclude each other. The zero Transform changes
// nothing. Every step expects data in [0, 1]; NewBatcher checks that.
type Transform struct {
	Dequantize bool
	Binarize   string
	Symmetric  bool
}

// IsIdentity reports whether t changes nothing.
func (t Transform) IsIdentity() bool {
	return !t.Dequantize && t.Binarize == "" && !t.Symmetric
}

// IsRandom reports whether t draws noise (dequantization or dynamic binarization).
func (t Transform) IsRandom() bool { return t.Dequantize || t.Binarize == BinarizeDynamic }

// Validate checks that the options make sense together.
func (t Transform) Validate() error {
	switch t.Binarize {
	case BinarizeNone, BinarizeStatic, BinarizeDynamic:
	default:
		return fmt.Errorf("transform: unknown binarization %q (want %q, %q or empty)", t.Binarize, BinarizeStatic, BinarizeDynamic)
	}
	if t.Dequantize && t.Binarize != BinarizeNone {
		return fmt.Errorf("transform: dequantization and %s binarization exclude each other", t.Binarize)
	}
	return nil
}

// String describes t, e.g. "dequantize+symmetric" or "identity".
func (t Transform) String() string {
	var parts []string
	if t.Dequantize {
		parts = append(parts, "dequantize")
	}
	if t.Binarize != "" {
		parts = append(parts, t.Binarize+"-binarize")
	}
	if t.Symmetric {
		parts = append(parts, "symmetric")
	}
	if len(parts) == 0 {
		return "identity"
	}
	return strings.Join(parts, "+")
}

// Apply transforms x in place. Its noise is a pure function of seed and the
// position of each value in x, so the same (x, seed) always gives the same
// result. Values are assumed to be in [0, 1] (see CheckRange).
func (t Transform) Apply(x []float32, seed uint64) {
	var r *rng
	if t.IsRandom() {
		r = newRNG(seed)
	}
	switch {
	case t.Dequantize:
		for i, v := range x {
			p := float32(math.Round(float64(v) * 255))
			x[i] = (p + r.float32()) / 256
		}
	case t.Binarize == BinarizeStatic:
		for i, v := range x {
			x[i] = b2f(v > 0.5)
		}
	case t.Binarize == BinarizeDynamic:
		for i, v := range x {
			x[i] = b2f(r.float32() < v)
		}
	}
	if t.Symmetric {
		for i, v := range x {
			x[i] = 2*v - 1
		}
	}
}

// Invert maps model-space values back to [0, 1] in place, for display and
// for writing images: it undoes Symmetric, maps dequantized values back to
// their 8-bit level (floor(256 y)/255), and clamps to [0, 1].
func (t Transform) Invert(x []float32) {
	for i, v := range x {
		if t.Symmetric {
			v = (v + 1) / 2
		}
		if t.Dequantize {
			v = float32(math.Floor(float64(v)*256)) / 255
		}
		x[i] = clamp01(v)
	}
}

// FromSymmetric maps values from [-1, 1] back to [0, 1] in place, clamping.
func FromSymmetric(x []float32) {
	for i, v := range x {
		x[i] = clamp01((v + 1) / 2)
	}
}

// CheckRange returns an error when t needs data in [0, 1] and ds holds values
// outside it. It reads every example once.
func (t Transform) CheckRange(ds Dataset) error {
	if !t.Dequantize && t.Binarize == "" && !t.Symmetric {
		return nil
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for i := 0; i < ds.Len(); i++ {
		x, _ := ds.Item(i)
		for _, v := range x {
			lo = min(lo, v)
			hi = max(hi, v)
		}
	}
	if lo < 0 || hi > 1 || lo != lo || hi != hi {
		return fmt.Errorf("transform %s needs data in [0, 1], but the data set holds values in [%g, %g]", t, lo, hi)
	}
	return nil
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

func clamp01(v float32) float32 {
	if v < 0 || v != v {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}
