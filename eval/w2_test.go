package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// gaussSet draws n points of N(mean, scale²·I) in len(mean) dimensions.
func gaussSet(rng *rand.Rand, n int, mean []float64, scale float64) [][]float64 {
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, len(mean))
		for k, m := range mean {
			x[i][k] = m + scale*rng.NormFloat64()
		}
	}
	return x
}

func shift(x [][]float64, s []float64) [][]float64 {
	y := make([][]float64, len(x))
	for i, row := range x {
		y[i] = make([]float64, len(row))
		for k := range row {
			y[i][k] = row[k] + s[k]
		}
	}
	return y
}

func norm(s []float64) float64 { return math.Sqrt(sqDist(s, make([]float64, len(s)))) }

// bruteW2 minimizes the mean squared cost over all n! permutations.
func bruteW2(x, y [][]float64) float64 {
	n := len(x)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	best := math.Inf(1)
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			var s float64
			for i, j := range perm {
				s += sqDist(x[i], y[j])
			}
			best = min(best, s)
			return
		}
		for i := k; i < n; i++ {
			perm[k], perm[i] = perm[i], perm[k]
			rec(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	rec(0)
	return math.Sqrt(best / float64(n))
}

func TestW2Exact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x2 := gaussSet(rng, 300, []float64{0, 0}, 1)
	x5 := gaussSet(rng, 200, []float64{1, -1, 0, 2, 3}, 2)
	tests := []struct {
		name string
		x, y [][]float64
		want float64
	}{
		{"self 2-D", x2, x2, 0},
		{"self 5-D", x5, x5, 0},
		{"one point", [][]float64{{1, 2}}, [][]float64{{4, 6}}, 5},
		// A translation by s: Σ|x_i - x_σ(i) - s|² = Σ|x_i - x_σ(i)|² + n|s|²
		// (the cross term sums to 0 over a permutation), so the identity is
		// optimal and W2 = |s|.
		{"shift 2-D", x2, shift(x2, []float64{3, -4}), 5},
		{"small shift 2-D", x2, shift(x2, []float64{0.01, 0.02}), norm([]float64{0.01, 0.02})},
		{"shift 5-D", x5, shift(x5, []float64{1, 1, 1, 1, 1}), math.Sqrt(5)},
		// Hand-computed: {0, 1, 2} to {10, 0, 1} in 1-D; sorted matching
		// 0-0, 1-1, 2-10 costs 64, so W2 = sqrt(64/3).
		{"three points 1-D", [][]float64{{0}, {1}, {2}}, [][]float64{{10}, {0}, {1}}, math.Sqrt(64.0 / 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := W2(tc.x, tc.y)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > 1e-9*(1+tc.want) {
				t.Errorf("W2 = %.12g, want %.12g", got, tc.want)
			}
			back, err := W2(tc.y, tc.x)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(back-got) > 1e-12*(1+got) {
				t.Errorf("W2(y, x) = %.15g, W2(x, y) = %.15g", back, got)
			}
		})
	}
}

func TestW2BruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 60 {
		n := 1 + trial%7
		d := 1 + trial%3
		x := gaussSet(rng, n, make([]float64, d), 1)
		y := gaussSet(rng, n, make([]float64, d), 1.5)
		if trial%5 == 0 { // ties: integer grid points
			for _, s := range [][][]float64{x, y} {
				for _, r := range s {
					for k := range r {
						r[k] = math.Round(r[k])
					}
				}
			}
		}
		got, err := W2(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteW2(x, y); math.Abs(got-want) > 1e-12*(1+want) {
			t.Errorf("trial %d (n=%d, d=%d): W2 = %.15g, brute force %.15g", trial, n, d, got, want)
		}
	}
}

// In 1-D the monotone (sorted) matching is optimal:
// W2² = (1/n) Σ (x_(i) - y_(i))².
func TestW2OneDSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{2, 10, 100, 300} {
		x := gaussSet(rng, n, []float64{0}, 1)
		y := make([][]float64, n)
		for i := range y { // skewed, heavier-tailed target
			e := rng.ExpFloat64()
			y[i] = []float64{e * e}
		}
		got, err := W2(x, y)
		if err != nil {
			t.Fatal(err)
		}
		xs, ys := make([]float64, n), make([]float64, n)
		for i := range n {
			xs[i], ys[i] = x[i][0], y[i][0]
		}
		slices.Sort(xs)
		slices.Sort(ys)
		var s float64
		for i := range n {
			s += (xs[i] - ys[i]) * (xs[i] - ys[i])
		}
		if want := math.Sqrt(s / float64(n)); math.Abs(got-want) > 1e-10*(1+want) {
			t.Errorf("n=%d: W2 = %.15g, sorted matching %.15g", n, got, want)
		}
	}
}

// assign against an independent solver on larger instances than brute force
// reaches: geometric costs, uniform random costs, and small integer costs
// with many ties (which exercise the tie rules of every phase).
func TestAssignAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type gen func(n int) []float64
	geometric := func(n int) []float64 {
		x := gaussSet(rng, n, []float64{0, 0}, 1)
		y := gaussSet(rng, n, []float64{0.5, 0}, 2)
		c := make([]float64, n*n)
		for i := range n {
			for j := range n {
				c[i*n+j] = sqDist(x[i], y[j])
			}
		}
		return c
	}
	uniform := func(n int) []float64 {
		c := make([]float64, n*n)
		for k := range c {
			c[k] = rng.Float64()
		}
		return c
	}
	ties := func(n int) []float64 {
		c := make([]float64, n*n)
		for k := range c {
			c[k] = float64(rng.IntN(4))
		}
		return c
	}
	for name, g := range map[string]gen{"geometric": geometric, "uniform": uniform, "ties": ties} {
		for _, n := range []int{2, 3, 8, 50, 200} {
			c := g(n)
			got, err := assign(c, n)
			if err != nil {
				t.Fatalf("%s n=%d: %v", name, n, err)
			}
			ref, err := assignReference(c, n)
			if err != nil {
				t.Fatalf("%s n=%d: reference: %v", name, n, err)
			}
			seen := make([]bool, n)
			var a, b float64
			for i := range n {
				if j := got[i]; j < 0 || j >= n || seen[j] {
					t.Fatalf("%s n=%d: not a permutation: %v", name, n, got)
				}
				seen[got[i]] = true
				a += c[i*n+got[i]]
				b += c[i*n+ref[i]]
			}
			if math.Abs(a-b) > 1e-9*(1+math.Abs(b)) {
				t.Errorf("%s n=%d: cost %.15g, reference %.15g", name, n, a, b)
			}
		}
	}
}

func TestW2Errors(t *testing.T) {
	big := make([][]float64, MaxW2Points+1)
	for i := range big {
		big[i] = []float64{float64(i)}
	}
	tests := []struct {
		name string
		x, y [][]float64
		want string
	}{
		{"empty", nil, nil, "need at least 1"},
		{"sizes", [][]float64{{1}, {2}}, [][]float64{{1}}, "differ in size"},
		{"dims", [][]float64{{1, 2}}, [][]float64{{1}}, "dimension"},
		{"ragged", [][]float64{{1, 2}, {3}}, [][]float64{{1, 2}, {3, 4}}, "x[1] has dimension 1"},
		{"NaN", [][]float64{{1}}, [][]float64{{math.NaN()}}, "y[0][0] is NaN"},
		{"Inf", [][]float64{{math.Inf(1)}}, [][]float64{{0}}, "x[0][0] is +Inf"},
		{"too many", big, big, "MaxW2Points"},
		{"overflow", [][]float64{{1e300}}, [][]float64{{-1e300}}, "overflows"},
		{"overflow centered", [][]float64{{1e300}, {0}}, [][]float64{{-1e300}, {0}}, "overflows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := W2(tc.x, tc.y)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// BenchmarkW2 times the exact W2 in 2-D on three kinds of pairs: two
// samples of N(0, I) ("same"), N(0, I) against N((1,0), I) ("shifted"), and
// N(0, I) against the uniform square [-2, 2]² ("gauss-uniform", the hardest
// for the assignment: mass must move out of the Gaussian's core).
func BenchmarkW2(b *testing.B) {
	for _, n := range []int{500, 1000, 2000} {
		rng := rand.New(rand.NewPCG(7, 8))
		g := func(m float64) [][]float64 { return gaussSet(rng, n, []float64{m, 0}, 1) }
		u := make([][]float64, n)
		for i := range u {
			u[i] = []float64{4*rng.Float64() - 2, 4*rng.Float64() - 2}
		}
		for _, c := range []struct {
			name string
			x, y [][]float64
		}{{"same", g(0), g(0)}, {"shifted", g(0), g(1)}, {"gauss-uniform", g(0), u}} {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := W2(c.x, c.y); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// assignReference is an independent assignment solver for the tests:
// Crouse's (2016) shortest augmenting path with explicit row and column
// duals, as in SciPy's linear_sum_assignment.
func assignReference(c []float64, n int) ([]int, error) {
	u := make([]float64, n) // row duals
	v := make([]float64, n) // column duals
	spc := make([]float64, n)
	path := make([]int, n)
	col4row := make([]int, n)
	row4col := make([]int, n)
	sr := make([]bool, n) // rows in the shortest-path tree
	sc := make([]bool, n) // columns in the shortest-path tree
	remaining := make([]int, n)
	for i := range n {
		col4row[i], row4col[i], path[i] = -1, -1, -1
	}
	for cur := range n {
		// Dijkstra from row cur over the columns not yet in the tree.
		for j := range n {
			spc[j] = math.Inf(1)
			sc[j] = false
			remaining[j] = n - 1 - j
		}
		for i := range n {
			sr[i] = false
		}
		numRemaining := n
		minVal := 0.0
		sink := -1
		i := cur
		for sink < 0 {
			sr[i] = true
			crow := c[i*n : (i+1)*n]
			ui := u[i]
			index := -1
			lowest := math.Inf(1)
			for it := range numRemaining {
				j := remaining[it]
				r := minVal + crow[j] - ui - v[j]
				if r < spc[j] {
					path[j] = i
					spc[j] = r
				}
				// Prefer a free column among equals: it ends the search.
				if s := spc[j]; s < lowest || (s == lowest && row4col[j] < 0) {
					lowest = s
					index = it
				}
			}
			if index < 0 || math.IsInf(lowest, 1) {
				return nil, fmt.Errorf("assignment infeasible (non-finite costs)")
			}
			minVal = lowest
			j := remaining[index]
			if row4col[j] < 0 {
				sink = j
			} else {
				i = row4col[j]
			}
			sc[j] = true
			numRemaining--
			remaining[index] = remaining[numRemaining]
		}
		// Dual update: keeps reduced costs >= 0 on the tree's edges.
		u[cur] += minVal
		for i := range n {
			if sr[i] && i != cur {
				u[i] += minVal - spc[col4row[i]]
			}
		}
		for j := range n {
			if sc[j] {
				v[j] -= minVal - spc[j]
			}
		}
		// Augment along the path back from the sink.
		for j := sink; ; {
			i := path[j]
			row4col[j] = i
			col4row[i], j = j, col4row[i]
			if i == cur {
				break
			}
		}
	}
	return col4row, nil
}
