package flow

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Planar and radial flows have a closed-form map f and log-det in one
// direction only. They are used two ways:
//
//   - As a posterior flow (seed 003, "流模型": a VAE's q(z|x) made richer by
//     z_K = f_K∘…∘f_1(z_0)): call Forward on a base sample z_0; it returns
//     f(z_0) and log|det ∂f/∂z_0|, and
//     log q_K(z_K) = log q_0(z_0) − Σ_k log|det ∂f_k/∂z_{k−1}|. No inverse is
//     needed.
//   - As a density model on data (registered models "planar" and "radial"):
//     the map is used in the normalizing direction, z = f(x), so
//     log p(x) = log N(f(x)) + log|det ∂f/∂x| is exact and cheap and the
//     model trains by maximum likelihood; sampling inverts each layer
//     numerically (Inverse below). Inverted{Planar{}} puts the closed-form
//     map on the data→noise side of a Flow.
//
// Both inverses reduce to one monotone scalar equation per row. They are
// solved inside the graph, batched over rows, rather than row by row on the
// host: the same graph then serves Sample, Decode and the tests, and the
// solution stays differentiable (see Planar.Inverse).

// planarBisections is the number of bisection steps of Planar.Inverse
// (each halves a bracket of width 2|wᵀû|), before two Newton steps.
const planarBisections = 40

// Inverse solves f(z) = x for z: with a = wᵀz and c = wᵀû > −1, wᵀx =
// a + c·tanh(a + b), an increasing function of a with slope ≥ min(1, 1+c),
// whose root lies in [wᵀx − |c|, wᵀx + |c|]. Bisection narrows it to
// 2|c|·2⁻⁴⁰; two Newton steps from there reach the float precision, and
// because the bisection result enters them through StopGradient, the
// gradient of the result is the implicit-function one, ∂a/∂(wᵀx) =
// 1/(1 + c·tanh'(a+b)). Then z = x − û·tanh(a + b), and the log-det is
// −log(1 + c·(1 − tanh²(a+b))).
func (p Planar) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	w, u, b := p.params(scope, x)
	uh := uHat(w, u)
	c := ReduceAllSum(Mul(w, uh))
	y := dot(x, w) // [B]
	g := func(a *Node) *Node { return Sub(Add(a, Mul(c, Tanh(Add(a, b)))), y) }
	lo, hi := Sub(y, Abs(c)), Add(y, Abs(c))
	zero := ZerosLike(y)
	for range planarBisections {
		mid := MulScalar(Add(lo, hi), 0.5)
		below := LessThan(g(mid), zero)
		lo, hi = Where(below, mid, lo), Where(below, hi, mid)
	}
	a := StopGradient(MulScalar(Add(lo, hi), 0.5))
	for range 2 {
		th := Tanh(Add(a, b))
		a = Sub(a, Div(g(a), OnePlus(Mul(c, OneMinus(Square(th))))))
	}
	th := Tanh(Add(a, b))
	z := Sub(x, Mul(InsertAxes(th, -1), InsertAxes(uh, 0)))
	det := OnePlus(Mul(OneMinus(Square(th)), c))
	return z, Neg(Log(Abs(det)))
}

// Inverse solves f(z) = y for z in closed form. With d = y − z₀ and
// ρ = ‖d‖, f scales z − z₀ by 1 + β/(α + r), so ρ = r + βr/(α + r):
// r² + (α + β − ρ)·r − αρ = 0, whose non-negative root is
// r = (−q + √(q² + 4αρ))/2 with q = α + β − ρ (computed as 2αρ/(q + √…)
// when q > 0, to avoid cancellation). Then z = z₀ + d/(1 + β/(α + r)).
func (q Radial) Inverse(scope *model.Scope, y *Node) (*Node, *Node) {
	z0, alpha, beta := q.params(scope, y)
	d := y.Shape().Dimensions[1]
	diff := Sub(y, InsertAxes(z0, 0))
	rho := Sqrt(ReduceSum(Square(diff), -1)) // [B]
	qq := Sub(Add(alpha, beta), rho)
	disc := Sqrt(Add(Square(qq), MulScalar(Mul(rho, alpha), 4)))
	pos := GreaterThan(qq, ZerosLike(qq))
	one := OnesLike(qq)
	rPos := Div(MulScalar(Mul(rho, alpha), 2), Where(pos, Add(qq, disc), one))
	rNeg := MulScalar(Sub(disc, qq), 0.5)
	r := Where(pos, rPos, rNeg)
	scale := OnePlus(Div(beta, Add(alpha, r))) // 1 + βh > 0
	z := Add(InsertAxes(z0, 0), Div(diff, InsertAxes(scale, -1)))
	return z, Neg(radialLogDet(alpha, beta, r, d))
}

// Inverted swaps a layer's directions: its Forward is the layer's Inverse
// and the other way round (normflows' Reverse). Inverted{Planar{}} in a Flow
// evaluates the planar map in closed form on the density side.
type Inverted struct {
	Layer Layer
}

// Forward is the wrapped layer's Inverse.
func (r Inverted) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	return r.Layer.Inverse(scope, z)
}

// Inverse is the wrapped layer's Forward.
func (r Inverted) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	return r.Layer.Forward(scope, x)
}

var (
	_ Layer = Planar{}
	_ Layer = Radial{}
	_ Layer = Inverted{}
	_ Layer = ActNorm{}
	_ Layer = InvConv1x1{}
	_ Layer = ConvCoupling{}
	_ Layer = Squeeze2x2{}
)
