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
				for c, k := range counts {
					if math.Abs(float64(k)-n/float64(len(counts))) > 0.1*n/float64(len(counts)) {
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
