package eval

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// The sample-quality metrics (W2, MMD, SlicedW, FrechetFromFeatures, KID,
// PrecisionRecall) take point sets as [][]float64: one row per sample, all
// rows of the same length (the dimension). They refuse empty sets, ragged
// rows, mismatched dimensions and non-finite values with an error naming the
// metric, the set and the offending row.

// checkSet validates one point set and returns its dimension. who names the
// metric, name the argument; the set needs at least minN points.
func checkSet(who, name string, x [][]float64, minN int) (int, error) {
	if minN < 1 {
		minN = 1
	}
	if len(x) < minN {
		return 0, fmt.Errorf("eval.%s: %s has %d points, need at least %d", who, name, len(x), minN)
	}
	d := len(x[0])
	if d == 0 {
		return 0, fmt.Errorf("eval.%s: %s[0] has dimension 0", who, name)
	}
	for i, row := range x {
		if len(row) != d {
			return 0, fmt.Errorf("eval.%s: %s[%d] has dimension %d, %s[0] has %d", who, name, i, len(row), name, d)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("eval.%s: %s[%d][%d] is %v", who, name, i, j, v)
			}
		}
	}
	return d, nil
}

// checkPair validates two point sets of the same dimension and returns it.
func checkPair(who string, x, y [][]float64, minX, minY int) (int, error) {
	dx, err := checkSet(who, "x", x, minX)
	if err != nil {
		return 0, err
	}
	dy, err := checkSet(who, "y", y, minY)
	if err != nil {
		return 0, err
	}
	if dx != dy {
		return 0, fmt.Errorf("eval.%s: x has dimension %d, y has dimension %d", who, dx, dy)
	}
	return dx, nil
}

// sqDist is the squared Euclidean distance |a-b|². It is exactly symmetric
// and exactly 0 for a == b.
func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	var s float64
	for k, v := range a {
		t := v - b[k]
		s += t * t
	}
	return s
}

// parallelFor runs body(i) for i in [0, n) on GOMAXPROCS goroutines. Bodies
// must write only to their own index, so results never depend on the number
// of workers (same input, same numbers).
func parallelFor(n int, body func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			body(i)
		}
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	const chunk = 16
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					body(i)
				}
			}
		})
	}
	wg.Wait()
}

// sum adds v in index order (deterministic, independent of how v was filled).
func sum(v []float64) float64 {
	var s float64
	for _, t := range v {
		s += t
	}
	return s
}
