package models

// LogProber is implemented by models with an exact, tractable density, such
// as normalizing flows. LogProb returns log p(x) in nats for n rows of x,
// each row being one example of the model's data dimension (len(x) must be
// n·DataInfo.Dim(), in the model's data space, i.e. after the run's data
// transform). It reads the weights of rt.Scope().
type LogProber interface {
	LogProb(rt *Runtime, x []float32, n int) ([]float64, error)
}

// Codec is implemented by models with an exact bijection between data and
// latent space (normalizing flows): Encode maps n rows of x to z, Decode
// maps z back to x. Both work on n·Dim values in the model's data space.
type Codec interface {
	Encode(rt *Runtime, x []float32, n int) ([]float32, error)
	Decode(rt *Runtime, z []float32, n int) ([]float32, error)
}
