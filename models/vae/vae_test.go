package vae

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"gonum.org/v1/gonum/mat"

	"genmod/internal/engine"
	"genmod/models"
)

// linearGaussian is the VAE with linear encoder and decoder and a Gaussian
// decoder: p(x) = N(b, WᵀW + diag s²) is exact, and so is the posterior,
// so the bounds can be checked against the truth.
type linearGaussian struct {
	w      [][]float64 // decoder weights [L][D]
	b, s   []float64   // decoder bias and scale [D]
	encW   [][]float64 // encoder weights [D][2L]
	encB   []float64   // encoder biases [2L]
	latent int
}

func newRuntime(t *testing.T) (compute.Backend, *model.Store, *models.Runtime) {
	t.Helper()
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	return backend, store, &models.Runtime{Backend: backend, Store: store, Scope: store.RootScope}
}

func setVar(t *testing.T, store *model.Store, path string, v []float32, dims ...int) {
	t.Helper()
	if _, err := store.CreateVariable(path, tensors.FromFlatDataAndDimensions(v, dims...)); err != nil {
		t.Fatal(err)
	}
}

func flat(m [][]float64) []float32 {
	var out []float32
	for _, r := range m {
		for _, v := range r {
			out = append(out, float32(v))
		}
	}
	return out
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func (lg linearGaussian) install(t *testing.T, store *model.Store) {
	d, l := len(lg.b), lg.latent
	logS := make([]float64, d)
	for i, s := range lg.s {
		logS[i] = math.Log(s)
	}
	setVar(t, store, "/decoder/layer_0/weights", flat(lg.w), l, d)
	setVar(t, store, "/decoder/layer_0/biases", to32(lg.b), d)
	setVar(t, store, "/output/log_scale", to32(logS), d)
	setVar(t, store, "/encoder/layer_0/weights", flat(lg.encW), d, 2*l)
	setVar(t, store, "/encoder/layer_0/biases", to32(lg.encB), 2*l)
}

// logP is the exact log N(x; b, WᵀW + diag s²).
func (lg linearGaussian) logP(x []float64) float64 {
	d := len(x)
	cov := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := 0.0
			for _, row := range lg.w {
				v += row[i] * row[j]
			}
			if i == j {
				v += lg.s[i] * lg.s[i]
			}
			cov.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(cov) {
		panic("covariance not positive definite")
	}
	r := mat.NewVecDense(d, nil)
	for i := range x {
		r.SetVec(i, x[i]-lg.b[i])
	}
	sol := mat.NewVecDense(d, nil)
	if err := ch.SolveVecTo(sol, r); err != nil {
		panic(err)
	}
	return -0.5*mat.Dot(r, sol) - 0.5*ch.LogDet() - 0.5*float64(d)*math.Log(2*math.Pi)
}

// exactPosteriorModel: decoder rows orthogonal and s isotropic, so the true
// posterior N(M⁻¹Wσ⁻²(x−b), M⁻¹), M = I + WWᵀ/s², has a diagonal
// covariance, which the encoder then represents exactly.
func exactPosteriorModel() linearGaussian {
	w := [][]float64{{1.5, 0, 0}, {0, -0.7, 0}}
	s := 0.6
	lg := linearGaussian{w: w, b: []float64{0.3, -0.2, 0.5}, s: []float64{s, s, s}, latent: 2}
	lg.encW = [][]float64{make([]float64, 4), make([]float64, 4), make([]float64, 4)}
	lg.encB = make([]float64, 4)
	for k, row := range w {
		m := 1.0
		for _, v := range row {
			m += v * v / (s * s)
		}
		for i, v := range row {
			lg.encW[i][k] = v / (s * s) / m // μ_k = Σ_i (x_i − b_i) W_ki / (s² M_k)
			lg.encB[k] -= lg.b[i] * v / (s * s) / m
		}
		lg.encB[2+k] = -math.Log(m) // log-variance M_k⁻¹
	}
	return lg
}

// boundsSetup installs lg's weights in a fresh store and returns the
// linear "vae", its runtime, and the test rows (also flattened).
func (lg linearGaussian) boundsSetup(t *testing.T, flows int) (*Model, *models.Runtime, [][]float64, []float32) {
	t.Helper()
	_, store, rt := newRuntime(t)
	lg.install(t, store)
	m, err := NewConfig("vae", Config{Hidden: []int{}, Latent: 2, Decoder: Gaussian, Flows: flows}, models.DataInfo{Shape: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	rows := testRows()
	var x []float32
	for _, r := range rows {
		x = append(x, to32(r)...)
	}
	return m, rt, rows, x
}

func testRows() [][]float64 {
	return [][]float64{{0.1, 0.2, 0.3}, {-1.2, 0.8, 2.0}, {2.5, -1.5, 0.0}, {0, 0, 0}}
}

// With the exact posterior every importance weight equals p(x): the ELBO,
// the IWAE bound and log p(x) coincide for every K.
func TestBoundsExactPosterior(t *testing.T) {
	lg := exactPosteriorModel()
	m, rt, rows, x := lg.boundsSetup(t, 0)
	for _, k := range []int{1, 7, 3000} {
		b, err := m.Bounds(rt, x, len(rows), k, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			want := lg.logP(r)
			if math.Abs(b.ELBO[i]-want) > 1e-4 || math.Abs(b.IWAE[i]-want) > 1e-4 {
				t.Errorf("k=%d row %d: ELBO %.6f IWAE %.6f, want log p(x) = %.6f", k, i, b.ELBO[i], b.IWAE[i], want)
			}
		}
	}
}

// With a poor posterior (the encoder off by a shift and too wide, and with
// two random planar flows on top) the bounds order as the theory says,
// ELBO < E[IWAE_10] < IWAE_2000 ≤ log p(x), and IWAE_2000 closes at least 90%
// of the gap.
func TestBoundsOrderAndConvergence(t *testing.T) {
	for _, flows := range []int{0, 2} {
		t.Run(fmt.Sprintf("flows=%d", flows), func(t *testing.T) {
			lg := exactPosteriorModel()
			for k := range 2 {
				lg.encB[k] += 0.4
				lg.encB[2+k] += 1.0
			}
			m, rt, rows, x := lg.boundsSetup(t, flows)
			// Strong planar maps, so a wrong log-det would bias IWAE_2000
			// away from log p(x).
			for i := range flows {
				p := fmt.Sprintf("/posterior/planar_%d/", i)
				setVar(t, rt.Store, p+"w", []float32{0.8, -0.5}, 2)
				setVar(t, rt.Store, p+"u", []float32{0.5, 0.3 - 0.5*float32(i)}, 2)
				setVar(t, rt.Store, p+"b", []float32{0.3}, []int{}...)
			}
			// IWAE_10 is noisy: average it over 500 draws per row.
			const copies = 500
			var xr []float32
			for i := range rows {
				for range copies {
					xr = append(xr, x[3*i:3*i+3]...)
				}
			}
			b10, err := m.Bounds(rt, xr, len(rows)*copies, 10, 1)
			if err != nil {
				t.Fatal(err)
			}
			b2000, err := m.Bounds(rt, x, len(rows), 2000, 2)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				exact := lg.logP(r)
				i10 := 0.0
				for _, v := range b10.IWAE[i*copies : (i+1)*copies] {
					i10 += v / copies
				}
				elbo, i2000 := b2000.ELBO[i], b2000.IWAE[i]
				t.Logf("row %d: ELBO %.4f  IWAE_10 %.4f  IWAE_2000 %.4f  log p %.4f", i, elbo, i10, i2000, exact)
				// IWAE_K is a random estimate whose mean is ≤ log p(x): one draw
				// may land a little above it (here by up to ~0.05 nats).
				if !(elbo < i10 && i10 < i2000+0.05 && i2000 < exact+0.1) {
					t.Errorf("row %d: want ELBO < IWAE_10 ≤ IWAE_2000 ≤ log p(x), got %.4f %.4f %.4f %.4f", i, elbo, i10, i2000, exact)
				}
				if gap := math.Abs(exact - i2000); gap > 0.1*(exact-elbo) {
					t.Errorf("row %d: IWAE_2000 leaves %.4f of the ELBO's gap %.4f", i, gap, exact-elbo)
				}
			}
		})
	}
}

// The training losses estimate the bounds: at the exact posterior the IWAE
// loss is exactly −log p(x)/D, and the ELBO loss (analytic KL, one sample)
// averages to it over many copies of x.
func TestLossMatchesBound(t *testing.T) {
	lg := exactPosteriorModel()
	row := testRows()[1]
	want := -lg.logP(row) / 3
	for _, c := range []struct {
		kind   string
		copies int
		tol    float64
	}{{"iwae", 4, 1e-5}, {"vae", 4000, 0.01}} {
		t.Run(c.kind, func(t *testing.T) {
			backend, store, _ := newRuntime(t)
			lg.install(t, store)
			m, err := NewConfig(c.kind, Config{Hidden: []int{}, Latent: 2, Decoder: Gaussian}, models.DataInfo{Shape: []int{3}})
			if err != nil {
				t.Fatal(err)
			}
			var x []float32
			for range c.copies {
				x = append(x, to32(row)...)
			}
			exec, err := model.NewExec(backend, store, m.Loss)
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, c.copies, 3), tensors.FromFlatDataAndDimensions(make([]int32, c.copies), c.copies))
			if err != nil {
				t.Fatal(err)
			}
			got := float64(tensors.MustCopyFlatData[float32](out[0])[0])
			if math.Abs(got-want) > c.tol {
				t.Errorf("loss %.6f, want −log p(x)/D = %.6f (±%g)", got, want, c.tol)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	img := models.DataInfo{Shape: []int{28, 28, 1}}
	bin := models.DataInfo{Shape: []int{28, 28, 1}, Binary: true}
	for _, c := range []struct {
		kind string
		o    Options
		info models.DataInfo
		want string
	}{
		{"vae", Options{Decoder: Bernoulli}, img, "binarize"},
		{"vae", Options{Decoder: "poisson"}, bin, "unknown decoder"},
		{"vae", Options{Latent: -1}, img, "latent"},
		{"vae", Options{Beta: -1}, img, "beta"},
		{"vae", Options{Beta: 4, K: 5}, img, "beta"},
		{"iwae", Options{Beta: 4}, img, "beta does not apply"},
		{"vae", Options{K: -2}, img, "k must be"},
		{"vae", Options{Net: "unet"}, img, "MLPs"},
		{"vae", Options{Hidden: []int{0}}, img, "hidden"},
		{"vae", Options{}, models.DataInfo{Shape: []int{4, 4}}, "vectors"},
	} {
		_, err := New(c.kind, c.o, c.info)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v on %v: error %v, want one mentioning %q", c.kind, c.o, c.info.Shape, err, c.want)
		}
	}
	m, err := New("vae", Options{}, bin)
	if err != nil || m.Config().Decoder != Bernoulli || m.Config().Latent != DefaultLatent || m.Config().K != 1 {
		t.Errorf("defaults on binary images: %+v, %v", m.Config(), err)
	}
	m, err = New("iwae", Options{}, models.DataInfo{Shape: []int{2}})
	if err != nil || m.Config().Decoder != Gaussian || m.Config().Latent != 2 || m.Config().K != DefaultIWAEK {
		t.Errorf("defaults on 2-D vectors: %+v, %v", m.Config(), err)
	}
}

// Encode gives the posterior mean and Decode the decoder's mean: on the
// linear model with the exact posterior, Decode(Encode(x)) is b + W·μ(x).
func TestEncodeDecode(t *testing.T) {
	lg := exactPosteriorModel()
	m, rt, rows, x := lg.boundsSetup(t, 0)
	z, err := m.Encode(rt, x, len(rows))
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != len(rows)*m.LatentDim() || models.LatentDim(m, m.info) != 2 {
		t.Fatalf("%d latent values for %d rows", len(z), len(rows))
	}
	back, err := m.Decode(rt, z, len(rows))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		for k := range 2 {
			mu := lg.encB[k]
			for j := range r {
				mu += r[j] * lg.encW[j][k]
			}
			if math.Abs(float64(z[2*i+k])-mu) > 1e-5 {
				t.Errorf("row %d: z[%d] = %v, want μ = %v", i, k, z[2*i+k], mu)
			}
		}
		for j := range r {
			want := lg.b[j]
			for k := range 2 {
				want += float64(z[2*i+k]) * lg.w[k][j]
			}
			if math.Abs(float64(back[3*i+j])-want) > 1e-5 {
				t.Errorf("row %d: decoded x[%d] = %v, want %v", i, j, back[3*i+j], want)
			}
		}
	}
	if _, err := m.Decode(rt, z[:3], 2); err == nil {
		t.Error("Decode accepted 3 values for 2 latents of dimension 2")
	}
}
