package vae

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

// valueBudget bounds rows·samples·D, the decoder outputs one graph call
// holds (2²¹ float32 = 8 MiB), so K = 5000 on 784-pixel images runs in
// chunks of ~2,600 samples.
const valueBudget = 1 << 21

// Sample draws z ~ N(0, T²I) from req.Seed (T from the request's
// models.TemperatureOptions, 1 by default)
// and returns the decoder's mean E[x|z] (pixel probabilities for a
// Bernoulli decoder), the usual way VAE samples are shown; the decoder's
// own noise is not added.
func (m *Model) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	if req.N < 1 {
		return nil, fmt.Errorf("need at least 1 sample, got n=%d", req.N)
	}
	if req.Labels != nil {
		return nil, fmt.Errorf("%s is unconditional: classes do not apply", m.kind)
	}
	z, err := models.PriorNoise(req, m.cfg.Latent)
	if err != nil {
		return nil, err
	}
	return m.runRows(rt, "sampling", z, req.N, m.cfg.Latent, m.info.Dim(), m.mean, req.Progress)
}

// Encode maps n rows of data x (model space) to their posterior means
// μ(x), n·Latent values: the VAE's deterministic code of x, for latent
// arithmetic and interpolation (Decode maps codes back).
func (m *Model) Encode(rt *models.Runtime, x []float32, n int) ([]float32, error) {
	if err := models.CheckRows("encode", x, n, m.info.Dim()); err != nil {
		return nil, err
	}
	mu := func(scope *model.Scope, x *Node) *Node {
		mu, _ := m.encode(scope, x)
		return mu
	}
	return m.runRows(rt, "encoding", x, n, m.info.Dim(), m.cfg.Latent, mu, nil)
}

// Decode maps n latents z (n·Latent values) to the decoder's mean E[x|z].
func (m *Model) Decode(rt *models.Runtime, z []float32, n int) ([]float32, error) {
	if err := models.CheckRows("decode", z, n, m.cfg.Latent); err != nil {
		return nil, err
	}
	return m.runRows(rt, "decoding", z, n, m.cfg.Latent, m.info.Dim(), m.mean, nil)
}

// LatentDim is the number of latent values per example.
func (m *Model) LatentDim() int { return m.cfg.Latent }

// runRows applies f to n rows of width in, in batches of equal size (the
// last one zero-padded, so the graph compiles once) holding at most
// valueBudget outputs, and checks that every output is finite.
func (m *Model) runRows(rt *models.Runtime, what string, in []float32, n, inDim, outDim int,
	f func(scope *model.Scope, x *Node) *Node, progress func(done, total int)) ([]float32, error) {
	if err := checkRuntime(rt); err != nil {
		return nil, err
	}
	bs := max(1, min(n, valueBudget/outDim))
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x *Node) *Node {
		return f(rt.Scope(), x)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	out := make([]float32, n*outDim)
	buf := make([]float32, bs*inDim)
	for lo := 0; lo < n; lo += bs {
		hi := min(lo+bs, n)
		clear(buf)
		copy(buf, in[lo*inDim:hi*inDim])
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(buf, bs, inDim))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		copy(out[lo*outDim:hi*outDim], tensors.MustCopyFlatData[float32](res[0]))
		if progress != nil {
			progress(hi, n)
		}
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: row %d is not finite; the model's weights or this input are out of its working range", what, i/outDim+1)
		}
	}
	return out, nil
}

// Bounds estimates the ELBO and the IWAE_K bound of n rows of x (len n·D,
// model data space) from K samples z_k = μ + σ·ε_k of q(z|x) per row, with
// ε drawn from seed. Rows and samples are batched so that a graph call
// holds at most valueBudget decoder outputs; log w is summed in float64.
func (m *Model) Bounds(rt *models.Runtime, x []float32, n, k int, seed int64) (*models.Bounds, error) {
	d, l := m.info.Dim(), m.cfg.Latent
	if err := models.CheckRows("bounds", x, n, d); err != nil {
		return nil, err
	}
	if k < 1 {
		return nil, fmt.Errorf("bounds: need k >= 1 importance samples, got %d", k)
	}
	if err := checkRuntime(rt); err != nil {
		return nil, err
	}
	// kc samples per call; rows per call only when all K samples fit.
	kc := max(1, min(k, valueBudget/d))
	rowsPer := 1
	if kc == k {
		rowsPer = max(1, min(n, valueBudget/(d*k)))
	}
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x, eps *Node) *Node {
		return ConvertDType(m.logWeights(rt.Scope(), x, eps), dtypes.Float64)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x1a7e47))
	xb := make([]float32, rowsPer*d)
	eps := make([]float32, rowsPer*kc*l)
	res := &models.Bounds{ELBO: make([]float64, n), IWAE: make([]float64, n), K: k}
	for lo := 0; lo < n; lo += rowsPer {
		hi := min(lo+rowsPer, n)
		clear(xb)
		copy(xb, x[lo*d:hi*d])
		acc := make([]logMeanAcc, hi-lo)
		for done := 0; done < k; done += kc {
			take := min(kc, k-done)
			for i := range eps {
				eps[i] = float32(rng.NormFloat64())
			}
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(xb, rowsPer, d), tensors.FromFlatDataAndDimensions(eps, rowsPer, kc, l))
			if err != nil {
				return nil, fmt.Errorf("bounds: %w", err)
			}
			lw := tensors.MustCopyFlatData[float64](out[0])
			for r := range acc {
				for j := 0; j < take; j++ {
					v := lw[r*kc+j]
					if math.IsNaN(v) || math.IsInf(v, 0) {
						return nil, fmt.Errorf("bounds: row %d: log-weight is not finite (%v); the model's weights or this input are out of its working range", lo+r+1, v)
					}
					acc[r].add(v)
				}
			}
		}
		for r, a := range acc {
			res.ELBO[lo+r], res.IWAE[lo+r] = a.mean(), a.logMeanExp()
		}
	}
	return res, nil
}

// logMeanAcc accumulates log-weights: their mean (the ELBO estimate) and a
// running log Σ exp (the IWAE bound), without overflow.
type logMeanAcc struct {
	n           int
	sum         float64 // Σ v
	max, sumExp float64 // Σ exp(v − max)
}

func (a *logMeanAcc) add(v float64) {
	if a.n == 0 || v > a.max {
		a.sumExp = a.sumExp*math.Exp(a.max-v) + 1
		if a.n == 0 {
			a.sumExp = 1
		}
		a.max = v
	} else {
		a.sumExp += math.Exp(v - a.max)
	}
	a.n++
	a.sum += v
}

func (a *logMeanAcc) mean() float64 { return a.sum / float64(a.n) }

func (a *logMeanAcc) logMeanExp() float64 {
	return a.max + math.Log(a.sumExp) - math.Log(float64(a.n))
}

func checkRuntime(rt *models.Runtime) error {
	if rt == nil || rt.Backend == nil || rt.Store == nil || rt.Scope == nil {
		return fmt.Errorf("the runtime has no backend or store")
	}
	return nil
}
