package gan

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
)

// The objectives of seed 000, written on the discriminator's logit l(x),
// D(x) = σ(l(x)). With log σ(l) = −softplus(−l) and log(1 − σ(l)) =
// −softplus(l), every log D and log(1 − D) below is a Softplus, finite
// for any logit (log of a sigmoid that rounds to 0 or 1 never appears).

// LogD is log D(x) = log σ(l) = −softplus(−l), elementwise.
func LogD(logit *Node) *Node { return Neg(Softplus(Neg(logit))) }

// Log1mD is log(1 − D(x)) = log(1 − σ(l)) = −softplus(l), elementwise.
func Log1mD(logit *Node) *Node { return Neg(Softplus(logit)) }

// Value is the minimax game's value estimated on a batch,
//
//	V(D, G) = E_x~p_data[log D(x)] + E_z~p_z[log(1 − D(G(z)))],
//
// from the logits of real examples and of fakes (each [B]).
func Value(realLogit, fakeLogit *Node) *Node {
	return Add(ReduceAllMean(LogD(realLogit)), ReduceAllMean(Log1mD(fakeLogit)))
}

// DiscriminatorLoss is −V(D, G): D ascends V by descending this, the binary
// cross-entropy with real examples labelled 1 and fakes 0.
func DiscriminatorLoss(realLogit, fakeLogit *Node) *Node { return Neg(Value(realLogit, fakeLogit)) }

// GeneratorLoss is what G descends, from the logits of its fakes:
// Minimax: E[log(1 − D(G(z)))] (the game's value; its gradient vanishes
// as D(G(z)) → 0); NonSaturating: −E[log D(G(z))].
func GeneratorLoss(fakeLogit *Node, kind string) *Node {
	switch kind {
	case Minimax:
		return ReduceAllMean(Log1mD(fakeLogit))
	case NonSaturating:
		return Neg(ReduceAllMean(LogD(fakeLogit)))
	}
	panic(fmt.Sprintf("gan: unknown generator loss %q", kind))
}

// W1Estimate is the critic's estimate of the Wasserstein-1 distance by the
// Kantorovich–Rubinstein duality, W1 = sup_{‖f‖_L ≤ 1} E_p_data[f] − E_p_g[f]:
// mean f(x) − mean f(G(z)). The critic ascends it; the generator descends
// −mean f(G(z)).
func W1Estimate(realScore, fakeScore *Node) *Node {
	return Sub(ReduceAllMean(realScore), ReduceAllMean(fakeScore))
}

// Interpolates returns x̂ = ε·x + (1 − ε)·fake with one ε per example (eps
// [B], broadcast over the example's other axes), WGAN-GP's points between
// the data and the generator's distribution.
func Interpolates(real, fake, eps *Node) *Node {
	if !real.Shape().Equal(fake.Shape()) {
		panic(fmt.Sprintf("gan: real %s and fake %s differ in shape", real.Shape(), fake.Shape()))
	}
	b := real.Shape().Dimensions[0]
	if eps.Rank() != 1 || eps.Shape().Dimensions[0] != b {
		panic(fmt.Sprintf("gan: eps must be [%d] (one per example), got %s", b, eps.Shape()))
	}
	dims := make([]int, real.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = b
	e := Reshape(eps, dims...)
	return Add(fake, Mul(e, Sub(real, fake)))
}

// GradientNorms are the per-example norms ‖∇_x̂ f(x̂)‖₂ [B] of a critic f
// (which maps a batch [B, ...] to scores [B], each example's score
// depending on that example only): the gradient of Σ_b f(x̂_b) is the
// stack of every example's own gradient, and each norm runs over all of
// that example's axes (every pixel and channel), never over the batch.
// Differentiable again (the penalty trains the critic through it).
func GradientNorms(critic func(x *Node) *Node, xhat *Node) *Node {
	score := critic(xhat)
	if score.Rank() != 1 || score.Shape().Dimensions[0] != xhat.Shape().Dimensions[0] {
		panic(fmt.Sprintf("gan: the critic must give one score per example [B], got %s for x %s", score.Shape(), xhat.Shape()))
	}
	grad := Gradient(ReduceAllSum(score), xhat)[0]
	b := xhat.Shape().Dimensions[0]
	sq := ReduceSum(Reshape(Square(grad), b, -1), -1)
	// The small constant keeps the square root differentiable at a zero
	// gradient (1e-12 under the root: negligible next to the target 1).
	return Sqrt(AddScalar(sq, 1e-12))
}

// GradientPenalty is WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3),
//
//	E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²],  x̂ = ε·x + (1 − ε)·G(z),  ε ~ U[0, 1] per example,
//
// averaged over the batch, for the given ε [B]. It also returns the
// per-example gradient norms [B].
func GradientPenalty(critic func(x *Node) *Node, real, fake, eps *Node) (penalty, norms *Node) {
	norms = GradientNorms(critic, Interpolates(real, fake, eps))
	return ReduceAllMean(Square(AddScalar(norms, -1))), norms
}

// leakyReLU is max(x, 0.2·x), the discriminators' activation (DCGAN).
func leakyReLU(x *Node) *Node { return Max(x, MulScalar(x, 0.2)) }

// relu is max(x, 0), the generators' activation (DCGAN).
func relu(x *Node) *Node { return Max(x, ZerosLike(x)) }
