package models

import "math/rand/v2"

// Noise draws n·dim values of N(0, 1) from seed, the starting point of every
// sampler that maps noise to data: the same seed gives the same samples,
// whatever the batch size the sampler then uses.
func Noise(n, dim int, seed int64) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	out := make([]float32, n*dim)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

// PriorNoise draws the request's N·dim values of z ~ N(0, T²I) for models
// with a Gaussian prior, T from its TemperatureOptions (1 by default).
func PriorNoise(req SampleRequest, dim int) ([]float32, error) {
	o, err := As[TemperatureOptions](req.Options)
	if err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	z := Noise(req.N, dim, req.Seed)
	if t := float32(o.Scale()); t != 1 {
		for i := range z {
			z[i] *= t
		}
	}
	return z, nil
}
