// Package diffusion is genmod's diffusion family in the generalized frame of
// seed 002 ("Generalized Diffusion"):
//
//	x_t = a(t)·x + b(t)·z,   z ~ N(0, I),   t in [0, 1] (0 = data, 1 = noise),
//	L   = ‖f_θ(x_t, y, t) − (c(t)·z + d(t)·x)‖²
//
// A model is a Path (discrete DDPM with linear or cosine β, continuous VP,
// VE, or the rectified-flow line), a Target (ε, x, v or the path's velocity)
// and a network (MLP, U-Net or DiT). Registered models:
//
//	ddpm  DDPM path (T = 1000, linear β 1e-4..0.02), ε-prediction   (Ho et al. 2020; seed 003)
//	vp    continuous VP path (β 0.1..20), ε-prediction              (Song et al. 2021)
//	ve    VE path (σ 0.01..σ_max), ε-prediction                      (Song et al. 2021)
//	rf    linear path, velocity z − x                                (rectified flow; seed 002)
//	dit   rf with a Diffusion Transformer                            (Peebles & Xie 2023; seed 002)
//
// Every model samples with every sampler of package solver that fits its
// path (DDPM ancestral, DDIM, reverse SDE, probability-flow ODE with Euler,
// Heun, RK4 or adaptive RK45), class-conditionally with classifier-free
// guidance v_cfg = (1 + w)·v_y − w·v_∅ applied to the network's prediction
// (every target is linear in it, so guiding ε, x, v or the velocity is the
// same thing).
package diffusion
