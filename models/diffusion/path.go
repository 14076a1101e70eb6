package diffusion

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Path is a Gaussian noising path x_t = a(t)·x + b(t)·z on t in [0, 1]
// (t = 0 data, t = 1 noise). It is a solver.Schedule, plus what training
// needs: the coefficients as graph ops and the times the network sees.
type Path interface {
	// Name is the path's config name: "ddpm", "vp", "ve" or "linear".
	Name() string
	// Coefs returns a(t), b(t) and their derivatives (solver.Schedule).
	Coefs(t float64) (a, b, da, db float64)
	// GraphCoefs computes a(t), b(t), a'(t), b'(t) for a batch of times t [B].
	GraphCoefs(t *Node) (a, b, da, db *Node)
	// TrainTime maps u in (0, 1] (uniform or logit-normal) to a training
	// time: a DDPM step i/T, or a time in [TMin, 1].
	TrainTime(u *Node) *Node
	// TMin is the smallest time the network is trained at.
	TMin() float64
	// Steps is the number of discrete steps T (0 for continuous paths).
	Steps() int
}

// Linear is the rectified-flow line of seed 002: a = 1 − t, b = t.
type Linear struct{}

func (Linear) Name() string { return "linear" }
func (Linear) Coefs(t float64) (a, b, da, db float64) {
	return 1 - t, t, -1, 1
}
func (Linear) GraphCoefs(t *Node) (a, b, da, db *Node) {
	return OneMinus(t), t, Neg(OnesLike(t)), OnesLike(t)
}
func (Linear) TrainTime(u *Node) *Node { return u }
func (Linear) TMin() float64           { return 0 }
func (Linear) Steps() int              { return 0 }

// VP is the continuous variance-preserving path of Song et al. (2021), the
// limit of DDPM's linear β schedule: with β(t) = β₀ + t(β₁ − β₀),
//
//	ᾱ(t) = exp(−∫₀ᵗ β) = exp(−β₀t − ½(β₁−β₀)t²),  a = √ᾱ,  b = √(1 − ᾱ)
//
// (seed 002: a = √σ(t), b = √(1 − σ(t)) with σ = ᾱ).
type VP struct {
	Beta0, Beta1 float64 // 0.1 and 20 as in Song et al.
	Min          float64 // smallest training time (1e-3)
}

// DefaultVP is the score-SDE VP path (β from 0.1 to 20, t ≥ 1e-3).
var DefaultVP = VP{Beta0: 0.1, Beta1: 20, Min: 1e-3}

func (p VP) Name() string { return "vp" }
func (p VP) logAlphaBar(t float64) float64 {
	return -p.Beta0*t - 0.5*(p.Beta1-p.Beta0)*t*t
}
func (p VP) Coefs(t float64) (a, b, da, db float64) {
	ab := math.Exp(p.logAlphaBar(t))
	beta := p.Beta0 + t*(p.Beta1-p.Beta0)
	a, b = math.Sqrt(ab), math.Sqrt(-math.Expm1(p.logAlphaBar(t)))
	da = -0.5 * beta * a
	if b > 0 {
		db = 0.5 * beta * ab / b
	}
	return
}
func (p VP) GraphCoefs(t *Node) (a, b, da, db *Node) {
	logAB := Neg(Add(MulScalar(t, p.Beta0), MulScalar(Square(t), 0.5*(p.Beta1-p.Beta0))))
	ab := Exp(logAB)
	a, b = Sqrt(ab), Sqrt(Neg(Expm1(logAB))) // 1 − ᾱ without cancellation at small t
	halfBeta := MulScalar(AddScalar(MulScalar(t, p.Beta1-p.Beta0), p.Beta0), 0.5)
	return a, b, Neg(Mul(halfBeta, a)), Div(Mul(halfBeta, ab), b)
}
func (p VP) TrainTime(u *Node) *Node { return AddScalar(MulScalar(u, 1-p.Min), p.Min) }
func (p VP) TMin() float64           { return p.Min }
func (p VP) Steps() int              { return 0 }

// VE is the variance-exploding path (seed 002; NCSN / Song et al.): a = 1,
// b = σ(t) = σ_min·(σ_max/σ_min)^t. σ_max must be about the largest distance
// between training points so that x_1 ≈ N(0, σ_max²) forgets the data.
type VE struct {
	SigmaMin, SigmaMax float64
}

func (p VE) Name() string { return "ve" }
func (p VE) Coefs(t float64) (a, b, da, db float64) {
	b = p.SigmaMin * math.Pow(p.SigmaMax/p.SigmaMin, t)
	return 1, b, 0, b * math.Log(p.SigmaMax/p.SigmaMin)
}
func (p VE) GraphCoefs(t *Node) (a, b, da, db *Node) {
	k := math.Log(p.SigmaMax / p.SigmaMin)
	b = MulScalar(Exp(MulScalar(t, k)), p.SigmaMin)
	return OnesLike(t), b, ZerosLike(t), MulScalar(b, k)
}
func (p VE) TrainTime(u *Node) *Node { return u }
func (p VE) TMin() float64           { return 0 }
func (p VE) Steps() int              { return 0 }

// DDPM is the discrete path of Ho et al. (seed 003): T steps with
// ᾱ_i = Π_{j≤i}(1 − β_j), x_i = √ᾱ_i·x + √(1−ᾱ_i)·z, at times t = i/T.
// Between grid points log ᾱ is linear in t, which gives the ODE and SDE
// samplers a continuous path through exactly the trained points.
type DDPM struct {
	schedule string
	alphaBar []float64 // index 0..T, alphaBar[0] = 1
}

// NewDDPM builds the T-step path with the "linear" schedule (β from 1e-4 to
// 0.02, Ho et al.) or the "cosine" one (Nichol & Dhariwal 2021, s = 0.008,
// β clipped at 0.999).
func NewDDPM(schedule string, T int) (*DDPM, error) {
	if T < 2 {
		return nil, fmt.Errorf("ddpm needs at least 2 steps, got %d", T)
	}
	ab := make([]float64, T+1)
	ab[0] = 1
	switch schedule {
	case "", "linear":
		schedule = "linear"
		for i := 1; i <= T; i++ {
			beta := 1e-4 + (0.02-1e-4)*float64(i-1)/float64(T-1)
			ab[i] = ab[i-1] * (1 - beta)
		}
	case "cosine":
		const s = 0.008
		f := func(i int) float64 {
			c := math.Cos((float64(i)/float64(T) + s) / (1 + s) * math.Pi / 2)
			return c * c
		}
		for i := 1; i <= T; i++ {
			beta := math.Min(1-f(i)/f(i-1), 0.999)
			ab[i] = ab[i-1] * (1 - beta)
		}
	default:
		return nil, fmt.Errorf("unknown schedule %q (valid: linear, cosine)", schedule)
	}
	return &DDPM{schedule: schedule, alphaBar: ab}, nil
}

// AlphaBar returns ᾱ_i for the discrete step i in 0..T.
func (p *DDPM) AlphaBar(i int) float64 { return p.alphaBar[i] }

// Beta returns β_i = 1 − ᾱ_i/ᾱ_{i−1} for i in 1..T.
func (p *DDPM) Beta(i int) float64 { return 1 - p.alphaBar[i]/p.alphaBar[i-1] }

func (p *DDPM) Name() string { return "ddpm" }
func (p *DDPM) Steps() int   { return len(p.alphaBar) - 1 }
func (p *DDPM) TMin() float64 {
	return 1 / float64(p.Steps())
}

func (p *DDPM) Coefs(t float64) (a, b, da, db float64) {
	T := p.Steps()
	u := math.Min(math.Max(t, 0), 1) * float64(T)
	i := min(int(u), T-1)
	l0, l1 := math.Log(p.alphaBar[i]), math.Log(p.alphaBar[i+1])
	slope := (l1 - l0) * float64(T) // d log ᾱ / dt on this segment
	ab := math.Exp(l0 + (u-float64(i))*(l1-l0))
	a, b = math.Sqrt(ab), math.Sqrt(1-ab)
	da = 0.5 * slope * a
	if b > 0 {
		db = -0.5 * slope * ab / b
	}
	return
}

// GraphCoefs reads the coefficients at the nearest grid step i = round(t·T)
// (training only uses grid times); the derivatives are those of Coefs there.
func (p *DDPM) GraphCoefs(t *Node) (a, b, da, db *Node) {
	g := t.Graph()
	T := p.Steps()
	idx := ConvertDType(Round(MulScalar(t, float64(T))), dtypes.Int32)
	tables := make([][]float32, 4)
	for k := range tables {
		tables[k] = make([]float32, T+1)
	}
	for i := 0; i <= T; i++ {
		a, b, da, db := p.Coefs(float64(i) / float64(T))
		for k, v := range []float64{a, b, da, db} {
			tables[k][i] = float32(v)
		}
	}
	gather := func(table []float32) *Node {
		return ConvertDType(Gather(Const(g, table), InsertAxes(idx, -1)), t.DType())
	}
	return gather(tables[0]), gather(tables[1]), gather(tables[2]), gather(tables[3])
}

// TrainTime snaps u in (0, 1] to a step i/T with i in 1..T.
func (p *DDPM) TrainTime(u *Node) *Node {
	T := float64(p.Steps())
	i := Max(Ceil(MulScalar(u, T)), OnesLike(u))
	return DivScalar(Min(i, AddScalar(ZerosLike(u), T)), T)
}
