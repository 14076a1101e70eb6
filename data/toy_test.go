package data

import (
	"math"
	"reflect"
	"testing"
)

func TestToys(t *testing.T) {
	// Rough statistics of each set (FFJORD's definitions): the mean of each
	// coordinate, the spread (root mean square radius) and a bound on |x|.
	tests := []struct {
		name    string
		meanX   float64
		meanY   float64
		rms     float64
		maxAbs  float64
		classes int
		tolMean float64
		tolRMS  float64
	}{
		// Expected values worked out from the definitions, e.g. moons:
		// E|x|^2 = (4.53 + 3.60)/2 + 4*0.1^2*2 = 4.15, rms 2.04; swissroll:
		// E[t cos t]/5 = 0.4 for t ~ U[1.5pi, 4.5pi]; 2spirals: rms 2.26.
		{"moons", 0, 0.3, 2.04, 4, 2, 0.06, 0.05},
		{"circles", 0, 0, 2.40, 4.2, 2, 0.06, 0.05},
		{"8gaussians", 0, 0, 2.87, 5, 8, 0.06, 0.05},
		{"swissroll", 0.4, 0.04, 1.98, 4.2, 0, 0.06, 0.05},
		{"checkerboard", 0, 0, 3.27, 4, 0, 0.06, 0.05},
		{"pinwheel", 0, 0, 2.10, 6, 5, 0.06, 0.05},
		{"2spirals", 0, 0, 2.26, 4.2, 2, 0.06, 0.05},
		// ring8: E|x|² = 2² + 2·0.02²; grid25: E|x|² = 2·E[c²] = 2·(16+4+0+4+16)/5 = 16.
		{"ring8", 0, 0, 2.0, 2.15, 8, 0.06, 0.01},
		{"grid25", 0, 0, 4.0, 4.3, 25, 0.06, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Toy(tc.name, 10000, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Shape, []int{2}) || s.Len() != 10000 || s.NumClasses() != tc.classes {
				t.Fatalf("shape %v len %d classes %d", s.Shape, s.Len(), s.NumClasses())
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			var mx, my, r2, maxAbs float64
			for i := 0; i < s.Len(); i++ {
				x, y := float64(s.X[2*i]), float64(s.X[2*i+1])
				mx, my, r2 = mx+x, my+y, r2+x*x+y*y
				maxAbs = max(maxAbs, math.Abs(x), math.Abs(y))
			}
			n := float64(s.Len())
			mx, my, rms := mx/n, my/n, math.Sqrt(r2/n)
			t.Logf("%s: mean (%.3f, %.3f) rms %.3f max |x| %.2f", tc.name, mx, my, rms, maxAbs)
			if math.Abs(mx-tc.meanX) > tc.tolMean || math.Abs(my-tc.meanY) > tc.tolMean {
				t.Errorf("mean (%.3f, %.3f), want (%v, %v)", mx, my, tc.meanX, tc.meanY)
			}
			if math.Abs(rms-tc.rms) > tc.tolRMS {
				t.Errorf("rms radius %.3f, want %v", rms, tc.rms)
			}
			if maxAbs > tc.maxAbs {
				t.Errorf("max |x| %.2f exceeds %v", maxAbs, tc.maxAbs)
			}
			if counts := s.ClassCounts(); counts != nil {
				// Within 10% of n/k, or 4 multinomial standard deviations
				// when that is wider (grid25: 400 expected per mode).
				per := n / float64(len(counts))
				tol := max(0.1*per, 4*math.Sqrt(per))
				for c, k := range counts {
					if math.Abs(float64(k)-per) > tol {
						t.Errorf("class %d has %d points of %d", c, k, s.Len())
					}
				}
			}
			again, _ := Toy(tc.name, 10000, 3)
			other, _ := Toy(tc.name, 10000, 4)
			if !reflect.DeepEqual(s.X, again.X) || !reflect.DeepEqual(s.Y, again.Y) {
				t.Error("same seed, different data")
			}
			if reflect.DeepEqual(s.X, other.X) {
				t.Error("another seed gave the same data")
			}
		})
	}
}

func TestToyDetails(t *testing.T) {
	// 8gaussians: every point is near its labelled centre.
	s, _ := Toy("8gaussians", 2000, 1)
	angles := []float64{0, math.Pi, math.Pi / 2, -math.Pi / 2, math.Pi / 4, -math.Pi / 4, 3 * math.Pi / 4, -3 * math.Pi / 4}
	for i := 0; i < s.Len(); i++ {
		a := angles[s.Y[i]]
		cx, cy := 4/1.414*math.Cos(a), 4/1.414*math.Sin(a)
		if d := math.Hypot(float64(s.X[2*i])-cx, float64(s.X[2*i+1])-cy); d > 6*0.354*1.5 {
			t.Fatalf("point %d is %.2f from the centre of its class %d", i, d, s.Y[i])
		}
	}
	// circles: the two rings have radii 3 and 1.5.
	c, _ := Toy("circles", 4000, 1)
	var r [2]float64
	for i := 0; i < c.Len(); i++ {
		r[c.Y[i]] += math.Hypot(float64(c.X[2*i]), float64(c.X[2*i+1])) / 2000
	}
	if math.Abs(r[0]-3) > 0.05 || math.Abs(r[1]-1.5) > 0.05 {
		t.Errorf("ring radii %v, want [3 1.5]", r)
	}
	// checkerboard: only the squares whose integer corner sum is even hold points.
	b, _ := Toy("checkerboard", 4000, 1)
	for i := 0; i < b.Len(); i++ {
		ix, iy := math.Floor(float64(b.X[2*i])/2), math.Floor(float64(b.X[2*i+1])/2)
		if int(ix+iy)%2 != 0 {
			t.Fatalf("point (%v, %v) in an empty square", b.X[2*i], b.X[2*i+1])
		}
	}
	if _, err := Toy("nope", 10, 1); err == nil {
		t.Error("unknown toy accepted")
	}
	if _, err := Toy("moons", 0, 1); err == nil {
		t.Error("size 0 accepted")
	}
}

// The mode-coverage toys are what VEEGAN / PacGAN define: equal-weight
// mixtures whose every point lies near the centre of its labelled mode
// (closer to it than to any other), with per-mode mean at the centre and
// per-axis standard deviation σ.
func TestModeToys(t *testing.T) {
	tests := []struct {
		name    string
		centers [][2]float64
		std     float64
	}{
		{"ring8", RingCenters(), Ring8Std},
		{"grid25", GridCenters(), Grid25Std},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 50000
			s, err := Toy(tc.name, n, 7)
			if err != nil {
				t.Fatal(err)
			}
			k := len(tc.centers)
			if s.NumClasses() != k || len(s.ClassNames) != k {
				t.Fatalf("%d classes (%d names), want %d", s.NumClasses(), len(s.ClassNames), k)
			}
			// Centres: distinct and far apart in units of σ (ring: 2·2·sin(π/8) = 1.53 = 77σ; grid: 2 = 40σ).
			minSep := math.Inf(1)
			for i := range tc.centers {
				for j := range i {
					minSep = min(minSep, math.Hypot(tc.centers[i][0]-tc.centers[j][0], tc.centers[i][1]-tc.centers[j][1]))
				}
			}
			if minSep < 30*tc.std {
				t.Fatalf("modes only %.3f apart for std %g", minSep, tc.std)
			}
			sum := make([][2]float64, k)
			sq := make([][2]float64, k)
			count := make([]float64, k)
			for i := 0; i < n; i++ {
				c := int(s.Y[i])
				x, y := float64(s.X[2*i]), float64(s.X[2*i+1])
				dx, dy := x-tc.centers[c][0], y-tc.centers[c][1]
				if d := math.Hypot(dx, dy); d > 6*tc.std {
					t.Fatalf("point %d is %.3f (%.1fσ) from the centre of its mode %d", i, d, d/tc.std, c)
				}
				sum[c][0], sum[c][1] = sum[c][0]+dx, sum[c][1]+dy
				sq[c][0], sq[c][1] = sq[c][0]+dx*dx, sq[c][1]+dy*dy
				count[c]++
			}
			for c := 0; c < k; c++ {
				m := count[c]
				// Multinomial counts: within 5 standard deviations of n/k.
				if sd := math.Sqrt(n / float64(k) * (1 - 1/float64(k))); math.Abs(m-n/float64(k)) > 5*sd {
					t.Errorf("mode %d has %v points, want about %v", c, m, n/k)
				}
				for a := 0; a < 2; a++ {
					mean := sum[c][a] / m
					sd := math.Sqrt(sq[c][a]/m - mean*mean)
					if math.Abs(mean) > 5*tc.std/math.Sqrt(m) {
						t.Errorf("mode %d axis %d: mean offset %.4f from the centre", c, a, mean)
					}
					if math.Abs(sd/tc.std-1) > 0.1 {
						t.Errorf("mode %d axis %d: std %.4f, want %g", c, a, sd, tc.std)
					}
				}
			}
		})
	}
}
