package data

import (
	"math"
	"math/bits"
)

// This file holds genmod's own small random number generator. The data layer
// promises "same seed, same numbers" across Go releases, so it does not lean on
// math/rand, whose derived methods (Shuffle, NormFloat64, ...) may change.
// splitmix64 passes BigCrush and is plenty for shuffling and pixel noise.

const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 finalizer: a bijective, well-mixing hash of x.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// streamKey derives an independent stream key from a seed and any number of
// coordinates (a domain tag, an epoch, a position, ...).
func streamKey(seed int64, coords ...uint64) uint64 {
	h := mix64(uint64(seed) + golden)
	for _, c := range coords {
		h = mix64(h ^ mix64(c+golden))
	}
	return h
}

// Domain tags keep the streams used for different purposes apart.
const (
	tagPerm uint64 = iota + 1
	tagNoise
	tagSplit
	tagToyTrain
	tagToyTest
)

// rng is a splitmix64 generator.
type rng struct{ s uint64 }

func newRNG(key uint64) *rng { return &rng{s: key} }

func (r *rng) uint64() uint64 {
	r.s += golden
	return mix64(r.s)
}

// float64 returns a uniform value in [0, 1) with 53 random bits.
func (r *rng) float64() float64 { return float64(r.uint64()>>11) / (1 << 53) }

// float32 returns a uniform value in [0, 1) with 24 random bits.
func (r *rng) float32() float32 { return float32(r.uint64()>>40) / (1 << 24) }

// intn returns a uniform value in [0, n) for n > 0 (Lemire's method, unbiased).
func (r *rng) intn(n int) int {
	bound := uint64(n)
	for {
		hi, lo := bits.Mul64(r.uint64(), bound)
		if lo >= bound || lo >= -bound%bound {
			return int(hi)
		}
	}
}

// norm returns a standard normal value (Box-Muller; one value per call so the
// stream position does not depend on hidden state).
func (r *rng) norm() float64 {
	u1 := 1 - r.float64() // (0, 1]
	u2 := r.float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// perm returns a uniformly random permutation of [0, n) (Fisher-Yates).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
