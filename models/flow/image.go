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

// Layers for images [B,H,W,C] (RealNVP, Dinh et al. 2017; Glow, Kingma &
// Dhariwal 2018). ActNorm and InvConv1x1 act on the last axis, so they also
// work on vectors [B,D] (there InvConv1x1 is an invertible dense layer).
// As everywhere in this package, Forward is noise→data and Inverse is
// data→noise; both return log|det| of the map they apply, per example [B].

// lastDim is the size of x's last axis (the channels).
func lastDim(x *Node) int { return x.Shape().Dimensions[x.Rank()-1] }

// positions is how many values share one channel's parameters in each
// example: H·W for images, 1 for vectors.
func positions(x *Node) int {
	n := 1
	for _, d := range x.Shape().Dimensions[1 : x.Rank()-1] {
		n *= d
	}
	return n
}

// sliceLast is x[..., lo:hi].
func sliceLast(x *Node, lo, hi int) *Node {
	specs := make([]SliceAxisSpec, x.Rank())
	for i := range specs {
		specs[i] = AxisRange()
	}
	specs[x.Rank()-1] = AxisRange(lo, hi)
	return Slice(x, specs...)
}

// sumPerExample sums all axes but the batch axis: [B].
func sumPerExample(x *Node) *Node {
	return ReduceSum(Reshape(x, x.Shape().Dimensions[0], -1), 1)
}

// perChannel broadcasts v [C] against x [B,...,C].
func perChannel(v, x *Node) *Node { return ExpandLeftToRank(v, x.Rank()) }

// constInit initializes a variable with fixed values (row-major), in the
// variable's dtype.
func constInit(vals []float64) model.VariableInitializer {
	return func(g *Graph, s shapes.Shape) *Node {
		return ConvertDType(Reshape(Const(g, vals), s.Dimensions...), s.DType)
	}
}

// ---------------------------------------------------------------------------

// Squeeze2x2 trades space for channels (RealNVP's squeezing): Inverse is
// nn.SpaceToDepth, [B,H,W,C] -> [B,H/2,W/2,4C], and Forward undoes it.
// A permutation: log-det 0.
type Squeeze2x2 struct{}

// Forward is DepthToSpace.
func (Squeeze2x2) Forward(_ *model.Scope, z *Node) (*Node, *Node) {
	return nn.DepthToSpace(z), batchZeros(z)
}

// Inverse is SpaceToDepth.
func (Squeeze2x2) Inverse(_ *model.Scope, x *Node) (*Node, *Node) {
	return nn.SpaceToDepth(x), batchZeros(x)
}

// ---------------------------------------------------------------------------

// ActNorm is Glow's activation normalization, a per-channel affine map; in
// the data→noise direction z = (x + bias)·exp(logs), so
// log|det| = positions·Σ_c logs_c (positions = H·W for images, 1 for
// vectors). Variables "bias" and "logs" [C].
//
// Data-dependent initialization: the Inverse call that creates the
// variables sets them from its own input, bias = −mean and
// logs = −log(std + 1e-6) per channel (over batch and positions), so that
// its output has zero mean and unit variance per channel on that batch.
// It uses GoMLX's Scope.VariableWithNodeValue: the variables' values are
// nodes of that graph, written to the store when the graph runs. genmod's
// trainer builds the model's variables by running Loss once on the first
// training batch (train.initVariables), so that batch initializes every
// ActNorm, and the EMA copies start from the initialized values. This needs
// no "initialized" flag variable and no Where in the training graph: every
// later graph finds the variables and uses them as ordinary weights.
// A graph that creates them in the noise→data direction (sampling an
// untrained model) has no data to use and starts them at the identity.
type ActNorm struct{}

// actNormEps keeps logs finite on constant channels.
const actNormEps = 1e-6

func (ActNorm) params(scope *model.Scope, x *Node, fromData bool) (bias, logs *Node) {
	g, dt, c := x.Graph(), x.DType(), lastDim(x)
	if fromData && scope.GetVariable("bias") == nil && scope.GetVariable("logs") == nil {
		flat := Reshape(x, -1, c)
		mean := ReduceMean(flat, 0)
		std := Sqrt(ReduceMean(Square(Sub(flat, InsertAxes(mean, 0))), 0))
		scope.VariableWithNodeValue("bias", StopGradient(Neg(mean)))
		scope.VariableWithNodeValue("logs", StopGradient(Neg(Log(AddScalar(std, actNormEps)))))
	}
	zero := scope.WithInitializer(initializer.Zero)
	bias = zero.VariableWithShape("bias", shapes.Make(dt, c)).NodeValue(g)
	logs = zero.VariableWithShape("logs", shapes.Make(dt, c)).NodeValue(g)
	return bias, logs
}

// Forward is x = z·exp(−logs) − bias.
func (a ActNorm) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	bias, logs := a.params(scope, z, false)
	x := Sub(Mul(z, perChannel(Exp(Neg(logs)), z)), perChannel(bias, z))
	ld := MulScalar(ReduceAllSum(logs), -float64(positions(z)))
	return x, BroadcastToDims(ld, z.Shape().Dimensions[0])
}

// Inverse is z = (x + bias)·exp(logs); it initializes the variables from x
// when it creates them.
func (a ActNorm) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	bias, logs := a.params(scope, x, true)
	z := Mul(Add(x, perChannel(bias, x)), perChannel(Exp(logs), x))
	ld := MulScalar(ReduceAllSum(logs), float64(positions(x)))
	return z, BroadcastToDims(ld, x.Shape().Dimensions[0])
}

// ---------------------------------------------------------------------------

// InvConv1x1 is Glow's invertible 1x1 convolution in the LU
// parameterization: every position's channel vector is multiplied by
//
//	W = P·L·(U + diag(sign(s)·exp(log|s|)))
//
// (data→noise: z = W·x), with P a fixed permutation, L unit lower
// triangular and U strictly upper triangular. log|det| = positions·Σ log|s|
// (H·W·Σ log|s| for images). On vectors [B,D] it is an invertible dense
// layer. W starts as a random rotation drawn from Seed (see luInit); P and
// sign(s) are constants rebuilt from Seed, never variables, so a loaded
// checkpoint cannot disagree with them. Variables "lower" and "upper"
// [C,C] (only their strict triangles are used) and "log_s" [C].
//
// The noise→data direction needs W⁻¹ = (U + D)⁻¹·L⁻¹·Pᵀ. Both triangular
// inverses are exact finite products: for a strictly triangular N (so
// N^C = 0), (I + N)⁻¹ = (I − N)(I + N²)(I + N⁴)…, ⌈log₂ C⌉ matmuls of
// C×C; and U + D = D·(I + D⁻¹U).
type InvConv1x1 struct {
	Seed uint64
}

type luParts struct {
	perm, lower, upper, d, logS *Node // d = sign(s)·exp(log|s|)
	c                           int
}

func (l InvConv1x1) parts(scope *model.Scope, x *Node) luParts {
	g, dt, c := x.Graph(), x.DType(), lastDim(x)
	perm, lower, upper, s := luInit(c, l.Seed)
	sign, logS := make([]float64, c), make([]float64, c)
	for i, v := range s {
		sign[i], logS[i] = math.Copysign(1, v), math.Log(math.Abs(v))
	}
	lowerMask, upperMask := make([]float64, c*c), make([]float64, c*c)
	for i := 0; i < c; i++ {
		for j := 0; j < c; j++ {
			if j < i {
				lowerMask[i*c+j] = 1
			} else if j > i {
				upperMask[i*c+j] = 1
			}
		}
	}
	cst := func(v []float64, dims ...int) *Node { return ConvertDType(Reshape(Const(g, v), dims...), dt) }
	lv := scope.WithInitializer(constInit(lower)).VariableWithShape("lower", shapes.Make(dt, c, c)).NodeValue(g)
	uv := scope.WithInitializer(constInit(upper)).VariableWithShape("upper", shapes.Make(dt, c, c)).NodeValue(g)
	ls := scope.WithInitializer(constInit(logS)).VariableWithShape("log_s", shapes.Make(dt, c)).NodeValue(g)
	return luParts{
		perm:  cst(perm, c, c),
		lower: Mul(lv, cst(lowerMask, c, c)),
		upper: Mul(uv, cst(upperMask, c, c)),
		d:     Mul(cst(sign, c), Exp(ls)),
		logS:  ls,
		c:     c,
	}
}

func identity(like *Node, c int) *Node {
	return ConvertDType(Diagonal(like.Graph(), c), like.DType())
}

// matrix is W = P·L·(U + diag(d)).
func (p luParts) matrix() *Node {
	eye := identity(p.perm, p.c)
	u := Add(p.upper, Mul(eye, InsertAxes(p.d, 0)))
	return MatMul(p.perm, MatMul(Add(eye, p.lower), u))
}

// unitTriInverse is (I + n)⁻¹ for a strictly triangular c×c n.
func unitTriInverse(n *Node, c int) *Node {
	eye := identity(n, c)
	m := Neg(n)
	acc := Add(eye, m) // I + M: the powers M^0..M^1
	for terms := 2; terms < c; terms *= 2 {
		m = MatMul(m, m)
		acc = MatMul(acc, Add(eye, m)) // now M^0..M^(2·terms−1)
	}
	return acc
}

// inverse is W⁻¹ = (U + D)⁻¹·L⁻¹·Pᵀ.
func (p luParts) inverse() *Node {
	dInv := Inverse(p.d)
	uInv := Mul(unitTriInverse(Mul(InsertAxes(dInv, -1), p.upper), p.c), InsertAxes(dInv, 0))
	return MatMul(uInv, MatMul(unitTriInverse(p.lower, p.c), Transpose(p.perm, 0, 1)))
}

// applyPerPosition is y = M·v for every position's channel vector v of x.
func applyPerPosition(x, m *Node) *Node {
	dims := x.Shape().Dimensions
	c := dims[len(dims)-1]
	return Reshape(MatMul(Reshape(x, -1, c), Transpose(m, 0, 1)), dims...)
}

// Matrix is W itself, for tests and inspection.
func (l InvConv1x1) Matrix(scope *model.Scope, like *Node) *Node {
	return l.parts(scope, like).matrix()
}

// Forward is x = W⁻¹·z per position.
func (l InvConv1x1) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	p := l.parts(scope, z)
	ld := MulScalar(ReduceAllSum(p.logS), -float64(positions(z)))
	return applyPerPosition(z, p.inverse()), BroadcastToDims(ld, z.Shape().Dimensions[0])
}

// Inverse is z = W·x per position.
func (l InvConv1x1) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	p := l.parts(scope, x)
	ld := MulScalar(ReduceAllSum(p.logS), float64(positions(x)))
	return applyPerPosition(x, p.matrix()), BroadcastToDims(ld, x.Shape().Dimensions[0])
}

// ---------------------------------------------------------------------------

// Coupling masks of ConvCoupling.
const (
	MaskChannel      = "channel"      // the two halves of the channels (RealNVP after squeezing, Glow)
	MaskCheckerboard = "checkerboard" // pixels with (i+j+parity) even condition the others (RealNVP)
)

// DefaultConvWidth is ConvCoupling's hidden width when Hidden is 0.
const DefaultConvWidth = 64

// ConvCoupling is the affine coupling of RealNVP and Glow on images
// [B,H,W,C]: the values selected by the mask (x_a) pass unchanged and
// condition an affine map of the others (x_b). Noise→data:
//
//	x_b = z_b·exp(s(z_a)) + t(z_a),   s = ScaleBound·tanh(raw),
//
// log|det| = Σ s. s and t come from a small conv net under "net":
// conv3x3(Hidden) → ReLU → conv1x1(Hidden) → ReLU → conv3x3(2·C_b), built on
// nn.Conv2D; its last layer starts at zero (InitStd 0), so every coupling
// starts as the identity. For the checkerboard mask the net sees x⊙m and
// the mask itself as an extra channel, and its output is multiplied by 1−m.
type ConvCoupling struct {
	Mask       string // MaskChannel or MaskCheckerboard
	Parity     int    // which half conditions (alternate it between layers)
	Hidden     int    // conv width; 0: DefaultConvWidth
	ScaleBound float64
	InitStd    float64 // > 0: the last conv starts N(0, InitStd²) instead of 0 (tests)
}

func (c ConvCoupling) check(x *Node) {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("flow.ConvCoupling: needs images [B,H,W,C], got %s", x.Shape()))
	}
	switch c.Mask {
	case MaskChannel:
		if lastDim(x) < 2 {
			panic(fmt.Sprintf("flow.ConvCoupling: a channel mask needs C >= 2, got %s", x.Shape()))
		}
	case MaskCheckerboard:
	default:
		panic(fmt.Sprintf("flow.ConvCoupling: unknown mask %q", c.Mask))
	}
}

// net is the conditioner: [B,H,W,Cin] -> [B,H,W,out].
func (c ConvCoupling) net(scope *model.Scope, x *Node, out int) *Node {
	hidden := c.Hidden
	if hidden == 0 {
		hidden = DefaultConvWidth
	}
	h := relu(nn.Conv2D(scope.At("conv_0"), x, hidden, 3))
	h = relu(nn.Conv2D(scope.At("conv_1"), h, hidden, 1))
	last := scope.At("conv_out")
	if c.InitStd > 0 {
		last = last.WithInitializer(initializer.RandomNormalFn(last, c.InitStd))
	} else {
		last = last.WithInitializer(initializer.Zero)
	}
	return nn.Conv2D(last, h, out, 3)
}

func (c ConvCoupling) bound() float64 {
	if c.ScaleBound == 0 {
		return DefaultScaleBound
	}
	return c.ScaleBound
}

// relu is max(x, 0) as x·1[x > 0] with the indicator outside the gradient:
// its backward pass is one multiply, where graph.Max's costs a Sub, a Sign
// and two multiplies (~8% of a glow training step).
func relu(x *Node) *Node {
	return Mul(x, StopGradient(ConvertDType(GreaterThan(x, ZerosLike(x)), x.DType())))
}

// checkerboard is the mask m [1,H,W,1]: 1 where (i + j + parity) is even.
func checkerboard(x *Node, parity int) *Node {
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	m := make([]float64, h*w)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			if (i+j+parity)%2 == 0 {
				m[i*w+j] = 1
			}
		}
	}
	return ConvertDType(Reshape(Const(x.Graph(), m), 1, h, w, 1), x.DType())
}

// st computes s and t for input y (either side of the map: the conditioning
// values are the same). For the channel mask they cover x_b only; for the
// checkerboard they cover every value and are zero on the conditioning ones.
func (c ConvCoupling) st(scope *model.Scope, y *Node) (s, t *Node) {
	scope = scope.At("net")
	if c.Mask == MaskChannel {
		a, b := splitLast(y, c.Parity)
		nb := lastDim(b)
		raw := c.net(scope, a, 2*nb)
		return MulScalar(Tanh(sliceLast(raw, 0, nb)), c.bound()), sliceLast(raw, nb, 2*nb)
	}
	d := y.Shape().Dimensions
	m := checkerboard(y, c.Parity)
	in := Concatenate([]*Node{Mul(y, m), BroadcastToDims(m, d[0], d[1], d[2], 1)}, 3)
	raw := c.net(scope, in, 2*d[3])
	free := OneMinus(m)
	s = Mul(MulScalar(Tanh(sliceLast(raw, 0, d[3])), c.bound()), free)
	t = Mul(sliceLast(raw, d[3], 2*d[3]), free)
	return s, t
}

// Forward is x_b = z_b·exp(s) + t.
func (c ConvCoupling) Forward(scope *model.Scope, z *Node) (*Node, *Node) {
	c.check(z)
	s, t := c.st(scope, z)
	if c.Mask == MaskChannel {
		a, b := splitLast(z, c.Parity)
		return joinLast(a, Add(Mul(b, Exp(s)), t), c.Parity), sumPerExample(s)
	}
	return Add(Mul(z, Exp(s)), t), sumPerExample(s)
}

// Inverse is z_b = (x_b − t)·exp(−s).
func (c ConvCoupling) Inverse(scope *model.Scope, x *Node) (*Node, *Node) {
	c.check(x)
	s, t := c.st(scope, x)
	if c.Mask == MaskChannel {
		a, b := splitLast(x, c.Parity)
		return joinLast(a, Mul(Sub(b, t), Exp(Neg(s))), c.Parity), Neg(sumPerExample(s))
	}
	return Mul(Sub(x, t), Exp(Neg(s))), Neg(sumPerExample(s))
}

// splitLast returns the conditioning part a and the transformed part b of
// x's last axis: the first ⌊C/2⌋ entries and the rest, swapped when parity
// is odd.
func splitLast(x *Node, parity int) (a, b *Node) {
	c := lastDim(x)
	k := c / 2
	lo, hi := sliceLast(x, 0, k), sliceLast(x, k, c)
	if parity%2 == 0 {
		return lo, hi
	}
	return hi, lo
}

// joinLast undoes splitLast.
func joinLast(a, b *Node, parity int) *Node {
	if parity%2 == 0 {
		return Concatenate([]*Node{a, b}, a.Rank()-1)
	}
	return Concatenate([]*Node{b, a}, a.Rank()-1)
}
