package data

import (
	"fmt"
	"math"
)

// 2D toy data sets, following the definitions of FFJORD's toy data
// (lib/toy_data.py, also used by TorchCFM), with sklearn's make_moons,
// make_circles and make_swiss_roll written out. Every set is generated from
// its own seeded stream, then shuffled; labels mark the natural component
// (moon, ring, mode, arm, spiral) where there is one.

// Default toy sizes.
const (
	ToyTrainSize = 20000
	ToyTestSize  = 5000
)

type toy struct {
	desc    string
	classes []string
	gen     func(r *rng, n int) (x []float32, y []int32)
}

var toys = map[string]toy{
	"moons": {
		desc:    "two interleaved half circles (sklearn make_moons, noise 0.1, then 2x + (-1, -0.2) as FFJORD): x in about [-3, 3], y in [-1.5, 2]",
		classes: []string{"upper", "lower"},
		gen:     genMoons,
	},
	"circles": {
		desc:    "two concentric rings (sklearn make_circles, factor 0.5, noise 0.08, then 3x as FFJORD): radii 3 and 1.5",
		classes: []string{"outer", "inner"},
		gen:     genCircles,
	},
	"8gaussians": {
		desc:    "8 Gaussians on a circle (FFJORD): centres at radius 4/1.414 = 2.83, std 0.5/1.414 = 0.354",
		classes: []string{"E", "W", "N", "S", "NE", "SE", "NW", "SW"},
		gen:     gen8Gaussians,
	},
	"swissroll": {
		desc: "2D swiss roll (sklearn make_swiss_roll, noise 1, columns x and z, divided by 5 as FFJORD): radius up to about 2.9",
		gen:  genSwissRoll,
	},
	"checkerboard": {
		desc: "checkerboard of 8 uniform squares (FFJORD): [-4, 4]^2, squares of side 2",
		gen:  genCheckerboard,
	},
	"pinwheel": {
		desc:    "pinwheel with 5 arms (FFJORD: radial std 0.3, tangential std 0.1, rate 0.25, scaled by 2): radius up to about 4",
		classes: []string{"arm0", "arm1", "arm2", "arm3", "arm4"},
		gen:     genPinwheel,
	},
	"2spirals": {
		desc:    "two interleaved spirals (FFJORD, 1.5 turns, noise 0.1): radius up to about 3.3",
		classes: []string{"spiral0", "spiral1"},
		gen:     genTwoSpirals,
	},
	"ring8": {
		desc:    "8 tight Gaussians on a circle (VEEGAN / Unrolled GAN mode-coverage benchmark): centres at radius 2, std 0.02, mode index as label",
		classes: ringModeNames(),
		gen:     genRing8,
	},
	"grid25": {
		desc:    "25 tight Gaussians on a 5x5 grid (VEEGAN / PacGAN mode-coverage benchmark): centres {-4,-2,0,2,4}^2, std 0.05, mode index as label",
		classes: gridModeNames(),
		gen:     genGrid25,
	},
}

// Toy generates n points of the named 2D toy set from seed. The same (name,
// n, seed) always gives the same set. The set is labeled when the toy has
// natural components (see Describe).
func Toy(name string, n int, seed int64) (*Set, error) {
	return toySet(name, n, seed, tagToyTrain)
}

func toySet(name string, n int, seed int64, tag uint64) (*Set, error) {
	t, ok := toys[name]
	if !ok {
		return nil, fmt.Errorf("unknown toy data set %q", name)
	}
	if n <= 0 {
		return nil, fmt.Errorf("toy data set %s: size %d must be positive", name, n)
	}
	r := newRNG(streamKey(seed, tag))
	x, y := t.gen(r, n)
	// Shuffle so that any prefix is a fair sample.
	p := r.perm(n)
	s := &Set{Name: name, Shape: []int{2}, X: make([]float32, 2*n)}
	for i, j := range p {
		s.X[2*i], s.X[2*i+1] = x[2*j], x[2*j+1]
	}
	if t.classes != nil {
		s.Y = make([]int32, n)
		for i, j := range p {
			s.Y[i] = y[j]
		}
		s.ClassNames = t.classes
	}
	return s, nil
}

// linspace returns n evenly spaced values from a to b (b included unless
// endpoint is false), like numpy.linspace.
func linspace(a, b float64, n int, endpoint bool) []float64 {
	out := make([]float64, n)
	div := float64(n)
	if endpoint {
		div = float64(n - 1)
	}
	for i := range out {
		if div > 0 {
			out[i] = a + (b-a)*float64(i)/div
		} else {
			out[i] = a
		}
	}
	return out
}

// genMoons: sklearn make_moons(n, noise=0.1), then 2x + (-1, -0.2).
func genMoons(r *rng, n int) ([]float32, []int32) {
	nOut := n / 2
	nIn := n - nOut
	x := make([]float32, 0, 2*n)
	y := make([]int32, 0, n)
	for _, t := range linspace(0, math.Pi, nOut, true) {
		x = append(x, float32(math.Cos(t)), float32(math.Sin(t)))
		y = append(y, 0)
	}
	for _, t := range linspace(0, math.Pi, nIn, true) {
		x = append(x, float32(1-math.Cos(t)), float32(1-math.Sin(t)-0.5))
		y = append(y, 1)
	}
	for i := 0; i < n; i++ {
		x[2*i] = float32((float64(x[2*i])+0.1*r.norm())*2 - 1)
		x[2*i+1] = float32((float64(x[2*i+1])+0.1*r.norm())*2 - 0.2)
	}
	return x, y
}

// genCircles: sklearn make_circles(n, factor=0.5, noise=0.08), then 3x.
func genCircles(r *rng, n int) ([]float32, []int32) {
	nOut := n / 2
	nIn := n - nOut
	x := make([]float32, 0, 2*n)
	y := make([]int32, 0, n)
	for _, t := range linspace(0, 2*math.Pi, nOut, false) {
		x = append(x, float32(math.Cos(t)), float32(math.Sin(t)))
		y = append(y, 0)
	}
	for _, t := range linspace(0, 2*math.Pi, nIn, false) {
		x = append(x, float32(0.5*math.Cos(t)), float32(0.5*math.Sin(t)))
		y = append(y, 1)
	}
	for i := range x {
		x[i] = float32((float64(x[i]) + 0.08*r.norm()) * 3)
	}
	return x, y
}

// gen8Gaussians: a mode chosen uniformly among 8 unit directions scaled by
// 4, plus N(0, 0.5^2) noise, all divided by 1.414.
func gen8Gaussians(r *rng, n int) ([]float32, []int32) {
	s := 1 / math.Sqrt2
	centers := [8][2]float64{{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {s, s}, {s, -s}, {-s, s}, {-s, -s}}
	x := make([]float32, 2*n)
	y := make([]int32, n)
	for i := 0; i < n; i++ {
		px, py := r.norm()*0.5, r.norm()*0.5
		k := r.intn(8)
		x[2*i] = float32((px + 4*centers[k][0]) / 1.414)
		x[2*i+1] = float32((py + 4*centers[k][1]) / 1.414)
		y[i] = int32(k)
	}
	return x, y
}

// genSwissRoll: sklearn make_swiss_roll(n, noise=1) keeping x and z, / 5.
func genSwissRoll(r *rng, n int) ([]float32, []int32) {
	x := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		t := 1.5 * math.Pi * (1 + 2*r.float64())
		x[2*i] = float32((t*math.Cos(t) + r.norm()) / 5)
		x[2*i+1] = float32((t*math.Sin(t) + r.norm()) / 5)
	}
	return x, nil
}

// genCheckerboard: x1 ~ U[-2, 2), x2 ~ U[0, 1) - 2*Bernoulli(0.5) shifted
// by floor(x1) mod 2, all times 2.
func genCheckerboard(r *rng, n int) ([]float32, []int32) {
	x := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		x1 := r.float64()*4 - 2
		x2 := r.float64() - float64(2*r.intn(2))
		x2 += math.Mod(math.Mod(math.Floor(x1), 2)+2, 2)
		x[2*i], x[2*i+1] = float32(2*x1), float32(2*x2)
	}
	return x, nil
}

// genPinwheel: 5 arms; radial N(1, 0.3^2), tangential N(0, 0.1^2), rotated
// by the arm's angle plus 0.25*exp(radial), times 2.
func genPinwheel(r *rng, n int) ([]float32, []int32) {
	const arms = 5
	x := make([]float32, 2*n)
	y := make([]int32, n)
	for i := 0; i < n; i++ {
		k := i * arms / n
		f0 := r.norm()*0.3 + 1
		f1 := r.norm() * 0.1
		a := 2*math.Pi*float64(k)/arms + 0.25*math.Exp(f0)
		c, s := math.Cos(a), math.Sin(a)
		x[2*i] = float32(2 * (f0*c + f1*s))
		x[2*i+1] = float32(2 * (-f0*s + f1*c))
		y[i] = int32(k)
	}
	return x, y
}

// genTwoSpirals: t = sqrt(u) * 3*pi (540 degrees); one spiral is
// (-t cos t + 0.5 u1, t sin t + 0.5 u2), the other its negation; all / 3,
// plus N(0, 0.1^2) noise.
func genTwoSpirals(r *rng, n int) ([]float32, []int32) {
	x := make([]float32, 2*n)
	y := make([]int32, n)
	for i := 0; i < n; i++ {
		t := math.Sqrt(r.float64()) * 540 * (2 * math.Pi) / 360
		dx := -math.Cos(t)*t + r.float64()*0.5
		dy := math.Sin(t)*t + r.float64()*0.5
		sign := 1.0
		if i >= (n+1)/2 {
			sign, y[i] = -1, 1
		}
		x[2*i] = float32(sign*dx/3 + r.norm()*0.1)
		x[2*i+1] = float32(sign*dy/3 + r.norm()*0.1)
	}
	return x, y
}

// Mode-coverage benchmarks of the GAN literature. Both are equal-weight
// mixtures of isotropic Gaussians whose modes are far apart compared with
// their width, so a generator that drops a mode is easy to see; a sample
// counts as "high quality" when it lies within 3σ of a centre.
//
//   - ring8: Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using
//     Implicit Variational Learning" (NeurIPS 2017), Sec. 5.1, after Metz et
//     al.'s Unrolled GAN: 8 Gaussians with centres (2 cos 2πk/8, 2 sin 2πk/8),
//     k = 0..7, std 0.02.
//   - grid25: the same paper's 5x5 grid, also PacGAN's (Lin et al. 2018,
//     Sec. 5.1: means (-4+2i, -4+2j), variance 0.0025): centres
//     {-4,-2,0,2,4}^2, std 0.05.
//
// The label of a point is the index of its mode (RingCenters and
// GridCenters give the centres in label order).
const (
	Ring8Radius = 2.0
	Ring8Std    = 0.02
	Grid25Step  = 2.0
	Grid25Std   = 0.05
)

// RingCenters are ring8's 8 mode centres, in label order: mode k at angle 2πk/8.
func RingCenters() [][2]float64 {
	c := make([][2]float64, 8)
	for k := range c {
		a := 2 * math.Pi * float64(k) / 8
		c[k] = [2]float64{Ring8Radius * math.Cos(a), Ring8Radius * math.Sin(a)}
	}
	return c
}

// GridCenters are grid25's 25 mode centres, in label order: mode 5i+j at
// (-4+2i, -4+2j).
func GridCenters() [][2]float64 {
	c := make([][2]float64, 0, 25)
	for i := 0; i < 5; i++ {
		for j := 0; j < 5; j++ {
			c = append(c, [2]float64{-4 + Grid25Step*float64(i), -4 + Grid25Step*float64(j)})
		}
	}
	return c
}

func ringModeNames() []string {
	n := make([]string, 8)
	for k := range n {
		n[k] = fmt.Sprintf("mode%d", k)
	}
	return n
}

func gridModeNames() []string {
	n := make([]string, 0, 25)
	for _, c := range GridCenters() {
		n = append(n, fmt.Sprintf("(%g,%g)", c[0], c[1]))
	}
	return n
}

// genMixture draws n points of the equal-weight mixture of N(c_k, std²I),
// labelled with k.
func genMixture(r *rng, n int, centers [][2]float64, std float64) ([]float32, []int32) {
	x := make([]float32, 2*n)
	y := make([]int32, n)
	for i := 0; i < n; i++ {
		k := r.intn(len(centers))
		x[2*i] = float32(centers[k][0] + std*r.norm())
		x[2*i+1] = float32(centers[k][1] + std*r.norm())
		y[i] = int32(k)
	}
	return x, y
}

func genRing8(r *rng, n int) ([]float32, []int32) {
	return genMixture(r, n, RingCenters(), Ring8Std)
}

func genGrid25(r *rng, n int) ([]float32, []int32) {
	return genMixture(r, n, GridCenters(), Grid25Std)
}
