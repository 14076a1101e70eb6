package diffusion

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
	"genmod/models"
	"genmod/solver"
)

// The decoder's bins cover the real line: over the 256 pixel values the
// probabilities sum to 1 for any mean and scale, in either pixel range; and
// a bin's probability does not depend on the range it is written in: the
// affine map y = 2u − 1 from [0, 1] to [-1, 1] maps the bin of u, its mean
// and its scale to the bin of y, 2·mean − 1 and 2·sd.
func TestDecoderBins(t *testing.T) {
	sym, unit := models.Range{Lo: -1, Hi: 1}, models.Range{Lo: 0, Hi: 1}
	for _, c := range []struct{ mean, sd float64 }{{0, 0.01}, {0.3, 0.5}, {-0.99, 0.001}, {1.7, 2}, {0.5, 1e-4}} {
		sum, sumUnit := 0.0, 0.0
		for k := 0; k < 256; k++ {
			y, u := float64(k)/127.5-1, float64(k)/255
			lp := logBinProb(y, c.mean, c.sd, sym)
			sum += math.Exp(lp)
			lu := logBinProb(u, (c.mean+1)/2, c.sd/2, unit)
			sumUnit += math.Exp(lu)
			if math.Abs(lp-lu) > 1e-9*math.Max(1, math.Abs(lp)) {
				t.Fatalf("pixel %d, mean %g sd %g: log p %g in [-1, 1], %g in [0, 1]", k, c.mean, c.sd, lp, lu)
			}
		}
		if math.Abs(sum-1) > 1e-6 || math.Abs(sumUnit-1) > 1e-6 {
			t.Errorf("mean %g sd %g: bins sum to %.9f in [-1, 1], %.9f in [0, 1]", c.mean, c.sd, sum, sumUnit)
		}
	}
}

// A perfect x̂ makes each middle term of the bound zero with σ² = β̃, and
// leaves ½(log(β/β̃) + β̃/β − 1) ≥ 0 with σ² = β.
func TestKLStep(t *testing.T) {
	p, _ := NewDDPM("linear", DDPMSteps)
	for _, step := range []int{2, 100, 1000} {
		if kl := klStep(p, step, 0.4, 0.4, solver.PosteriorVariance); kl != 0 {
			t.Errorf("t=%d: KL = %g with x̂ = x_0, want 0", step, kl)
		}
		bt := (1 - p.AlphaBar(step-1)) / (1 - p.AlphaBar(step)) * p.Beta(step)
		want := 0.5 * (math.Log(p.Beta(step)/bt) + bt/p.Beta(step) - 1)
		if kl := klStep(p, step, 0.4, 0.4, solver.ForwardVariance); math.Abs(kl-want) > 1e-12 || kl < 0 {
			t.Errorf("t=%d: KL = %g with σ² = β, want %g", step, kl, want)
		}
		coef := math.Sqrt(p.AlphaBar(step-1)) * p.Beta(step) / (1 - p.AlphaBar(step))
		if kl := klStep(p, step, 0.4, 0.1, solver.PosteriorVariance); math.Abs(kl-coef*coef*0.09/(2*bt)) > 1e-9*kl {
			t.Errorf("t=%d: KL = %g, want (coef·Δ)²/(2β̃) = %g", step, kl, coef*coef*0.09/(2*bt))
		}
	}
}

// On a small untrained model the bound runs, its parts add up to the total,
// and it refuses what it cannot score.
func TestVLBPartsAddUp(t *testing.T) {
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	info := models.DataInfo{Shape: []int{4, 4, 1}}
	mm, err := models.New("ddpm", Options{Channels: []int{4}, TimeDim: 8}, info)
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*Model)
	store := model.NewStore()
	store.SetRNGStateFromSeed(1)
	rt := &models.Runtime{Backend: backend, Store: store, Scope: store.RootScope}
	x := make([]float32, 3*16)
	for i := range x {
		x[i] = float32((i*37)%256)/127.5 - 1
	}
	res, err := m.VLB(rt, x, 3, VLBOptions{Terms: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mean := 0.0
	for _, b := range res.BitsPerDim {
		mean += b / 3
	}
	if sum := res.Prior + res.Diffusion + res.Decoder; math.Abs(sum-mean) > 1e-6*mean || res.Prior < 0 || res.Diffusion < 0 || res.Decoder < 0 {
		t.Errorf("parts %g + %g + %g = %g, total %g", res.Prior, res.Diffusion, res.Decoder, sum, mean)
	}
	if _, err := m.VLB(rt, []float32{0.5}, 1, VLBOptions{}); err == nil {
		t.Error("wrong size accepted")
	}
	x[3] = 0.1234 // not a pixel value
	if _, err := m.VLB(rt, x, 3, VLBOptions{}); err == nil || !strings.Contains(err.Error(), "8-bit") {
		t.Errorf("dequantized input: got %v", err)
	}
	vp, _ := models.New("vp", Options{Channels: []int{4}}, info)
	if _, err := vp.(*Model).VLB(rt, x, 3, VLBOptions{}); err == nil || !strings.Contains(err.Error(), "ddpm") {
		t.Errorf("vp path: got %v", err)
	}
	// The capability says the same before any work.
	if err := m.PixelBoundError(); err != nil {
		t.Errorf("ddpm on images: %v", err)
	}
	if err := vp.(*Model).PixelBoundError(); err == nil || !strings.Contains(err.Error(), "ddpm") {
		t.Errorf("vp: PixelBoundError %v", err)
	}
	bin, _ := models.New("ddpm", Options{Channels: []int{4}, TimeDim: 8}, models.DataInfo{Shape: []int{4, 4, 1}, Binary: true})
	if err := bin.(*Model).PixelBoundError(); err == nil || !strings.Contains(err.Error(), "binarized") {
		t.Errorf("binarized images: PixelBoundError %v", err)
	}
}
