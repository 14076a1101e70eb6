package data

import (
	"math"
	"reflect"
	"testing"
)

func TestTransformApply(t *testing.T) {
	in := []float32{0, 0.2, 0.5, 128.0 / 255, 1}
	tests := []struct {
		name string
		tr   Transform
		want []float32
	}{
		{"identity", Transform{}, in},
		{"symmetric", Transform{Symmetric: true}, []float32{-1, -0.6, 0, 2*128.0/255 - 1, 1}},
		{"static", Transform{Binarize: BinarizeStatic}, []float32{0, 0, 0, 1, 1}},
		{"static symmetric", Transform{Binarize: BinarizeStatic, Symmetric: true}, []float32{-1, -1, -1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := append([]float32(nil), in...)
			tc.tr.Apply(x, 1)
			for i := range x {
				if math.Abs(float64(x[i]-tc.want[i])) > 1e-6 {
					t.Fatalf("Apply = %v, want %v", x, tc.want)
				}
			}
		})
	}
}

func TestDequantize(t *testing.T) {
	const n = 20000
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%256) / 255
	}
	y := append([]float32(nil), x...)
	Transform{Dequantize: true}.Apply(y, 5)
	var meanU float64
	for i := range y {
		p := float32(i % 256)
		// (p + u)/256 with u in [0, 1): the pixel's bin [p/256, (p+1)/256).
		if y[i] < p/256 || y[i] >= (p+1)/256 {
			t.Fatalf("value %d: %v outside [%v, %v)", i, y[i], p/256, (p+1)/256)
		}
		meanU += float64(y[i]*256 - p)
	}
	if meanU /= n; math.Abs(meanU-0.5) > 0.01 {
		t.Errorf("mean of u = %v, want about 0.5", meanU)
	}
	// Invert recovers the 8-bit pixel exactly.
	Transform{Dequantize: true}.Invert(y)
	if !reflect.DeepEqual(x, y) {
		t.Error("Invert(dequantized) does not give back the pixels")
	}
	// Same seed, same noise; another seed, other noise.
	a := append([]float32(nil), x[:100]...)
	b := append([]float32(nil), x[:100]...)
	c := append([]float32(nil), x[:100]...)
	Transform{Dequantize: true}.Apply(a, 9)
	Transform{Dequantize: true}.Apply(b, 9)
	Transform{Dequantize: true}.Apply(c, 10)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Error("noise is not a function of the seed")
	}
}

func TestDynamicBinarize(t *testing.T) {
	const n = 40000
	for _, p := range []float32{0, 0.3, 0.8, 1} {
		x := make([]float32, n)
		for i := range x {
			x[i] = p
		}
		Transform{Binarize: BinarizeDynamic}.Apply(x, 3)
		var sum float64
		for _, v := range x {
			if v != 0 && v != 1 {
				t.Fatalf("value %v is not binary", v)
			}
			sum += float64(v)
		}
		// Bernoulli(p): mean p, std of the mean sqrt(p(1-p)/n) <= 0.0025.
		if mean := sum / n; math.Abs(mean-float64(p)) > 0.01 {
			t.Errorf("p=%v: mean %v", p, mean)
		}
	}
}

func TestTransformInvert(t *testing.T) {
	x := []float32{-1.5, -1, 0, 1, 2}
	Transform{Symmetric: true}.Invert(x)
	if want := []float32{0, 0, 0.5, 1, 1}; !reflect.DeepEqual(x, want) {
		t.Errorf("Invert = %v, want %v", x, want)
	}
	y := []float32{-1, 0, 1}
	FromSymmetric(y)
	if want := []float32{0, 0.5, 1}; !reflect.DeepEqual(y, want) {
		t.Errorf("FromSymmetric = %v, want %v", y, want)
	}
}

func TestTransformValidateString(t *testing.T) {
	tests := []struct {
		tr   Transform
		ok   bool
		str  string
		rand bool
	}{
		{Transform{}, true, "identity", false},
		{Transform{Dequantize: true, Symmetric: true}, true, "dequantize+symmetric", true},
		{Transform{Binarize: "dynamic"}, true, "dynamic-binarize", true},
		{Transform{Binarize: "static", Symmetric: true}, true, "static-binarize+symmetric", false},
		{Transform{Binarize: "yes"}, false, "", false},
		{Transform{Binarize: "static", Dequantize: true}, false, "", true},
	}
	for _, tc := range tests {
		err := tc.tr.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.tr, err)
		}
		if tc.ok && tc.tr.String() != tc.str {
			t.Errorf("%+v: String() = %q, want %q", tc.tr, tc.tr.String(), tc.str)
		}
		if tc.ok && tc.tr.IsRandom() != tc.rand {
			t.Errorf("%+v: IsRandom() = %v", tc.tr, tc.tr.IsRandom())
		}
	}
}
