package gan

import (
	"fmt"
	"math"
)

// Common are the options every GAN of this package takes. Each registered
// model declares them with its own defaults (see the Default* functions);
// the option types then add what only they have (g-loss, clip, gp).
type Common struct {
	DSteps      int     `json:"d-steps" help:"discriminator (critic) updates per generator update, k >= 1"`
	Latent      int     `json:"latent" help:"dimension of the generator's noise z (0 = 16 on vectors, 100 on images)"`
	Net         string  `json:"net" help:"networks: mlp or conv (images only; default: the model's)"`
	Hidden      []int   `json:"hidden" help:"MLP widths of the discriminator; the generator uses them reversed"`
	Channels    []int   `json:"channels" help:"conv widths of the discriminator per halving of the image (the generator mirrors them)"`
	Conditional bool    `json:"conditional" help:"condition G and D on class labels when the data has them (class embedding into G, projection D)"`
	LRD         float64 `json:"lr-d" help:"discriminator (critic) learning rate (0 = the model's; TTUR)"`
	LRG         float64 `json:"lr-g" help:"generator learning rate (0 = the model's; TTUR)"`
}

// Validate checks the values that do not depend on the data.
func (o *Common) Validate() error {
	switch {
	case o.DSteps < 1:
		return fmt.Errorf("d-steps must be >= 1 (discriminator updates per generator update), got %d", o.DSteps)
	case o.Latent < 0:
		return fmt.Errorf("latent must be >= 1 (0 = the default), got %d", o.Latent)
	case o.Net != "" && o.Net != NetMLP && o.Net != NetConv:
		return fmt.Errorf("unknown net %q (valid: %s, %s)", o.Net, NetMLP, NetConv)
	case !okRate(o.LRD) || !okRate(o.LRG):
		return fmt.Errorf("lr-d and lr-g must be >= 0 (0 = the model's default), got %g and %g", o.LRD, o.LRG)
	}
	for _, h := range append(append([]int{}, o.Hidden...), o.Channels...) {
		if h < 1 {
			return fmt.Errorf("layer widths must be >= 1, got hidden %v, channels %v", o.Hidden, o.Channels)
		}
	}
	return nil
}

func okRate(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }

// Generator losses of the original GAN (Goodfellow et al. 2014).
const (
	// Minimax: G minimizes E_z[log(1 − D(G(z)))], the value V(D, G) of the
	// two-player game. Its gradient vanishes where D rejects the fakes
	// (D(G(z)) ≈ 0), which is where training starts.
	Minimax = "minimax"
	// NonSaturating: G maximizes E_z[log D(G(z))] instead; the same fixed
	// point, strong gradients early in training.
	NonSaturating = "ns"
)

// Networks.
const (
	NetMLP  = "mlp"
	NetConv = "conv"
)

// Options are the options of gan and dcgan.
type Options struct {
	Common
	GLoss string `json:"g-loss" help:"generator loss: ns (non-saturating, −log D(G(z))) or minimax (log(1 − D(G(z))))"`
}

// Validate checks the values that do not depend on the data.
func (o *Options) Validate() error {
	if err := o.Common.Validate(); err != nil {
		return err
	}
	if o.GLoss != Minimax && o.GLoss != NonSaturating {
		return fmt.Errorf("unknown g-loss %q (valid: %s, %s)", o.GLoss, NonSaturating, Minimax)
	}
	return nil
}

// WGANOptions are the options of wgan.
type WGANOptions struct {
	Common
	Clip float64 `json:"clip" help:"weight clipping: every critic weight is clipped to [−c, c] after each update (c > 0)"`
}

// Validate checks the values that do not depend on the data.
func (o *WGANOptions) Validate() error {
	if err := o.Common.Validate(); err != nil {
		return err
	}
	if !(o.Clip > 0) || math.IsInf(o.Clip, 0) {
		return fmt.Errorf("clip must be > 0 (the critic's weights are clipped to [−c, c]), got %g", o.Clip)
	}
	return nil
}

// GPOptions are the options of wgan-gp.
type GPOptions struct {
	Common
	GP float64 `json:"gp" help:"gradient-penalty weight λ of λ·(‖∇D(x̂)‖₂ − 1)² (>= 0)"`
}

// Validate checks the values that do not depend on the data.
func (o *GPOptions) Validate() error {
	if err := o.Common.Validate(); err != nil {
		return err
	}
	if !(o.GP >= 0) || math.IsInf(o.GP, 0) {
		return fmt.Errorf("gp must be >= 0 (the gradient-penalty weight λ), got %g", o.GP)
	}
	return nil
}

// DefaultOptions are gan's defaults (dcgan: DefaultDCGANOptions).
func DefaultOptions() Options {
	return Options{Common: Common{DSteps: 1, Conditional: true}, GLoss: NonSaturating}
}

// DefaultDCGANOptions are dcgan's defaults.
func DefaultDCGANOptions() Options {
	o := DefaultOptions()
	o.Net = NetConv
	return o
}

// DefaultWGANOptions are wgan's defaults: n_critic = 5, c = 0.01 (Arjovsky
// et al. 2017, Algorithm 1).
func DefaultWGANOptions() WGANOptions {
	return WGANOptions{Common: Common{DSteps: 5, Conditional: true}, Clip: 0.01}
}

// DefaultGPOptions are wgan-gp's defaults: n_critic = 5, λ = 10 (Gulrajani
// et al. 2017, Algorithm 1).
func DefaultGPOptions() GPOptions {
	return GPOptions{Common: Common{DSteps: 5, Conditional: true}, GP: 10}
}
