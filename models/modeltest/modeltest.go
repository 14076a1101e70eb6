// Package modeltest holds helpers that model families share in their tests:
// Gaussian data written as a dataset file, and moment checks of samples.
package modeltest

import (
	"math"
	"path/filepath"
	"testing"

	"genmod/data"
	"genmod/models"
)

// GaussianNPY writes n rows of N(mu, diag(s²)) (drawn from seed) as an NPY
// file in dir and returns the rows and the path ("npy:"+path is a dataset).
func GaussianNPY(t testing.TB, dir string, mu, s []float64, n int, seed int64) ([]float32, string) {
	t.Helper()
	d := len(mu)
	xs := models.Noise(n, d, seed)
	for i := range xs {
		xs[i] = float32(mu[i%d] + s[i%d]*float64(xs[i]))
	}
	path := filepath.Join(dir, "gauss.npy")
	if err := data.WriteNPY(path, xs, n, d); err != nil {
		t.Fatal(err)
	}
	return xs, path
}

// MeanSD returns the mean and standard deviation of column col of n rows of width dim.
func MeanSD(x []float32, n, dim, col int) (mean, sd float64) {
	for i := 0; i < n; i++ {
		mean += float64(x[i*dim+col])
	}
	mean /= float64(n)
	var v float64
	for i := 0; i < n; i++ {
		v += math.Pow(float64(x[i*dim+col])-mean, 2)
	}
	return mean, math.Sqrt(v / float64(n))
}

// CheckMoments fails t when a column's sample mean is further than meanTol·s+meanAbs
// from mu or its sd further than sdTol·s from s.
func CheckMoments(t testing.TB, x []float32, n int, mu, s []float64, meanTol, meanAbs, sdTol float64) {
	t.Helper()
	for d := range mu {
		m, sd := MeanSD(x, n, len(mu), d)
		if math.Abs(m-mu[d]) > meanTol*s[d]+meanAbs || math.Abs(sd-s[d]) > sdTol*s[d] {
			t.Errorf("dim %d: sample mean %.3f sd %.3f, want %.3f and %.3f", d, m, sd, mu[d], s[d])
		}
	}
}
