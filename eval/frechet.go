package eval

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// psdTol is the relative size, against the largest |eigenvalue|, below
// which a negative eigenvalue of a matrix that should be positive
// semidefinite is taken for rounding and clamped to 0.
const psdTol = 1e-9

// SqrtSym is the principal square root of the symmetric positive
// semidefinite matrix m: the symmetric PSD matrix r with r·r = m, computed
// from the eigendecomposition m = V diag(λ) Vᵀ as r = V diag(√λ) Vᵀ.
// Eigenvalues that are negative by rounding only (|λ| <= 1e-9·max|λ|) are
// clamped to 0; a more negative one is an error, as is a NaN or Inf entry.
func SqrtSym(m mat.Symmetric) (*mat.SymDense, error) {
	return sqrtSym("SqrtSym", "m", m)
}

func sqrtSym(who, name string, m mat.Symmetric) (*mat.SymDense, error) {
	vals, vecs, err := eigSym(who, name, m, true)
	if err != nil {
		return nil, err
	}
	n := len(vals)
	// r = Σ_k √λ_k v_k v_kᵀ, as W Wᵀ with W = V diag(λ^{1/4}).
	w := mat.NewDense(n, n, nil)
	for k, l := range vals {
		s := math.Sqrt(math.Sqrt(l))
		for i := range n {
			w.Set(i, k, vecs.At(i, k)*s)
		}
	}
	r := mat.NewSymDense(n, nil)
	r.SymOuterK(1, w)
	return r, nil
}

// eigSym returns the eigenvalues (clamped at 0 as SqrtSym describes) and,
// if vectors, the eigenvectors of the PSD matrix m.
func eigSym(who, name string, m mat.Symmetric, vectors bool) ([]float64, *mat.Dense, error) {
	n := m.SymmetricDim()
	for i := range n {
		for j := i; j < n; j++ {
			if v := m.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("eval.%s: %s[%d][%d] is %v", who, name, i, j, v)
			}
		}
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("eval.%s: %s is empty", who, name)
	}
	var e mat.EigenSym
	if !e.Factorize(m, vectors) {
		return nil, nil, fmt.Errorf("eval.%s: eigendecomposition of %s (%d×%d) did not converge", who, name, n, n)
	}
	vals := e.Values(nil)
	if err := clampPSD(who, name, vals); err != nil {
		return nil, nil, err
	}
	if !vectors {
		return vals, nil, nil
	}
	var vecs mat.Dense
	e.VectorsTo(&vecs)
	return vals, &vecs, nil
}

// clampPSD sets rounding-sized negative eigenvalues to 0 and reports a
// genuinely negative one.
func clampPSD(who, name string, vals []float64) error {
	var top float64
	for _, l := range vals {
		top = max(top, math.Abs(l))
	}
	for k, l := range vals {
		if l < 0 {
			if l < -psdTol*top {
				return fmt.Errorf("eval.%s: %s is not positive semidefinite (eigenvalue %g, largest |eigenvalue| %g)", who, name, l, top)
			}
			vals[k] = 0
		}
	}
	return nil
}

// FrechetDistance is the squared Fréchet (2-Wasserstein) distance between
// the Gaussians N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982),
// the quantity FID reports (Heusel et al. 2017):
//
//	d² = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).
//
// S1 S2 is not symmetric, but it is similar to the PSD matrix
// M = S1^{1/2} S2 S1^{1/2} (conjugate by S1^{1/2}), so Tr((S1 S2)^{1/2}) =
// Σ_k √λ_k(M), computed with two symmetric eigendecompositions (SqrtSym of
// S1, eigenvalues of M) instead of a general matrix square root; rounding-
// sized negative eigenvalues are clamped to 0. The result, >= 0 in exact
// arithmetic, is clamped at 0. Covariances must be PSD (see SqrtSym) and
// all dimensions equal; cost O(d³).
func FrechetDistance(mu1 []float64, sigma1 mat.Symmetric, mu2 []float64, sigma2 mat.Symmetric) (float64, error) {
	d := len(mu1)
	if d == 0 {
		return 0, fmt.Errorf("eval.FrechetDistance: mu1 is empty")
	}
	if len(mu2) != d || sigma1.SymmetricDim() != d || sigma2.SymmetricDim() != d {
		return 0, fmt.Errorf("eval.FrechetDistance: dimensions differ: mu1 %d, sigma1 %d×%d, mu2 %d, sigma2 %d×%d",
			d, sigma1.SymmetricDim(), sigma1.SymmetricDim(), len(mu2), sigma2.SymmetricDim(), sigma2.SymmetricDim())
	}
	var mean float64
	for i := range d {
		if math.IsNaN(mu1[i]) || math.IsInf(mu1[i], 0) || math.IsNaN(mu2[i]) || math.IsInf(mu2[i], 0) {
			return 0, fmt.Errorf("eval.FrechetDistance: mean %d is not finite (mu1 %v, mu2 %v)", i, mu1[i], mu2[i])
		}
		t := mu1[i] - mu2[i]
		mean += t * t
	}
	if _, _, err := eigSym("FrechetDistance", "sigma2", sigma2, false); err != nil {
		return 0, err
	}
	a, err := sqrtSym("FrechetDistance", "sigma1", sigma1)
	if err != nil {
		return 0, err
	}
	var as, m mat.Dense
	as.Mul(a, sigma2)
	m.Mul(&as, a)
	ms := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			ms.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var e mat.EigenSym
	if !e.Factorize(ms, false) {
		return 0, fmt.Errorf("eval.FrechetDistance: eigendecomposition of S1^½ S2 S1^½ did not converge")
	}
	vals := e.Values(nil)
	if err := clampPSD("FrechetDistance", "S1^½ S2 S1^½", vals); err != nil {
		return 0, err
	}
	var trSqrt float64
	for _, l := range vals {
		trSqrt += math.Sqrt(l)
	}
	d2 := mean + mat.Trace(sigma1) + mat.Trace(sigma2) - 2*trSqrt
	return max(d2, 0), nil
}

// FrechetFromFeatures fits a Gaussian to each feature set (mean and the
// unbiased covariance, 1/(n-1), as numpy.cov and the FID reference code)
// and returns their FrechetDistance. Each set needs at least 2 rows; with
// fewer rows than dimensions the covariances are singular, which is
// allowed but makes the estimate poor (FID uses 10k+ samples of 2048-d
// features). Cost O(n d² + d³).
func FrechetFromFeatures(a, b [][]float64) (float64, error) {
	d, err := checkPair("FrechetFromFeatures", a, b, 2, 2)
	if err != nil {
		return 0, err
	}
	mu1, s1 := gaussFit(a, d)
	mu2, s2 := gaussFit(b, d)
	return FrechetDistance(mu1, s1, mu2, s2)
}

// gaussFit returns the mean and unbiased covariance of the rows of x.
func gaussFit(x [][]float64, d int) ([]float64, *mat.SymDense) {
	m := mat.NewDense(len(x), d, nil)
	for i, r := range x {
		m.SetRow(i, r)
	}
	mu := make([]float64, d)
	for k := range d {
		mu[k] = stat.Mean(mat.Col(nil, k, m), nil)
	}
	var s mat.SymDense
	stat.CovarianceMatrix(&s, m, nil)
	return mu, &s
}
