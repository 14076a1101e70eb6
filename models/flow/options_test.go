package flow

import (
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

// paramCount builds m's variables (one log p pass over a batch of 2) and
// counts the values of its trainable variables.
func paramCount(t *testing.T, m *Model) int {
	t.Helper()
	store := seededStore(1)
	x := randRows(2, m.info.Dim(), 5, 0.5)
	if _, err := model.ExecOnce(testBackend(t), store, func(scope *model.Scope, x *Node) *Node {
		return m.LogProbGraph(scope, x)
	}, tensors.FromFlatDataAndDimensions(x, 2, m.info.Dim())); err != nil {
		t.Fatal(err)
	}
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable && strings.HasPrefix(v.Path(), "/flow/") {
			n += v.Shape().Size()
		}
	}
	return n
}

// dense is the size of a dense layer in→out with biases.
func dense(in, out int) int { return in*out + out }

// conv is the size of a k×k convolution in→out with biases.
func conv(k, in, out int) int { return k*k*in*out + out }

// convNet is ConvCoupling's conditioner: 3x3 in→w, 1x1 w→w, 3x3 w→out.
func convNet(in, w, out int) int { return conv(3, in, w) + conv(1, w, w) + conv(3, w, out) }

// --layers sets the number of layers of every vector flow, and the default
// (0) is the documented one: the trainable parameter count equals the
// architecture's count on D = 2 with one hidden layer of 5.
func TestLayersOptionVectors(t *testing.T) {
	const h = 5
	perLayer := map[string]struct{ per, fixed, def int }{
		// couplings 1→h→1 shift, then the Scaling layer's s [2]
		"nice": {dense(1, h) + dense(h, 1), 2, DefaultCouplings},
		// couplings 1→h→2 (s and t)
		"realnvp": {dense(1, h) + dense(h, 2), 0, DefaultCouplings},
		// ActNorm bias, logs [2]; LU lower, upper [2,2] and log_s [2]; coupling
		"glow": {4 + 4 + 4 + 2 + dense(1, h) + dense(h, 2), 0, DefaultGlowSteps},
		// MADE 2→h→4 (μ and α per dimension; masks do not change the size)
		"maf": {dense(2, h) + dense(h, 4), 0, DefaultMAFLayers},
		// w, u [2] and b; then one ActNorm [2]+[2]
		"planar": {5, 4, DefaultPlanar},
		// z₀ [2], α, β; then one ActNorm
		"radial": {4, 4, DefaultPlanar},
	}
	info := models.DataInfo{Shape: []int{2}}
	for kind, want := range perLayer {
		for _, layers := range []int{0, 1, 3} {
			m, err := New(kind, Options{Hidden: []int{h}, Layers: layers}, info)
			if err != nil {
				t.Fatalf("%s layers %d: %v", kind, layers, err)
			}
			n := layers
			if n == 0 {
				n = want.def
			}
			if got, w := paramCount(t, m), n*want.per+want.fixed; got != w {
				t.Errorf("%s layers %d: %d parameters, want %d·%d + %d = %d", kind, layers, got, n, want.per, want.fixed, w)
			}
		}
	}
}

// glowImageParams is GlowImage's size on an H×W×1 image with conv width w:
// level i squeezes to c = 4·2^i channels (after the splits before it) and
// runs k steps of ActNorm (2c), LU 1x1 conv (2c² + c) and a channel
// coupling (c/2 → w → w → c).
func glowImageParams(levels, k, w int) int {
	n := 0
	for i := range levels {
		c := 4 << i
		n += k * (2*c + 2*c*c + c + convNet(c/2, w, c))
	}
	return n
}

// realnvpImageParams is RealNVPImage's size on an H×W×1 image: level i has
// c = 2^i channels; k checkerboard couplings (c + mask channel → w → w →
// 2c), a squeeze, k channel couplings (2c → w → w → 4c); the last level
// has k+1 checkerboard couplings.
func realnvpImageParams(levels, k, w int) int {
	n := 0
	for i := range levels {
		c := 1 << i
		cb := convNet(c+1, w, 2*c)
		if i == levels-1 {
			n += (k + 1) * cb
			break
		}
		n += k*cb + k*convNet(2*c, w, 4*c)
	}
	return n
}

// --levels and --layers set the image flows' multi-scale levels and steps
// per level; 0 keeps the defaults (2 levels; glow 4 steps, realnvp 3).
func TestLevelsAndLayersOptionImages(t *testing.T) {
	const w = 4
	info := models.DataInfo{Shape: []int{8, 8, 1}}
	for _, tc := range []struct {
		kind           string
		levels, layers int
		wantL, wantK   int
	}{
		{"glow", 0, 0, DefaultLevels, DefaultGlowImage.Steps},
		{"glow", 1, 2, 1, 2},
		{"glow", 3, 1, 3, 1},
		{"realnvp", 0, 0, DefaultLevels, DefaultRealNVPImage.Steps},
		{"realnvp", 1, 1, 1, 1},
		{"realnvp", 3, 2, 3, 2},
	} {
		m, err := New(tc.kind, Options{Channels: []int{w}, Levels: tc.levels, Layers: tc.layers}, info)
		if err != nil {
			t.Fatalf("%s levels %d layers %d: %v", tc.kind, tc.levels, tc.layers, err)
		}
		if got := len(m.MultiScale().Levels); got != tc.wantL {
			t.Errorf("%s levels %d: built %d levels, want %d", tc.kind, tc.levels, got, tc.wantL)
		}
		want := glowImageParams(tc.wantL, tc.wantK, w)
		if tc.kind == "realnvp" {
			want = realnvpImageParams(tc.wantL, tc.wantK, w)
		}
		if got := paramCount(t, m); got != want {
			t.Errorf("%s levels %d layers %d: %d parameters, want %d", tc.kind, tc.levels, tc.layers, got, want)
		}
	}
}

// Bad values of --levels and --layers are refused with a message naming
// the option.
func TestLevelsAndLayersBadValues(t *testing.T) {
	img, vec := models.DataInfo{Shape: []int{8, 8, 1}}, models.DataInfo{Shape: []int{2}}
	for _, tc := range []struct {
		kind string
		o    Options
		info models.DataInfo
		want string
	}{
		{"realnvp", Options{Layers: -1}, vec, "layers must be >= 1"},
		{"glow", Options{Layers: -3}, img, "layers must be >= 1"},
		{"glow", Options{Levels: -1}, img, "levels must be >= 1"},
		{"glow", Options{Levels: 4}, img, "squeezes the 8x8 image 4 times"},
		{"realnvp", Options{Levels: 5}, img, "squeezes the 8x8 image 4 times"},
		{"maf", Options{Levels: 2}, vec, "levels (multi-scale levels) apply to image flows"},
		{"nice", Options{Levels: 1}, vec, "levels (multi-scale levels) apply to image flows"},
	} {
		_, err := New(tc.kind, tc.o, tc.info)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v on %v: err = %v, want it to mention %q", tc.kind, tc.o, tc.info.Shape, err, tc.want)
		}
	}
}
