package features_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"genmod/data"
	"genmod/eval"
	"genmod/eval/features"
	"genmod/internal/safetensors"
)

// miniTest returns the first n test images of the embedded Fashion-MNIST subset.
func miniTest(t *testing.T, n int) *data.Set {
	t.Helper()
	_, test, err := data.FashionMNISTMini()
	if err != nil {
		t.Fatal(err)
	}
	return test.Head(n)
}

// The committed classifiers load from the binary, describe themselves, and
// classify real images.
func TestCommittedClassifiers(t *testing.T) {
	mini := miniTest(t, 200)
	cases := []struct {
		dataset, weights string
		minTestAcc       float64 // recorded on the full test split
		images           *data.Set
		minAcc           float64 // on images
	}{
		{"fashion-mnist", "fashion-mnist", 0.88, mini, 0.80},
		{"fashion-mnist-mini", "fashion-mnist", 0.88, mini, 0.80},
		{"mnist", "mnist", 0.98, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.dataset, func(t *testing.T) {
			clf, err := features.Load(c.dataset)
			if err != nil {
				t.Fatal(err)
			}
			in := clf.Info
			if in.Arch != features.Arch || in.Dataset != c.weights || in.Steps < 100 || in.TestN != 10000 || in.TrainN != 60000 {
				t.Errorf("Info = %+v", in)
			}
			if in.TestAccuracy < c.minTestAcc || in.FDN != 10000 || !(in.FDFloor > 0) {
				t.Errorf("recorded test accuracy %.4f (want >= %.2f), FD floor %g at n=%d", in.TestAccuracy, c.minTestAcc, in.FDFloor, in.FDN)
			}
			if c.images == nil {
				return
			}
			acc, err := clf.Accuracy(c.images.X, c.images.Y)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("accuracy on %d embedded test images %.3f (recorded on the test split %.4f)", c.images.Len(), acc, in.TestAccuracy)
			if acc < c.minAcc {
				t.Errorf("accuracy on %d embedded test images = %.3f, want >= %.2f", c.images.Len(), acc, c.minAcc)
			}
		})
	}
}

// Features are a pure function of the image: the same on every call, and
// independent of the other images in the call and of their position.
func TestFeaturesDeterministic(t *testing.T) {
	clf, err := features.Load("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	set := miniTest(t, 300) // more than one inference batch
	a, err := clf.Features(set.X, 300)
	if err != nil {
		t.Fatal(err)
	}
	b, err := clf.Features(set.X, 300)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("image %d: features differ between two calls", i)
		}
		if len(a[i]) != features.FeatureDim {
			t.Fatalf("image %d has %d features, want %d", i, len(a[i]), features.FeatureDim)
		}
	}
	// Images alone or in small groups (other positions, other companions)
	// against the same images inside the 300.
	for _, span := range [][2]int{{260, 270}, {99, 101}, {0, 1}, {150, 300}} {
		lo, hi := span[0], span[1]
		c, err := clf.Features(set.X[lo*features.Dim:hi*features.Dim], hi-lo)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c {
			if !slices.Equal(c[i], a[lo+i]) {
				t.Errorf("image %d: features differ when computed with images %d..%d", lo+i, lo, hi-1)
				break
			}
		}
	}
}

// The Fréchet distance on these features is ~0 for a set with itself, small
// between two halves of real data, and large for noise or damaged images.
func TestFrechetOnFeatures(t *testing.T) {
	clf, err := features.Load("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	set := miniTest(t, 600)
	feat := func(x []float32, n int) [][]float64 {
		f, err := clf.Features(x, n)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	n := 300
	a := feat(set.X[:n*features.Dim], n)
	b := feat(set.X[n*features.Dim:2*n*features.Dim], n)
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]float32, n*features.Dim)
	for i := range noise {
		noise[i] = rng.Float32()
	}
	// Each image shifted 6 pixels right (zeros enter on the left).
	shifted := make([]float32, n*features.Dim)
	for k := range n {
		for r := range 28 {
			copy(shifted[k*784+r*28+6:k*784+r*28+28], set.X[k*784+r*28:k*784+r*28+22])
		}
	}
	fd := func(x, y [][]float64) float64 {
		v, err := eval.FrechetFromFeatures(x, y)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	self, halves := fd(a, a), fd(a, b)
	noiseFD, shiftFD := fd(a, feat(noise, n)), fd(a, feat(shifted, n))
	t.Logf("FD: self %.3g, two real halves %.4g, shifted %.4g, uniform noise %.4g", self, halves, shiftFD, noiseFD)
	if self > 1e-6*halves {
		t.Errorf("FD(a, a) = %g, want ~0", self)
	}
	if !(halves > 0 && shiftFD > 3*halves && noiseFD > 10*halves) {
		t.Errorf("FD halves %g, shifted %g, noise %g: want halves << shifted << noise", halves, shiftFD, noiseFD)
	}
}

// Training on a few hundred images for a few steps lowers the loss, and is
// deterministic: the same options give the same weights file, bit for bit.
// The file round-trips through LoadFile.
func TestTrainSmoke(t *testing.T) {
	train, test, err := data.FashionMNISTMini()
	if err != nil {
		t.Fatal(err)
	}
	train, test = train.Head(512), test.Head(100)
	dir := t.TempDir()
	run := func(name string) ([]float64, *features.Classifier, []byte) {
		var losses []float64
		c, err := features.TrainOn("fashion-mnist-mini", train, test, features.TrainOptions{
			Steps: 16, Batch: 32, LR: 3e-3, Warmup: 2, Seed: 7,
			Progress: func(step, steps int, loss float64) { losses = append(losses, loss) },
		})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := c.Save(path); err != nil {
			t.Fatal(err)
		}
		buf, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return losses, c, buf
	}
	losses, c, file1 := run("a.safetensors")
	if len(losses) != 16 {
		t.Fatalf("got %d progress calls, want 16", len(losses))
	}
	first, last := mean(losses[:4]), mean(losses[12:])
	t.Logf("loss %.3f -> %.3f, test accuracy %.3f after 16 steps", first, last, c.Info.TestAccuracy)
	if !(last < 0.8*first) {
		t.Errorf("loss did not decrease: first steps %.4f, last steps %.4f (%v)", first, last, losses)
	}
	if c.Info.TestAccuracy <= 0.2 || c.Info.Steps != 16 || c.Info.Dataset != "fashion-mnist-mini" || c.Info.TestN != 100 || c.Info.TrainN != 512 {
		t.Errorf("Info = %+v", c.Info)
	}
	_, _, file2 := run("b.safetensors")
	if !bytes.Equal(file1, file2) {
		t.Errorf("two trainings with the same options wrote different files")
	}

	back, err := features.LoadFile(filepath.Join(dir, "a.safetensors"), "")
	if err != nil {
		t.Fatal(err)
	}
	if back.Info != c.Info {
		t.Errorf("Info after LoadFile = %+v, want %+v", back.Info, c.Info)
	}
	// A file with a weight too many or too few is refused.
	parsed, err := safetensors.Parse(file1)
	if err != nil {
		t.Fatal(err)
	}
	extra := append(slices.Clone(parsed.Tensors), safetensors.Tensor{Name: "net/extra/weights", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)})
	for _, bad := range []struct {
		name    string
		tensors []safetensors.Tensor
		want    string
	}{
		{"extra", extra, "no variable net/extra/weights"},
		{"missing", parsed.Tensors[1:], "missing from the file"},
	} {
		path := filepath.Join(dir, bad.name+".safetensors")
		if err := safetensors.Write(path, bad.tensors, parsed.Metadata); err != nil {
			t.Fatal(err)
		}
		if _, err := features.LoadFile(path, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s weight: error %v, want one saying %q", bad.name, err, bad.want)
		}
	}

	f1, _ := c.Features(test.X, test.Len())
	f2, _ := back.Features(test.X, test.Len())
	for i := range f1 {
		if !slices.Equal(f1[i], f2[i]) {
			t.Fatalf("image %d: features differ after a save and load", i)
		}
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Bad input gets an error that says what is wrong, never a panic.
func TestBadInput(t *testing.T) {
	clf, err := features.Load("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	nan := make([]float32, 2*features.Dim)
	nan[features.Dim+5] = float32(math.NaN())
	calls := []struct {
		name string
		call func() error
		want string
	}{
		{"32x32 images", func() error { _, err := clf.Features(make([]float32, 3*32*32), 3); return err }, "28x28x1"},
		{"short buffer", func() error { _, err := clf.Features(make([]float32, 100), 1); return err }, "784 values"},
		{"no images", func() error { _, err := clf.Predict(nil, 0); return err }, "at least one image"},
		{"NaN pixel", func() error { _, err := clf.Features(nan, 2); return err }, "image 1"},
		{"bad label", func() error { _, err := clf.Accuracy(make([]float32, features.Dim), []int32{10}); return err }, "label 10"},
		{"no classifier", func() error { _, err := features.Load("moons"); return err }, "no feature classifier for dataset \"moons\""},
		{"not a classifier", func() error {
			_, err := features.Parse(safetensorsFile(t, map[string]string{"format": "pt"}), "")
			return err
		}, "not a genmod feature classifier"},
		{"other architecture", func() error {
			_, err := features.Parse(safetensorsFile(t, map[string]string{"genmod.features.arch": "resnet", "genmod.features.dataset": "mnist"}), "")
			return err
		}, "retrain"},
		{"vectors", func() error {
			tr, te, err := data.Load("moons", data.LoadOptions{N: 100})
			if err != nil {
				t.Fatal(err)
			}
			_, err = features.TrainOn("moons", tr, te, features.TrainOptions{Steps: 1})
			return err
		}, "28x28x1 images"},
	}
	for _, c := range calls {
		err := c.call()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func safetensorsFile(t *testing.T, meta map[string]string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := safetensors.Write(path, []safetensors.Tensor{{Name: "net/w", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}}, meta); err != nil {
		t.Fatal(err)
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return buf
}
