// Package gan is the adversarial family of seed 000: a generator G maps
// noise z ~ p_z = N(0, I) to data, and a discriminator D learns to tell its
// samples from real ones. Goodfellow et al.'s two-player game is
//
//	min_G max_D V(D, G) = E_x~p_data[log D(x)] + E_z~p_z[log(1 − D(G(z)))].
//
// For a fixed G the best discriminator is D*(x) = p_data(x)/(p_data(x) +
// p_g(x)) (Proposition 1), and at D* the game's value is C(G) = −log 4 +
// 2·JSD(p_data ‖ p_g), minimal (−log 4) exactly when p_g = p_data
// (Theorem 1). Training alternates k updates of D with one of G (the
// seed's algorithm, --d-steps k). G either descends V itself (g-loss
// minimax, whose gradient vanishes while D(G(z)) ≈ 0) or ascends
// log D(G(z)) (g-loss ns, the non-saturating loss, the default).
// D outputs a logit l, D = σ(l), and every log D = −softplus(−l),
// log(1 − D) = −softplus(l) is computed from it (see Value).
//
// The Wasserstein GANs replace the Jensen–Shannon game by the
// Kantorovich–Rubinstein dual of the earth mover's distance,
//
//	W1(p_data, p_g) = sup_{‖f‖_L ≤ 1} E_x~p_data[f(x)] − E_z[f(G(z))],
//
// with a critic f that has no sigmoid. wgan keeps f Lipschitz by clipping
// every critic weight to [−c, c] after each RMSProp update (Arjovsky et al.
// 2017, Algorithm 1: n_critic 5, c 0.01, lr 5e-5); wgan-gp adds the
// gradient penalty λ·E[(‖∇_x̂ f(x̂)‖₂ − 1)²] on x̂ = ε·x + (1 − ε)·G(z),
// ε ~ U[0, 1] drawn once per example and the norm taken over all of the
// example's values (Gulrajani et al. 2017, Algorithm 1: λ 10, Adam(1e-4,
// 0.5, 0.9), n_critic 5). Its gradient for the critic's weights is a
// second-order gradient.
//
// Registered models (genmod models lists their options):
//
//   - gan: MLP G and D (vectors, or flattened images), g-loss ns|minimax,
//     d-steps 1, Adam(β1 0.5) for both players at lr 1e-3 on vectors and
//     2e-4 (DCGAN's) on images;
//   - dcgan: Radford et al.'s conv pair scaled to the image (28x28: 7x7x128
//     → 14x14x64 → 28x28 in G, the reverse in D), same losses and Adam;
//   - wgan: the weight-clipped critic, RMSProp(5e-5), d-steps 5, clip 0.01;
//   - wgan-gp: the penalized critic, Adam(β 0.5, 0.9), d-steps 5, gp 10; lr
//     1e-4 for both players on images (the paper's), 1e-3 for the critic
//     and 2e-4 for G on vectors (the paper's rate needs far more than
//     5,000 steps there).
//
// wgan and wgan-gp use the conv pair on images and MLPs on vectors (net
// chooses). On data with labels every model is class-conditional unless
// conditional is false: G gets a class embedding next to z, D a projection
// term ⟨e_y, φ(x)⟩ (Miyato & Koyama 2018); lr-d and lr-g set the two
// learning rates apart (TTUR).
//
// Each model is a models.Stepper whose phases are [D or critic (scope
// "disc", repeated k times, each on a fresh batch), G (scope "gen")], each
// with its own optimizer and no gradient clipping. lr-d and lr-g set the
// two rates; the run's lr does not (its warm-up and schedule shape them).
// The trainer keeps both players, both optimizers and the EMA of every
// weight in its checkpoints, and samples from the EMA of G. The D phase logs d_real = mean D(x) and d_fake =
// mean D(G(z)) (probabilities); the critic phase logs w1 = mean f(x) −
// mean f(G(z)), the critic's W1 estimate, and (wgan-gp) gp, the penalty.
// A collapsing run shows as d_real → 1, d_fake → 0 and a rising G loss.
//
// Engine notes (GoMLX v0.28.2 on the pure-Go backend): BatchNorm does not
// train there, so DCGAN's generator uses GroupNorm (per example, so samples
// do not depend on their batch) and discriminators have no normalization,
// which the gradient penalty needs anyway; upsampling is nearest + 3x3
// conv (nn.Upsample) since the engine cannot train a transposed conv;
// strided convs are SpaceToDepth + a 3x3 conv.
//
// Images: G ends in tanh. The trainer feeds [−1, 1] images by default; in
// the unit pixel range G learns to stay in [0, 1] (tanh covers it) and
// Sample clips to the run's range. Models are models.Sampler (one pass
// through G, from models.Noise) and models.Conditional; they have no
// likelihood, codec or sampling options.
package gan
