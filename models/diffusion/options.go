package diffusion

import (
	"fmt"
	"math"

	"genmod/models"
)

// Options are the diffusion models' training options (models.Entry.Options).
type Options struct {
	Net          string  `json:"net" help:"network: mlp, unet or dit (default: dit for the dit model, else unet on images and mlp on vectors)"`
	Hidden       []int   `json:"hidden" help:"MLP hidden widths, e.g. 256,256,256"`
	Channels     []int   `json:"channels" help:"U-Net channels per resolution, e.g. 32,64,64"`
	TimeDim      int     `json:"time-dim" help:"width of the sinusoidal time embedding"`
	Conditional  bool    `json:"conditional" help:"condition on class labels when the data has them"`
	LabelDropout float64 `json:"label-dropout" help:"probability of training with the null class (classifier-free guidance)"`
	TSampling    string  `json:"t-sampling" help:"training time law: uniform or logit-normal"`
	Target       string  `json:"target" help:"prediction target: eps, x, v or flow (default: the model's)"`
	Schedule     string  `json:"schedule" help:"ddpm noise schedule: linear or cosine (default linear)"`
}

// DefaultOptions are the options a run starts from.
func DefaultOptions() Options {
	return Options{TimeDim: 64, Conditional: true, LabelDropout: 0.1, TSampling: "uniform"}
}

// Validate checks the values that do not depend on the data.
func (o *Options) Validate() error {
	switch {
	case o.LabelDropout < 0 || o.LabelDropout > 1 || math.IsNaN(o.LabelDropout):
		return fmt.Errorf("label-dropout must be in [0, 1], got %g", o.LabelDropout)
	case o.TimeDim != 0 && o.TimeDim < 2:
		return fmt.Errorf("time-dim must be >= 2, got %d", o.TimeDim)
	case o.TSampling != "" && o.TSampling != "uniform" && o.TSampling != "logit-normal":
		return fmt.Errorf("unknown t-sampling %q (valid: uniform, logit-normal)", o.TSampling)
	}
	for _, h := range append(append([]int{}, o.Hidden...), o.Channels...) {
		if h < 1 {
			return fmt.Errorf("layer widths must be >= 1, got hidden %v, channels %v", o.Hidden, o.Channels)
		}
	}
	return nil
}

// SampleOptions are the diffusion samplers' options (models.Entry.SampleOptions).
type SampleOptions struct {
	Steps    int     `json:"steps" help:"sampler steps (default 50; all T=1000 for the ddpm sampler on a ddpm model)"`
	Sampler  string  `json:"sampler" help:"ddpm (ancestral), ddim, sde (Euler-Maruyama), euler, heun, rk4 or ode (adaptive rk45); default: the model's"`
	Eta      float64 `json:"eta" help:"DDIM η in [0, 1]: 0 deterministic, 1 ancestral"`
	Variance string  `json:"variance" help:"ddpm sampler step variance: posterior (β̃, default) or beta"`
	NoClip   bool    `json:"no-clip" help:"images: let the ddpm/ddim samplers' clean-image prediction leave the pixel range (clipped by default, as in DDPM/DDIM)"`
	Guidance float64 `json:"cfg" help:"classifier-free guidance weight w: v = (1+w)·v_y − w·v_∅"`
	RTol     float64 `json:"rtol" help:"relative tolerance of the adaptive ode sampler (default 1e-5)"`
	ATol     float64 `json:"atol" help:"absolute tolerance of the adaptive ode sampler (default 1e-5)"`
}

// Validate checks the values that do not depend on the model.
func (o *SampleOptions) Validate() error {
	switch {
	case o.Steps < 0:
		return fmt.Errorf("steps must be >= 1 (0 = the model's default), got %d", o.Steps)
	case o.Eta < 0 || o.Eta > 1 || math.IsNaN(o.Eta):
		return fmt.Errorf("eta must be in [0, 1], got %g", o.Eta)
	case math.IsNaN(o.Guidance) || math.IsInf(o.Guidance, 0):
		return fmt.Errorf("cfg must be finite, got %g", o.Guidance)
	}
	return nil
}

// sampleOptions reads a request's options (nil: the defaults).
func sampleOptions(opts any) (SampleOptions, error) { return models.As[SampleOptions](opts) }
