package gan

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"genmod/models"
	"genmod/nn/nntest"
)

// Tests of seed 000's propositions against this package's losses and
// networks, each small enough to run in a second or two.

func newTestModel(t *testing.T, c Config, info models.DataInfo) *Model {
	t.Helper()
	if c.DSteps == 0 {
		c.DSteps = 1
	}
	if (c.Kind == KindGAN || c.Kind == KindDCGAN) && c.GLoss == "" {
		c.GLoss = NonSaturating
	}
	m, err := NewConfig(c, info)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newStore(seed int64) *model.Store {
	s := model.NewStore()
	s.SetParam(model.ParamInitialSeed, seed)
	s.SetRNGStateFromSeed(seed)
	return s
}

// fit runs steps Adam updates of the variables under "disc" on loss (a
// fresh graph-drawn batch each step), the learning rate decaying linearly
// from lr to 2% of it so that the last iterate sits near the optimum
// instead of jittering around it.
func fit(store *model.Store, steps int, lr, beta1, beta2 float64, loss func(scope *model.Scope, g *Graph) *Node) {
	opt := optimizer.Adam().LearningRate(lr).Betas(beta1, beta2).Done()
	step := model.MustNewExec(nntest.Backend(), store, func(scope *model.Scope, rate *Node) *Node {
		g := rate.Graph()
		l := loss(scope, g)
		optimizer.LearningRateVarWithValue(scope.At("disc"), dtypes.Float32, lr).SetNodeValue(rate)
		opt.UpdateGraph(scope.At("disc"), g, l)
		return l
	})
	defer step.Finalize()
	for i := range steps {
		frac := float64(i) / float64(steps)
		step.MustCall1(float32(lr * (1 - 0.98*frac)))
	}
}

// gauss1D draws n values of N(mu, s²) in the graph, [n, 1].
func gauss1D(scope *model.Scope, g *Graph, n int, mu, s float64) *Node {
	return AddScalar(MulScalar(scope.RandomNormal(g, shapes.Make(dtypes.Float32, n, 1)), s), mu)
}

func normalPDF(x, mu, s float64) float64 {
	return math.Exp(-0.5*math.Pow((x-mu)/s, 2)) / (s * math.Sqrt(2*math.Pi))
}

func floats(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float64 {
		return tensors.MustCopyFlatData[float64](t)
	}
	var out []float64
	for _, v := range tensors.MustCopyFlatData[float32](t) {
		out = append(out, float64(v))
	}
	return out
}

// Proposition 1: for a fixed generator, the discriminator that maximizes
// V(D, G) is D*(x) = p_data(x)/(p_data(x) + p_g(x)). The package's MLP
// discriminator, trained on DiscriminatorLoss with fresh samples of two
// known 1-D Gaussians, approaches D* on a grid; and its value V(D, G) then
// approaches C(G) = −log 4 + 2·JSD(p_data ‖ p_g) (Theorem 1), computed by
// quadrature, from below (D* is the maximizer).
func TestProposition1OptimalDiscriminator(t *testing.T) {
	const muD, sD = 0.0, 1.0
	tests := []struct {
		name     string
		muG, sG  float64
		lo, hi   float64 // grid where both densities carry mass
		maxError float64
	}{
		{"shifted", 1.5, 1, -1.5, 3, 0.03},
		{"wider", 0, 2, -2.5, 2.5, 0.03},
		{"equal", 0, 1, -2, 2, 0.03}, // D* = 1/2
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, Config{Kind: KindGAN, Common: Common{Hidden: []int{32, 32}}}, models.DataInfo{Shape: []int{1}})
			store := newStore(1)
			const batch = 256
			fit(store, 1500, 3e-3, 0.9, 0.999, func(scope *model.Scope, g *Graph) *Node {
				real, fake := gauss1D(scope, g, batch, muD, sD), gauss1D(scope, g, batch, tc.muG, tc.sG)
				return DiscriminatorLoss(m.Discriminator(scope, real, nil), m.Discriminator(scope, fake, nil))
			})
			var grid []float32
			for x := tc.lo; x <= tc.hi+1e-9; x += 0.25 {
				grid = append(grid, float32(x))
			}
			d := floats(model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, x *Node) *Node {
				return Sigmoid(m.Discriminator(scope, x, nil))
			}, tensors.FromFlatDataAndDimensions(grid, len(grid), 1)))
			worst := 0.0
			for i, x := range grid {
				p, q := normalPDF(float64(x), muD, sD), normalPDF(float64(x), tc.muG, tc.sG)
				worst = max(worst, math.Abs(d[i]-p/(p+q)))
			}
			t.Logf("max |D(x) − D*(x)| on [%g, %g]: %.4f", tc.lo, tc.hi, worst)
			if worst > tc.maxError {
				t.Errorf("trained D is %.4f from D* = p/(p+p_g), want <= %g", worst, tc.maxError)
			}

			// V(D, G) on a large sample against C(G) = −log 4 + 2·JSD.
			const n = 100000
			v := floats(model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, g *Graph) *Node {
				real, fake := gauss1D(scope, g, n, muD, sD), gauss1D(scope, g, n, tc.muG, tc.sG)
				return Value(m.Discriminator(scope, real, nil), m.Discriminator(scope, fake, nil))
			}))[0]
			c := -math.Log(4) + 2*jsdGaussians(muD, sD, tc.muG, tc.sG)
			t.Logf("V(D, G) = %.4f, C(G) = −log 4 + 2·JSD = %.4f", v, c)
			if math.Abs(v-c) > 0.01 {
				t.Errorf("V(D, G) = %.4f, want about C(G) = %.4f", v, c)
			}
		})
	}
}

// jsdGaussians is JSD(N(m1, s1²) ‖ N(m2, s2²)) in nats, by the midpoint
// rule on [−20, 20] (the integrand is smooth and negligible beyond).
func jsdGaussians(m1, s1, m2, s2 float64) float64 {
	const h = 1e-3
	var js float64
	for x := -20 + h/2; x < 20; x += h {
		p, q := normalPDF(x, m1, s1), normalPDF(x, m2, s2)
		mix := (p + q) / 2
		if p > 0 {
			js += 0.5 * p * math.Log(p/mix) * h
		}
		if q > 0 {
			js += 0.5 * q * math.Log(q/mix) * h
		}
	}
	return js
}

// Theorem 1, exactly: on discrete distributions written as batches whose
// atoms repeat in proportion to their probabilities, Value at D*'s logits
// log p − log q equals −log 4 + 2·JSD(p ‖ q), −log 4 when p = q, 0 for
// and moving towards 0 (the disjoint supports' limit) as p and q separate; and moving D away from D* lowers it.
func TestTheorem1ValueAtOptimum(t *testing.T) {
	tests := []struct {
		name string
		p, q []int // counts per atom (the probabilities times a common denominator)
	}{
		{"equal", []int{1, 2, 3, 2}, []int{1, 2, 3, 2}},
		{"skewed", []int{4, 2, 1, 1}, []int{1, 1, 2, 4}},
		{"mostly-apart", []int{30, 1, 1}, []int{1, 1, 30}},
		{"peaked-vs-uniform", []int{13, 1, 1, 1}, []int{1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			np, nq := sum(tc.p), sum(tc.q)
			logit := make([]float64, len(tc.p)) // log p − log q, +∞ where q = 0
			var jsd float64
			for i := range tc.p {
				p, q := float64(tc.p[i])/float64(np), float64(tc.q[i])/float64(nq)
				mix := (p + q) / 2
				if p > 0 {
					jsd += 0.5 * p * math.Log(p/mix)
				}
				if q > 0 {
					jsd += 0.5 * q * math.Log(q/mix)
				}
				logit[i] = math.Log(p) - math.Log(q)
			}
			batch := func(counts []int, shift []float64) []float64 {
				var out []float64
				for i, c := range counts {
					for range c {
						out = append(out, logit[i]+shift[i])
					}
				}
				return out
			}
			value := func(shift []float64) float64 {
				real, fake := batch(tc.p, shift), batch(tc.q, shift)
				return floats(MustExecOnce(nntest.Backend(), func(r, f *Node) *Node { return Value(r, f) },
					tensors.FromValue(real), tensors.FromValue(fake)))[0]
			}
			zero := make([]float64, len(tc.p))
			v := value(zero)
			want := -math.Log(4) + 2*jsd
			t.Logf("V(D*, G) = %.12f, −log 4 + 2·JSD = %.12f", v, want)
			if math.Abs(v-want) > 1e-9 {
				t.Errorf("V(D*, G) = %.12f, want −log 4 + 2·JSD = %.12f", v, want)
			}
			if slices.Equal(tc.p, tc.q) && math.Abs(v+math.Log(4)) > 1e-12 {
				t.Errorf("at p_g = p_data V = %.12f, want −log 4", v)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				shift := make([]float64, len(tc.p))
				for i := range shift {
					shift[i] = 0.3 * r.NormFloat64()
				}
				if vs := value(shift); !(vs < v) {
					t.Errorf("a discriminator away from D* has V = %.9f >= V(D*) = %.9f", vs, v)
				}
			}
		})
	}
}

func sum(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}

// Saturation (seed 000, "in practice"): where D confidently rejects the
// fakes (D(G(z)) ≈ 0, the start of training), the minimax generator loss
// log(1 − D(G(z))) has a vanishing gradient while the non-saturating
// −log D(G(z)) does not. Per logit the gradients are −σ(l) and −(1 − σ(l)),
// so their ratio is e^l; through a generator the same holds for its weights.
func TestSaturation(t *testing.T) {
	grad := func(kind string, logits []float64) float64 {
		return floats(MustExecOnce(nntest.Backend(), func(l *Node) *Node {
			gr := Gradient(GeneratorLoss(l, kind), l)[0]
			return Sqrt(ReduceAllSum(Square(gr)))
		}, tensors.FromValue(logits)))[0]
	}
	for _, l := range []float64{-10, -6, -2, 0, 2} {
		logits := []float64{l, l, l, l}
		mm, ns := grad(Minimax, logits), grad(NonSaturating, logits)
		t.Logf("logit %+g (D = %.2e): ‖∇ minimax‖ = %.3e, ‖∇ ns‖ = %.3e", l, 1/(1+math.Exp(-l)), mm, ns)
		if math.Abs(mm/ns-math.Exp(l)) > 1e-9*math.Exp(l) {
			t.Errorf("logit %g: gradient ratio minimax/ns = %.6g, want e^l = %.6g", l, mm/ns, math.Exp(l))
		}
	}

	// Through a generator G(z) = a·z + b against a fixed discriminator that
	// rejects its samples: logit = w·x − 8 with x near 0.
	for _, tc := range []struct {
		kind string
		tiny bool // gradient below 1e-3
	}{{Minimax, true}, {NonSaturating, false}} {
		store := newStore(1)
		norm := floats(model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, z *Node) *Node {
			g := z.Graph()
			a := scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node { return Ones(g, s) }).
				VariableWithShape("a", shapes.Make(dtypes.Float64)).NodeValue(g)
			b := scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node { return Zeros(g, s) }).
				VariableWithShape("b", shapes.Make(dtypes.Float64)).NodeValue(g)
			x := Add(Mul(z, a), b)
			logit := AddScalar(MulScalar(x, 0.5), -8)
			gr := Gradient(GeneratorLoss(logit, tc.kind), a, b)
			return Sqrt(Add(Square(gr[0]), Square(gr[1])))
		}, tensors.FromValue([]float64{-0.3, -0.1, 0.2, 0.4})))[0]
		t.Logf("%s: ‖∇_(a,b) loss‖ = %.3e at D(G(z)) ≈ 3e-4", tc.kind, norm)
		if tc.tiny != (norm < 1e-3) || (!tc.tiny && norm < 0.1) {
			t.Errorf("%s generator gradient norm %.3e at D(G(z)) ≈ 0: want %s", tc.kind, norm, map[bool]string{true: "< 1e-3 (saturated)", false: ">= 0.1"}[tc.tiny])
		}
	}
}

// Kantorovich–Rubinstein duality: a WGAN-GP critic (the package's MLP,
// trained on −W1Estimate + λ·GradientPenalty) estimates W1 between two 1-D
// distributions; the exact value, for 1-D samples of equal size, is the
// mean distance between the sorted samples. The penalty is soft: for a
// shift, where the best critic is linear with slope s, the critic
// maximizes s·W1 − λ(s − 1)², so s = 1 + W1/(2λ) and its estimate is
// W1·(1 + W1/(2λ)): 10% high for W1 = 2 at WGAN-GP's λ = 10, which the
// first case checks; with λ = 100 the bias is ≤ 1% and the estimate is
// within a few percent of W1 whatever the two distributions. Divided by
// the critic's largest slope over the data (f/L is 1-Lipschitz) it is, by
// the duality, a lower bound on W1 (up to sampling error).
func TestKantorovichRubinsteinCritic(t *testing.T) {
	tests := []struct {
		name         string
		mu1, s1      float64
		mu2, s2      float64
		lambda       float64
		closedFormW1 float64 // 0: none
	}{
		{"shift-lambda10", 0, 1, 2, 1, 10, 2},
		{"shift-lambda100", 0, 1, 2, 1, 100, 2},
		{"shift-and-scale-lambda100", 0, 1, 1, 0.5, 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, Config{Kind: KindWGANGP, GP: tc.lambda, Common: Common{Hidden: []int{64, 64}}}, models.DataInfo{Shape: []int{1}})
			store := newStore(2)
			const batch = 256
			critic := func(scope *model.Scope) func(x *Node) *Node {
				return func(x *Node) *Node { return m.Discriminator(scope, x, nil) }
			}
			fit(store, 700, 3e-3, 0.5, 0.9, func(scope *model.Scope, g *Graph) *Node {
				real, fake := gauss1D(scope, g, batch, tc.mu1, tc.s1), gauss1D(scope, g, batch, tc.mu2, tc.s2)
				eps := scope.RandomUniform(g, shapes.Make(dtypes.Float32, batch))
				gp, _ := GradientPenalty(critic(scope), real, fake, eps)
				return Add(Neg(W1Estimate(critic(scope)(real), critic(scope)(fake))), MulScalar(gp, tc.lambda))
			})
			const n = 20000
			r := rand.New(rand.NewPCG(5, 6))
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i] = float32(tc.mu1 + tc.s1*r.NormFloat64())
				b[i] = float32(tc.mu2 + tc.s2*r.NormFloat64())
			}
			est := floats(model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, x, y *Node) *Node {
				return W1Estimate(critic(scope)(x), critic(scope)(y))
			}, tensors.FromFlatDataAndDimensions(a, n, 1), tensors.FromFlatDataAndDimensions(b, n, 1)))[0]
			// The critic's slope on a grid over both distributions' central 95%.
			lo, hi := min(tc.mu1-2*tc.s1, tc.mu2-2*tc.s2), max(tc.mu1+2*tc.s1, tc.mu2+2*tc.s2)
			var grid []float32
			for x := lo; x <= hi; x += (hi - lo) / 200 {
				grid = append(grid, float32(x))
			}
			slopes := floats(model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, x *Node) *Node {
				return GradientNorms(critic(scope), x)
			}, tensors.FromFlatDataAndDimensions(grid, len(grid), 1)))
			lip := slices.Max(slopes)
			exact := sortedW1(a, b)
			t.Logf("critic's W1 estimate %.4f (slope up to %.3f, estimate/slope %.4f); exact (sorted samples) %.4f", est, lip, est/lip, exact)
			if tc.closedFormW1 > 0 && math.Abs(exact-tc.closedFormW1) > 0.03 {
				t.Fatalf("sorted-sample W1 %.4f is not the closed form %g", exact, tc.closedFormW1)
			}
			want, tol := exact, 0.03 // a few percent of W1 ...
			if tc.closedFormW1 > 0 {
				want, tol = exact*(1+exact/(2*tc.lambda)), 0.02 // ... or the soft penalty's optimum for a shift
			}
			if math.Abs(est-want) > tol*want {
				t.Errorf("critic estimates %.4f, want %.4f ± %.0f%% (exact W1 %.4f, λ = %g)", est, want, 100*tol, exact, tc.lambda)
			}
			if est/lip > 1.01*exact {
				t.Errorf("estimate/slope %.4f exceeds W1 = %.4f: the duality's bound is broken", est/lip, exact)
			}
		})
	}
}

// sortedW1 is W1 between two empirical distributions of equal size: the
// optimal coupling in 1-D matches the sorted samples.
func sortedW1(a, b []float32) float64 {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	var s float64
	for i := range x {
		s += math.Abs(float64(x[i]) - float64(y[i]))
	}
	return s / float64(len(x))
}
