package flow

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"genmod/nn"
)

// ForwardLayer is a bijection whose noise→data direction and its log-det
// have closed forms. x and z are [B, D]; logdet is [B] = log|det ∂x/∂z|.
// Each layer creates its variables directly in the scope it is given.
type ForwardLayer interface {
	Forward(scope *model.Scope, z *Node) (x, logdet *Node)
}

// Layer is an invertible layer with both directions in closed form (or, for
// MAF's sampling direction, in D sequential passes). Inverse maps data to
// noise and returns logdet [B] = log|det ∂z/∂x|.
type Layer interface {
	ForwardLayer
	Inverse(scope *model.Scope, x *Node) (z, logdet *Node)
}

// batchZeros is a [B] zero log-det in x's dtype.
func batchZeros(x *Node) *Node {
	return Zeros(x.Graph(), shapes.Make(x.DType(), x.Shape().Dimensions[0]))
}

// dot is the per-row inner product of x [B,D] with v [D]: [B].
func dot(x, v *Node) *Node { return ReduceSum(Mul(x, InsertAxes(v, 0)), -1) }

// outDense is the last layer of a conditioner net. std > 0 initializes its
// weights and biases N(0, std²) (small: the flow starts near the identity but
// not exactly at it); std <= 0 uses nn.Dense's default (He weights, zero biases).
func outDense(scope *model.Scope, x *Node, out int, std float64) *Node {
	if std > 0 {
		scope = scope.WithInitializer(initializer.RandomNormalFn(scope, std))
	}
	return nn.Dense(scope, x, out)
}

// conditioner is an MLP x [B,in] -> [B,out] with hidden widths; its last
// layer is initialized by outDense.
func conditioner(scope *model.Scope, x *Node, hidden []int, out int, outStd float64) *Node {
	for i, h := range hidden {
		x = nn.Act(nn.Dense(scope.At("layer_%d", i), x, h))
	}
	return outDense(scope.At("layer_%d", len(hidden)), x, out, outStd)
}

// ---------------------------------------------------------------------------
// Planar and radial flows (Rezende & Mohamed 2015). Forward only.

// Planar is f(z) = z + û·tanh(wᵀz + b) with
//
//	û = u + (m(wᵀu) − wᵀu)·w/‖w‖²,  m(a) = −1 + softplus(a + log(e − 1)),
//
// so wᵀû = m(wᵀu) > −1 and 1 + ûᵀψ(z) > 0 with ψ = tanh'(wᵀz+b)·w: f is
// invertible. log|det ∂f/∂z| = log|1 + ûᵀψ(z)|. Variables "w", "u" [D] and
// "b" scalar, initialized N(0, InitStd²) (0: 0.1).
//
// Rezende & Mohamed's m(a) = −1 + softplus(a) is shifted so that m(0) = 0
// (any increasing m > −1 keeps f invertible): with theirs, small random w
// and u give wᵀû ≈ m(0) = −0.31 and a correction of length 0.31/‖w‖ ≈ 2
// in û, so every fresh layer contracts by up to 0.69 along w, and 32 of them
// started 10 nats above a stack of identities. With the shift, a fresh
// layer is close to the identity (û ≈ u).
type Planar struct {
	InitStd float64
}

func (p Planar) params(scope *model.Scope, z *Node) (w, u, b *Node) {
	std := p.InitStd
	if std == 0 {
		std = 0.1
	}
	g, dt, d := z.Graph(), z.DType(), z.Shape().Dimensions[1]
	s := scope.WithInitializer(initializer.RandomNormalFn(scope, std))
	w = s.VariableWithShape("w", shapes.Make(dt, d)).NodeValue(g)
	u = s.VariableWithShape("u", shapes.Make(dt, d)).NodeValue(g)
	b = s.VariableWithShape("b", shapes.Make(dt)).NodeValue(g)
	return
}

// planarShift is log(e − 1): softplus(planarShift) = 1, so m(0) = 0.
var planarShift = math.Log(math.E - 1)

// uHat is the reparameterized û that keeps the planar map invertible.
func uHat(w, u *Node) *Node {
	wu := ReduceAllSum(Mul(w, u))
	m := AddScalar(Softplus(AddScalar(wu, planarShift)), -1)
	ww := ReduceAllSum(Square(w))
	return Add(u, Mul(w, Div(Sub(m, wu), ww)))
}

// DetTerm is 1 + ûᵀψ(z) [B], the (signed) Jacobian determinant; it is > 0
// for every w, u, b.
func (p Planar) DetTerm(scope *model.Scope, z *Node) *Node {
	w, u, b := p.params(scope, z)
	uh := uHat(w, u)
	a := Add(dot(z, w), b)
	th := Tanh(a)
	return OnePlus(Mul(OneMinus(Square(th)), ReduceAllSum(Mul(w, uh))))
}

// Forward applies f.
func (p Planar) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	w, u, b := p.params(scope, z)
	uh := uHat(w, u)
	th := Tanh(Add(dot(z, w), b))
	x := Add(z, Mul(InsertAxes(th, -1), InsertAxes(uh, 0)))
	det := OnePlus(Mul(OneMinus(Square(th)), ReduceAllSum(Mul(w, uh))))
	return x, Log(Abs(det))
}

// Radial is f(z) = z + β·h(α, r)·(z − z₀), r = ‖z − z₀‖, h = 1/(α + r), with
// α = softplus(α̂) > 0 and β = −α + softplus(β̂) > −α (invertible). Its
// log|det| = (D−1)·log(1 + βh) + log(1 + βh + βh'r), h' = −1/(α+r)².
// Variables "z0" [D] (N(0, InitStd²), 0: 1), "alpha" and "beta" scalars
// (N(0, 0.5²)).
type Radial struct {
	InitStd float64
}

// params returns z₀ [D], α > 0 and β > −α (scalars).
func (q Radial) params(scope *model.Scope, z *Node) (z0, alpha, beta *Node) {
	std := q.InitStd
	if std == 0 {
		std = 1
	}
	g, dt, d := z.Graph(), z.DType(), z.Shape().Dimensions[1]
	z0 = scope.WithInitializer(initializer.RandomNormalFn(scope, std)).
		VariableWithShape("z0", shapes.Make(dt, d)).NodeValue(g)
	s := scope.WithInitializer(initializer.RandomNormalFn(scope, 0.5))
	alpha = Softplus(s.VariableWithShape("alpha", shapes.Make(dt)).NodeValue(g))
	beta = Add(Neg(alpha), Softplus(s.VariableWithShape("beta", shapes.Make(dt)).NodeValue(g)))
	return
}

// radialLogDet is log|det ∂f/∂z| at distance r [B] from z₀:
// (D−1)·log(1 + βh) + log(1 + βh + βh'r), with 1 + βh + βh'r = 1 + βα/(α+r)².
func radialLogDet(alpha, beta, r *Node, d int) *Node {
	h := Inverse(Add(alpha, r))
	last := OnePlus(Mul(Mul(beta, alpha), Square(h)))
	return Add(MulScalar(Log(OnePlus(Mul(beta, h))), float64(d-1)), Log(last))
}

// Forward applies f.
func (q Radial) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	z0, alpha, beta := q.params(scope, z)
	d := z.Shape().Dimensions[1]
	diff := Sub(z, InsertAxes(z0, 0))
	r := Sqrt(ReduceSum(Square(diff), -1)) // [B]
	bh := Mul(beta, Inverse(Add(alpha, r)))
	x := Add(z, Mul(InsertAxes(bh, -1), diff))
	return x, radialLogDet(alpha, beta, r, d)
}

// ---------------------------------------------------------------------------
// Coupling layers.

// split returns the conditioning part a and the transformed part b of x
// [B,D]: the first ⌊D/2⌋ columns and the rest, swapped when parity is odd.
func split(x *Node, parity int) (a, b *Node) {
	d := x.Shape().Dimensions[1]
	k := d / 2
	lo := Slice(x, AxisRange(), AxisRange(0, k))
	hi := Slice(x, AxisRange(), AxisRange(k, d))
	if parity%2 == 0 {
		return lo, hi
	}
	return hi, lo
}

// join undoes split.
func join(a, b *Node, parity int) *Node {
	if parity%2 == 0 {
		return Concatenate([]*Node{a, b}, 1)
	}
	return Concatenate([]*Node{b, a}, 1)
}

func checkCoupling(name string, x *Node) {
	if x.Rank() != 2 || x.Shape().Dimensions[1] < 2 {
		panic(fmt.Sprintf("flow.%s: needs [B, D] with D >= 2, got %s", name, x.Shape()))
	}
}

// AdditiveCoupling is NICE's coupling: in the data→noise direction
// z_b = x_b + m(x_a), z_a = x_a (volume preserving: log-det 0), with (a, b)
// the two halves of the vector chosen by Parity. m is an MLP with Hidden
// widths under "net".
type AdditiveCoupling struct {
	Hidden []int
	Parity int
	OutStd float64 // init std of m's last layer (0: 0.01)
}

func (c AdditiveCoupling) shift(scope *model.Scope, a *Node, nb int) *Node {
	std := c.OutStd
	if std == 0 {
		std = 0.01
	}
	return conditioner(scope.At("net"), a, c.Hidden, nb, std)
}

// Forward is x_b = z_b − m(z_a).
func (c AdditiveCoupling) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	checkCoupling("AdditiveCoupling", z)
	a, b := split(z, c.Parity)
	b = Sub(b, c.shift(scope, a, b.Shape().Dimensions[1]))
	return join(a, b, c.Parity), batchZeros(z)
}

// Inverse is z_b = x_b + m(x_a).
func (c AdditiveCoupling) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	checkCoupling("AdditiveCoupling", x)
	a, b := split(x, c.Parity)
	b = Add(b, c.shift(scope, a, b.Shape().Dimensions[1]))
	return join(a, b, c.Parity), batchZeros(x)
}

// Scaling is NICE's final diagonal layer: z = x·exp(s) (data→noise), with
// log-det Σs. Variable "s" [D], initialized to zeros.
type Scaling struct{}

func (Scaling) s(scope *model.Scope, x *Node) *Node {
	return scope.WithInitializer(initializer.Zero).
		VariableWithShape("s", shapes.Make(x.DType(), x.Shape().Dimensions[1])).NodeValue(x.Graph())
}

// Forward is x = z·exp(−s).
func (l Scaling) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	s := l.s(scope, z)
	b := z.Shape().Dimensions[0]
	return Mul(z, InsertAxes(Exp(Neg(s)), 0)), BroadcastToDims(Neg(ReduceAllSum(s)), b)
}

// Inverse is z = x·exp(s).
func (l Scaling) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	s := l.s(scope, x)
	b := x.Shape().Dimensions[0]
	return Mul(x, InsertAxes(Exp(s), 0)), BroadcastToDims(ReduceAllSum(s), b)
}

// DefaultScaleBound bounds the log-scales of AffineCoupling and MAF:
// s = bound·tanh(raw).
const DefaultScaleBound = 2.0

// AffineCoupling is RealNVP's coupling: in the noise→data direction
// x_b = z_b·exp(s(z_a)) + t(z_a), x_a = z_a, log-det Σ s, with
// s = ScaleBound·tanh(raw) bounded. s and t come from one MLP under "net".
type AffineCoupling struct {
	Hidden     []int
	Parity     int
	ScaleBound float64 // 0: DefaultScaleBound
	OutStd     float64 // init std of the net's last layer (0: 0.01)
}

func (c AffineCoupling) st(scope *model.Scope, a *Node, nb int) (s, t *Node) {
	std, bound := c.OutStd, c.ScaleBound
	if std == 0 {
		std = 0.01
	}
	if bound == 0 {
		bound = DefaultScaleBound
	}
	out := conditioner(scope.At("net"), a, c.Hidden, 2*nb, std)
	s = MulScalar(Tanh(Slice(out, AxisRange(), AxisRange(0, nb))), bound)
	t = Slice(out, AxisRange(), AxisRange(nb, 2*nb))
	return
}

// Forward is x_b = z_b·exp(s(z_a)) + t(z_a).
func (c AffineCoupling) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	checkCoupling("AffineCoupling", z)
	a, b := split(z, c.Parity)
	s, t := c.st(scope, a, b.Shape().Dimensions[1])
	return join(a, Add(Mul(b, Exp(s)), t), c.Parity), ReduceSum(s, -1)
}

// Inverse is z_b = (x_b − t(x_a))·exp(−s(x_a)).
func (c AffineCoupling) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	checkCoupling("AffineCoupling", x)
	a, b := split(x, c.Parity)
	s, t := c.st(scope, a, b.Shape().Dimensions[1])
	return join(a, Mul(Sub(b, t), Exp(Neg(s))), c.Parity), Neg(ReduceSum(s, -1))
}

// ReverseDims reverses the order of the D coordinates (its own inverse, log-det 0).
type ReverseDims struct{}

// Forward reverses the coordinates.
func (ReverseDims) Forward(_ *model.Scope, z *Node) (*Node, *Node) {
	return reverseCols(z), batchZeros(z)
}

// reverseCols reverses the columns of x [B, D] with slices (graph.Reverse
// has no gradient in GoMLX v0.28.2).
func reverseCols(x *Node) *Node {
	d := x.Shape().Dimensions[1]
	cols := make([]*Node, d)
	for i := range cols {
		cols[i] = Slice(x, AxisRange(), AxisRange(d-1-i, d-i))
	}
	return Concatenate(cols, 1)
}

// Inverse reverses the coordinates.
func (ReverseDims) Inverse(_ *model.Scope, x *Node) (*Node, *Node) {
	return reverseCols(x), batchZeros(x)
}

// ---------------------------------------------------------------------------
// MAF (Papamakarios et al. 2017).

// MAF is a masked autoregressive flow layer: x_i = u_i·exp(α_i) + μ_i with
// (μ_i, α_i) = MADE(x_<i), α = ScaleBound·tanh(raw). Density (data→noise)
// u = (x − μ(x))·exp(−α(x)) is one pass; sampling (noise→data) is D passes.
// The MADE (widths Hidden, SiLU) lives under "made".
type MAF struct {
	Hidden     []int
	ScaleBound float64 // 0: DefaultScaleBound
	OutStd     float64 // init std of the MADE's last layer (0: 0.01)
}

func (l MAF) made(scope *model.Scope, x *Node) (mu, alpha *Node) {
	std, bound := l.OutStd, l.ScaleBound
	if std == 0 {
		std = 0.01
	}
	if bound == 0 {
		bound = DefaultScaleBound
	}
	d := x.Shape().Dimensions[1]
	masks := nn.NaturalMADEDegrees(d, l.Hidden).Masks(2) // μ then α
	scope = scope.At("made")
	h := x
	for i := range l.Hidden {
		h = nn.Act(nn.MaskedDense(scope.At("layer_%d", i), h, masks[i]))
	}
	last := scope.At("layer_%d", len(l.Hidden)).WithInitializer(initializer.RandomNormalFn(scope, std))
	out := nn.MaskedDense(last, h, masks[len(l.Hidden)])
	mu = Slice(out, AxisRange(), AxisRange(0, d))
	alpha = MulScalar(Tanh(Slice(out, AxisRange(), AxisRange(d, 2*d))), bound)
	return
}

// Forward samples: D sequential passes, after pass i the first i
// coordinates are exact.
func (l MAF) Forward(scope *model.Scope, u *Node) (*Node, *Node) {
	d := u.Shape().Dimensions[1]
	x := ZerosLike(u)
	var alpha *Node
	for range d {
		var mu *Node
		mu, alpha = l.made(scope, x)
		x = Add(Mul(u, Exp(alpha)), mu)
	}
	// α depends on x_<i only, so the last pass's α is the final one.
	return x, ReduceSum(alpha, -1)
}

// Inverse is the density direction, one pass.
func (l MAF) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	mu, alpha := l.made(scope, x)
	return Mul(Sub(x, mu), Exp(Neg(alpha))), Neg(ReduceSum(alpha, -1))
}

// ---------------------------------------------------------------------------

// Flow is a standard-normal base N(0, I) followed by Layers in the
// noise→data order; layer i keeps its variables under "layer_i".
type Flow struct {
	Layers []Layer
}

// LogProb is log p(x) [B] for x [B, D]: run the layers backwards to z and
// add the base log-density and the log-dets.
func (f Flow) LogProb(scope *model.Scope, x *Node) *Node {
	z, total := f.encode(scope, x, pass{})
	return Add(total, StdNormalLogProb(z))
}

// Sample maps base noise z [B, D] to data.
func (f Flow) Sample(scope *model.Scope, z *Node) *Node {
	return f.decode(scope, z, pass{})
}

// StdNormalLogProb is log N(z; 0, I) [B] for z [B, D] (or [B, ...]).
func StdNormalLogProb(z *Node) *Node {
	d := z.Shape().Size() / z.Shape().Dimensions[0]
	return AddScalar(MulScalar(sumPerExample(Square(z)), -0.5), -0.5*float64(d)*math.Log(2*math.Pi))
}

// Interleave is the fixed permutation that makes NICE's partitions the
// even and the odd coordinates (in the data→noise direction it moves
// x_0, x_2, x_4, … to the first half and x_1, x_3, … to the second), so
// that couplings on halves condition every other pixel of a flattened
// image on its neighbours rather than its top half on its bottom half.
// D must be even. A permutation: log-det 0.
type Interleave struct{}

// Forward puts the two halves back at the even and odd positions.
func (Interleave) Forward(_ *model.Scope, z *Node) (*Node, *Node) {
	b, d := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
	checkEven("Interleave", d)
	return Reshape(Transpose(Reshape(z, b, 2, d/2), 1, 2), b, d), batchZeros(z)
}

// Inverse moves the even positions to the first half, the odd to the second.
func (Interleave) Inverse(_ *model.Scope, x *Node) (*Node, *Node) {
	b, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	checkEven("Interleave", d)
	return Reshape(Transpose(Reshape(x, b, d/2, 2), 1, 2), b, d), batchZeros(x)
}

func checkEven(name string, d int) {
	if d%2 != 0 {
		panic(fmt.Sprintf("flow.%s: needs an even dimension, got %d", name, d))
	}
}
