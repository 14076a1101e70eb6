package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomSPD is A Aᵀ + εI for a random n×n A.
func randomSPD(rng *rand.Rand, n int, eps float64) *mat.SymDense {
	a := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	s := mat.NewSymDense(n, nil)
	s.SymOuterK(1, a)
	for i := range n {
		s.SetSym(i, i, s.At(i, i)+eps)
	}
	return s
}

func TestSqrtSym(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	singular := mat.NewSymDense(3, nil) // rank 1: v vᵀ, v = (1, 2, 2)
	v := []float64{1, 2, 2}
	for i := range 3 {
		for j := i; j < 3; j++ {
			singular.SetSym(i, j, v[i]*v[j])
		}
	}
	tests := []struct {
		name string
		m    *mat.SymDense
		want *mat.SymDense // nil: only check r·r = m
	}{
		{"diagonal", mat.NewSymDense(3, []float64{4, 0, 0, 0, 9, 0, 0, 0, 0.25}),
			mat.NewSymDense(3, []float64{2, 0, 0, 0, 3, 0, 0, 0, 0.5})},
		// [[5,4],[4,5]] = Q diag(9,1) Qᵀ, Q = [1 1; 1 -1]/√2: root [[2,1],[1,2]].
		{"2x2", mat.NewSymDense(2, []float64{5, 4, 4, 5}), mat.NewSymDense(2, []float64{2, 1, 1, 2})},
		// (v vᵀ)^{1/2} = v vᵀ/|v| (|v| = 3).
		{"rank one", singular, func() *mat.SymDense {
			r := mat.NewSymDense(3, nil)
			r.ScaleSym(1.0/3, singular)
			return r
		}()},
		{"random SPD 6x6", randomSPD(rng, 6, 0.1), nil},
		{"random SPD 40x40", randomSPD(rng, 40, 1e-3), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := SqrtSym(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			var sq mat.Dense
			sq.Mul(r, r)
			scale := mat.Norm(tc.m, math.Inf(1))
			if !mat.EqualApprox(&sq, tc.m, 1e-10*scale) {
				t.Errorf("r·r differs from m:\n%v\nvs\n%v", mat.Formatted(&sq), mat.Formatted(tc.m))
			}
			if tc.want != nil && !mat.EqualApprox(r, tc.want, 1e-12) {
				t.Errorf("root\n%v\nwant\n%v", mat.Formatted(r), mat.Formatted(tc.want))
			}
			// The principal root is PSD.
			var e mat.EigenSym
			e.Factorize(r, false)
			for _, l := range e.Values(nil) {
				if l < -1e-10*scale {
					t.Errorf("root has eigenvalue %g", l)
				}
			}
		})
	}
}

func TestSqrtSymErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *mat.SymDense
		want string
	}{
		{"indefinite", mat.NewSymDense(2, []float64{1, 2, 2, 1}), "not positive semidefinite"},
		{"NaN", mat.NewSymDense(2, []float64{1, math.NaN(), math.NaN(), 1}), "m[0][1] is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SqrtSym(tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestFrechetDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	s5 := randomSPD(rng, 5, 0.5)
	mu5 := []float64{1, 2, 3, 4, 5}
	sym := func(n int, v ...float64) *mat.SymDense { return mat.NewSymDense(n, v) }
	a := sym(2, 2, 1, 1, 3)
	b := sym(2, 1, -0.5, -0.5, 2)
	// For 2x2 PSD matrices Tr(M^{1/2}) = sqrt(tr M + 2 sqrt(det M)), and
	// S1 S2 has the eigenvalues of S1^{1/2} S2 S1^{1/2}.
	var ab mat.Dense
	ab.Mul(a, b)
	tr2x2 := math.Sqrt(mat.Trace(&ab) + 2*math.Sqrt(mat.Det(a)*mat.Det(b)))
	tests := []struct {
		name     string
		mu1      []float64
		s1       mat.Symmetric
		mu2      []float64
		s2       mat.Symmetric
		want     float64
		tol      float64
		relative bool
	}{
		{"identical 5-D", mu5, s5, mu5, s5, 0, 1e-9, true},
		// 1-D: (m1-m2)² + (s1-s2)² with variances s².
		{"1-D", []float64{1}, sym(1, 4), []float64{-2}, sym(1, 0.25), 9 + 1.5*1.5, 1e-12, false},
		// Diagonal covariances commute: |Δμ|² + Σ_k (√a_k - √b_k)².
		{"diagonal 2x2", []float64{0, 1}, sym(2, 4, 0, 0, 9), []float64{3, 1}, sym(2, 1, 0, 0, 16),
			9 + 1 + 1, 1e-12, false},
		{"non-commuting 2x2", []float64{0, 0}, a, []float64{1, 1}, b,
			2 + mat.Trace(a) + mat.Trace(b) - 2*tr2x2, 1e-12, false},
		// A singular covariance (a point mass has Σ = 0): d² = |Δμ|² + tr S2.
		{"point mass", []float64{0, 0}, sym(2, 0, 0, 0, 0), []float64{1, 0}, a, 1 + 5, 1e-12, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FrechetDistance(tc.mu1, tc.s1, tc.mu2, tc.s2)
			if err != nil {
				t.Fatal(err)
			}
			tol := tc.tol
			if tc.relative {
				tol *= mat.Trace(tc.s1)
			}
			if math.Abs(got-tc.want) > tol {
				t.Errorf("d² = %.15g, want %.15g", got, tc.want)
			}
			back, _ := FrechetDistance(tc.mu2, tc.s2, tc.mu1, tc.s1)
			if math.Abs(back-got) > 1e-9*(1+got) {
				t.Errorf("not symmetric: %.15g vs %.15g", got, back)
			}
		})
	}
}

func TestFrechetFromFeatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	// x = μ + L z with Σ = L Lᵀ.
	sample := func(n int, mu []float64, l *mat.TriDense) [][]float64 {
		d := len(mu)
		out := make([][]float64, n)
		z := make([]float64, d)
		for i := range out {
			for k := range z {
				z[k] = rng.NormFloat64()
			}
			out[i] = make([]float64, d)
			for r := range d {
				s := mu[r]
				for c := 0; c <= r; c++ {
					s += l.At(r, c) * z[c]
				}
				out[i][r] = s
			}
		}
		return out
	}
	l1 := mat.NewTriDense(3, mat.Lower, []float64{1, 0, 0, 0.5, 1, 0, -0.3, 0.2, 0.8})
	l2 := mat.NewTriDense(3, mat.Lower, []float64{1.5, 0, 0, 0, 0.7, 0, 0.4, -0.6, 1.1})
	mu1, mu2 := []float64{0, 0, 0}, []float64{1, -0.5, 0.25}
	cov := func(l *mat.TriDense) *mat.SymDense {
		s := mat.NewSymDense(3, nil)
		s.SymOuterK(1, l)
		return s
	}
	want, err := FrechetDistance(mu1, cov(l1), mu2, cov(l2))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	got, err := FrechetFromFeatures(sample(n, mu1, l1), sample(n, mu2, l2))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 0.03*want {
		t.Errorf("from features %.5g, closed form %.5g", got, want)
	}
	same, err := FrechetFromFeatures(sample(n, mu1, l1), sample(n, mu1, l1))
	if err != nil {
		t.Fatal(err)
	}
	if same > 0.01 {
		t.Errorf("same distribution: %g, want about 0 (bias O(d/n))", same)
	}
}

func TestFrechetErrors(t *testing.T) {
	i2 := mat.NewSymDense(2, []float64{1, 0, 0, 1})
	bad := mat.NewSymDense(2, []float64{1, 3, 3, 1})
	for _, tc := range []struct {
		name string
		f    func() error
		want string
	}{
		{"dims", func() error { _, err := FrechetDistance([]float64{0}, i2, []float64{0, 0}, i2); return err }, "dimensions differ"},
		{"NaN mean", func() error {
			_, err := FrechetDistance([]float64{0, math.NaN()}, i2, []float64{0, 0}, i2)
			return err
		}, "mean 1 is not finite"},
		{"indefinite sigma1", func() error { _, err := FrechetDistance([]float64{0, 0}, bad, []float64{0, 0}, i2); return err }, "sigma1 is not positive semidefinite"},
		{"indefinite sigma2", func() error { _, err := FrechetDistance([]float64{0, 0}, i2, []float64{0, 0}, bad); return err }, "sigma2 is not positive semidefinite"},
		{"one row", func() error {
			_, err := FrechetFromFeatures([][]float64{{1, 2}}, [][]float64{{1, 2}, {3, 4}})
			return err
		}, "need at least 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
