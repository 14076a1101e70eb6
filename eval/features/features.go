// Package features is genmod's image feature extractor for the sample-quality
// metrics (Fréchet distance, KID, precision/recall) and for the accuracy of
// class-conditional samples.
//
// FID uses the pool3 features of an ImageNet Inception network; those
// weights cannot be had here, and they would say little about 28x28
// grayscale digits or clothes anyway. genmod instead trains a small CNN
// classifier per dataset (the approach of several MNIST "FID" papers) and
// commits its weights: they are embedded in the binary, so Load works from
// anywhere, without the dataset being installed.
//
// The network (Arch) reads 28x28x1 images in [0, 1], built from nn blocks
// (every convolution is nn.Conv2D, the fast one on the Go backend):
//
//	space-to-depth                       28x28x1 → 14x14x4 (each 2x2 block in the channels)
//	conv3x3 32 → ReLU → conv3x3 32 → ReLU                      14x14
//	downsample 64 → ReLU → conv3x3 64 → ReLU                   7x7
//	downsample 64 → ReLU → flatten                             4x4x64 = 1024
//	Dense 128 → ReLU   (the features)  → Dense 10 (logits)
//
// Starting at 14x14 instead of convolving at 28x28 cuts the cost of a
// training step by a third (measured), with little loss: a 3x3 convolution
// of the space-to-depth input is a 6x6 stride-2 convolution of the image.
// Flattening the 4x4 map instead of average-pooling it keeps where things
// are, which Fashion-MNIST needs (shirt vs pullover vs coat): 87% test
// accuracy after one epoch against 82% with global pooling (same settings).
// 205k parameters, 0.8 MB of float32. The committed weights reach 90.4% on
// Fashion-MNIST and 99.1% on MNIST after 4 epochs.
//
// Features are the 128 post-ReLU activations that the last layer reads, as
// FID uses the activations before Inception's classifier. Distances between
// feature sets are only comparable when computed with the same weights: the
// file's metadata (Info) says which, and every result should name it.
//
// Training (Train) is deterministic: fixed initial weights from the seed, a
// fixed batch order (data.Batcher with the seed), a learning-rate schedule
// computed on the host from the step, and no concurrency outside the
// backend's own. Re-running `genmod eval train-features` with the same
// options on the same machine and backend writes the same weights, bit for
// bit; another CPU (different SIMD paths) or backend may round differently.
package features

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
	"genmod/internal/safetensors"
	"genmod/nn"
)

// Arch names the network architecture. A weights file records it, and Load
// refuses a file written for another architecture.
const Arch = "cnn28-s2d-c32-c32-d64-c64-d64-f128-f10"

// Image size and classes the classifier handles.
const (
	Height, Width, Channels = 28, 28, 1
	Dim                     = Height * Width * Channels
	NumClasses              = 10
	// FeatureDim is the length of a feature vector.
	FeatureDim = 128
)

// netScope is the scope of the network's variables; the weights file holds
// exactly the variables under it.
const netScope = "net"

// ErrNoClassifier means no usable classifier is at hand for a dataset:
// none was trained for it, or its weights are for another network.
var ErrNoClassifier = errors.New("no feature classifier")

// Metadata keys of a weights file.
const (
	metaFormat   = "format" // "pt", as genmod's checkpoints, for safetensors.torch
	metaArch     = "genmod.features.arch"
	metaDataset  = "genmod.features.dataset"
	metaTestAcc  = "genmod.features.test_accuracy"
	metaTestN    = "genmod.features.test_n"
	metaTrainN   = "genmod.features.train_n"
	metaSteps    = "genmod.features.steps"
	metaEpochs   = "genmod.features.epochs"
	metaBatch    = "genmod.features.batch"
	metaLR       = "genmod.features.lr"
	metaSeed     = "genmod.features.seed"
	metaCommit   = "genmod.features.commit"
	metaFeatures = "genmod.features.layer"
	metaFDFloor  = "genmod.features.fd_train_test"
	metaFDN      = "genmod.features.fd_n"
)

// Info describes a classifier: what it was trained on and how well it does.
type Info struct {
	Arch         string
	Dataset      string  // the dataset it was trained on
	TestAccuracy float64 // on the whole test split, measured after training
	TestN        int
	TrainN       int // training examples
	Steps        int // optimizer steps
	Epochs       int
	Batch        int
	LR           float64
	Seed         int64
	Commit       string // genmod's VCS revision when known ("" otherwise)
	// FDFloor, when FDN > 0, is the Fréchet distance between the features
	// of FDN test images and FDN training images: the score of a perfect
	// model at that n (set by genmod eval train-features).
	FDFloor float64
	FDN     int
}

// Classifier is a trained feature network. It is safe for concurrent use
// (calls are serialized).
type Classifier struct {
	Info    Info
	backend compute.Backend
	store   *model.Store

	mu   sync.Mutex
	exec *model.Exec // [inferBatch,28,28,1] -> features, logits
}

// inferBatch is the batch size of inference. Every call runs full batches
// (the last one padded with zeros): the backend's matmul rounds differently
// for different batch sizes, and with one fixed size an image's features
// do not depend on the other images in the call or on its position
// (TestFeaturesDeterministic checks both).
const inferBatch = 100

// network computes the features and logits of x [B,28,28,1] in [0, 1].
func network(scope *model.Scope, x *Node) (feat, logits *Node) {
	relu := nn.ReLU.Apply
	h := MulScalar(AddScalar(x, -0.5), 2) // [0,1] -> [-1,1]
	h = nn.SpaceToDepth(h)                // 14x14x4: every 2x2 pixel block in the channels
	h = relu(nn.Conv2D(scope.In("conv1"), h, 32, 3))
	h = relu(nn.Conv2D(scope.In("conv2"), h, 32, 3))
	h = relu(nn.Downsample(scope.In("down1"), h, 64)) // 7x7
	h = relu(nn.Conv2D(scope.In("conv3"), h, 64, 3))
	h = relu(nn.Downsample(scope.In("down2"), h, 64)) // 4x4 (7 padded to 8)
	h = Reshape(h, h.Shape().Dimensions[0], -1)       // [B,1024]
	feat = relu(nn.Dense(scope.In("fc1"), h, FeatureDim))
	logits = nn.Dense(scope.In("fc2"), feat, NumClasses)
	return feat, logits
}

// WeightsDataset is the dataset whose committed classifier serves dataset:
// fashion-mnist-mini is a subset of fashion-mnist and uses its classifier.
// ok is false when genmod has no classifier for dataset.
func WeightsDataset(dataset string) (name string, ok bool) {
	if dataset == "fashion-mnist-mini" {
		dataset = "fashion-mnist"
	}
	if _, err := fs.Stat(weightsFS, weightsFile(dataset)); err != nil {
		return "", false
	}
	return dataset, true
}

// Datasets lists the datasets with a committed classifier (fashion-mnist-mini
// included, through fashion-mnist's).
func Datasets() []string {
	var out []string
	entries, _ := fs.ReadDir(weightsFS, "weights")
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".safetensors"); ok {
			out = append(out, name)
			if name == "fashion-mnist" {
				out = append(out, "fashion-mnist-mini")
			}
		}
	}
	sort.Strings(out)
	return out
}

//go:embed weights
var weightsFS embed.FS

func weightsFile(dataset string) string { return "weights/" + dataset + ".safetensors" }

// Load returns the committed classifier for dataset (fashion-mnist,
// fashion-mnist-mini or mnist), from the weights embedded in the binary. It
// runs on genmod's default backend.
func Load(dataset string) (*Classifier, error) {
	name, ok := WeightsDataset(dataset)
	if !ok {
		return nil, fmt.Errorf("%w for dataset %q (have: %s); train one with Train", ErrNoClassifier, dataset, strings.Join(Datasets(), ", "))
	}
	buf, err := weightsFS.ReadFile(weightsFile(name))
	if err != nil {
		return nil, fmt.Errorf("feature classifier for %s: %w", name, err)
	}
	c, err := Parse(buf, "")
	if err != nil {
		return nil, fmt.Errorf("feature classifier for %s (embedded %s): %w", name, weightsFile(name), err)
	}
	return c, nil
}

// LoadFile reads a classifier written by Save (or `genmod eval
// train-features --out FILE`), to run on the backend named by backendConfig
// ("" = genmod's default).
func LoadFile(path, backendConfig string) (*Classifier, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := fromFile(f, backendConfig)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a weights file held in memory (see LoadFile).
func Parse(buf []byte, backendConfig string) (*Classifier, error) {
	f, err := safetensors.Parse(buf)
	if err != nil {
		return nil, err
	}
	return fromFile(f, backendConfig)
}

func fromFile(f *safetensors.File, backendConfig string) (*Classifier, error) {
	if arch, ds := f.Metadata[metaArch], f.Metadata[metaDataset]; arch == "" || ds == "" {
		return nil, errors.New("not a genmod feature classifier (its metadata names no architecture or dataset)")
	} else if arch != Arch {
		return nil, fmt.Errorf("weights for dataset %s are for network %q, this genmod builds %q (%w): retrain them with Train", ds, arch, Arch, ErrNoClassifier)
	}
	info, err := infoFromMetadata(f.Metadata)
	if err != nil {
		return nil, err
	}
	backend, err := engine.NewBackend(backendConfig)
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	for _, t := range f.Tensors {
		if t.DType != "F32" {
			return nil, fmt.Errorf("tensor %s has dtype %s, want F32", t.Name, t.DType)
		}
		if !strings.HasPrefix(t.Name, netScope+"/") {
			return nil, fmt.Errorf("unexpected tensor %s (want only %s/...)", t.Name, netScope)
		}
		value := tensors.FromShape(shapes.Make(dtypes.Float32, t.Shape...))
		if err := value.MutableBytes(func(b []byte) { copy(b, t.Data) }); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		v, err := store.CreateVariable("/"+t.Name, value)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		v.SetTrainable(false)
	}
	// Run the network once on one image: a missing, extra or misshapen
	// weight shows here.
	n := store.NumVariables()
	check, err := model.NewExec(backend, store, func(scope *model.Scope, x *Node) *Node {
		_, l := network(scope.In(netScope), x)
		return l
	})
	if err != nil {
		return nil, err
	}
	defer check.Finalize()
	_, g, err := check.CallWithGraph(tensors.FromShape(shapes.Make(dtypes.Float32, 1, Height, Width, Channels)))
	if err != nil {
		return nil, fmt.Errorf("weights do not fit the network: %w", err)
	}
	if store.NumVariables() != n {
		return nil, fmt.Errorf("weights do not fit the network: %d of its variables are missing from the file", store.NumVariables()-n)
	}
	for v := range store.IterVariables() {
		if !v.InUseByGraph(g) {
			return nil, fmt.Errorf("weights do not fit the network: it has no variable %s", strings.TrimPrefix(v.Path(), "/"))
		}
	}
	return &Classifier{Info: info, backend: backend, store: store}, nil
}

// Metadata is the safetensors metadata Save writes for info.
func (info Info) Metadata() map[string]string {
	m := map[string]string{
		metaFormat:   "pt",
		metaArch:     info.Arch,
		metaDataset:  info.Dataset,
		metaTestAcc:  strconv.FormatFloat(info.TestAccuracy, 'f', 6, 64),
		metaTestN:    strconv.Itoa(info.TestN),
		metaTrainN:   strconv.Itoa(info.TrainN),
		metaSteps:    strconv.Itoa(info.Steps),
		metaEpochs:   strconv.Itoa(info.Epochs),
		metaBatch:    strconv.Itoa(info.Batch),
		metaLR:       strconv.FormatFloat(info.LR, 'g', -1, 64),
		metaSeed:     strconv.FormatInt(info.Seed, 10),
		metaFeatures: fmt.Sprintf("%s/fc1 after ReLU (%d values)", netScope, FeatureDim),
	}
	if info.Commit != "" {
		m[metaCommit] = info.Commit
	}
	if info.FDN > 0 {
		m[metaFDFloor] = strconv.FormatFloat(info.FDFloor, 'g', 6, 64)
		m[metaFDN] = strconv.Itoa(info.FDN)
	}
	return m
}

func infoFromMetadata(m map[string]string) (Info, error) {
	info := Info{Arch: m[metaArch], Dataset: m[metaDataset], Commit: m[metaCommit]}
	var err error
	parse := func(key string, f func(string) error) {
		if err == nil {
			if e := f(m[key]); e != nil {
				err = fmt.Errorf("bad metadata %s=%q: %w", key, m[key], e)
			}
		}
	}
	atoi := func(dst *int) func(string) error {
		return func(s string) (e error) { *dst, e = strconv.Atoi(s); return }
	}
	parse(metaTestAcc, func(s string) (e error) { info.TestAccuracy, e = strconv.ParseFloat(s, 64); return })
	parse(metaLR, func(s string) (e error) { info.LR, e = strconv.ParseFloat(s, 64); return })
	parse(metaSeed, func(s string) (e error) { info.Seed, e = strconv.ParseInt(s, 10, 64); return })
	parse(metaTestN, atoi(&info.TestN))
	parse(metaTrainN, atoi(&info.TrainN))
	parse(metaSteps, atoi(&info.Steps))
	parse(metaEpochs, atoi(&info.Epochs))
	parse(metaBatch, atoi(&info.Batch))
	if _, ok := m[metaFDN]; ok {
		parse(metaFDN, atoi(&info.FDN))
		parse(metaFDFloor, func(s string) (e error) { info.FDFloor, e = strconv.ParseFloat(s, 64); return })
	}
	return info, err
}

// Save writes the classifier's weights and Info to path as safetensors,
// atomically. The file is byte-deterministic: the same weights and Info give
// the same bytes.
func (c *Classifier) Save(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, err := netTensors(c.store, false)
	if err != nil {
		return err
	}
	return safetensors.Write(path, ts, c.Info.Metadata())
}

// netTensors copies the network's weights out of store: the variables under
// /net, only the trainable ones when training (the optimizer keeps its step
// counter there too).
func netTensors(store *model.Store, trainableOnly bool) ([]safetensors.Tensor, error) {
	var ts []safetensors.Tensor
	for v := range store.IterVariables() {
		if !strings.HasPrefix(v.Path(), "/"+netScope+"/") || (trainableOnly && !v.Trainable) {
			continue
		}
		if v.DType() != dtypes.Float32 {
			return nil, fmt.Errorf("variable %s has dtype %s, want float32", v.Path(), v.DType())
		}
		raw, err := engine.VariableBytes(v)
		if err != nil {
			return nil, err
		}
		ts = append(ts, safetensors.Tensor{Name: strings.TrimPrefix(v.Path(), "/"), DType: "F32",
			Shape: slices.Clone(v.Shape().Dimensions), Data: raw})
	}
	if len(ts) == 0 {
		return nil, errors.New("the classifier has no weights")
	}
	return ts, nil
}

// checkImages validates x as n images of 28x28x1.
func checkImages(x []float32, n int) error {
	if n < 1 {
		return fmt.Errorf("features: need at least one image, got n=%d", n)
	}
	if len(x) != n*Dim {
		if n > 0 && len(x)%n == 0 {
			return fmt.Errorf("features: the classifier takes %dx%dx%d images (%d values each); got %d values for %d images (%d each)",
				Height, Width, Channels, Dim, len(x), n, len(x)/n)
		}
		return fmt.Errorf("features: the classifier takes %dx%dx%d images (%d values each); got %d values for %d images",
			Height, Width, Channels, Dim, len(x), n)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("features: image %d has a non-finite pixel (%v at index %d)", i/Dim, v, i%Dim)
		}
	}
	return nil
}

// run computes features [n*FeatureDim] and logits [n*NumClasses] of n images.
func (c *Classifier) run(x []float32, n int) (feat, logits []float32, err error) {
	if err := checkImages(x, n); err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exec == nil {
		c.exec, err = model.NewExec(c.backend, c.store, func(scope *model.Scope, x *Node) []*Node {
			f, l := network(scope.In(netScope), x)
			return []*Node{f, l}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	feat = make([]float32, n*FeatureDim)
	logits = make([]float32, n*NumClasses)
	bs := inferBatch
	batch := make([]float32, bs*Dim)
	for lo := 0; lo < n; lo += bs {
		k := min(bs, n-lo)
		clear(batch[copy(batch, x[lo*Dim:(lo+k)*Dim]):])
		outs, err := c.exec.Exec(tensors.FromFlatDataAndDimensions(batch, bs, Height, Width, Channels))
		if err != nil {
			return nil, nil, fmt.Errorf("features: %w", err)
		}
		f := tensors.MustCopyFlatData[float32](outs[0])
		l := tensors.MustCopyFlatData[float32](outs[1])
		copy(feat[lo*FeatureDim:], f[:k*FeatureDim])
		copy(logits[lo*NumClasses:], l[:k*NumClasses])
	}
	return feat, logits, nil
}

// Features returns the FeatureDim-long feature vector of each of the n
// images in x ([n,28,28,1] row-major, values in [0, 1]). The same images
// give the same features, bit for bit, on the same machine and backend.
func (c *Classifier) Features(x []float32, n int) ([][]float64, error) {
	f, _, err := c.run(x, n)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, n)
	for i := range out {
		row := make([]float64, FeatureDim)
		for j := range row {
			row[j] = float64(f[i*FeatureDim+j])
		}
		out[i] = row
	}
	return out, nil
}

// Predict returns the most likely class of each of the n images in x.
func (c *Classifier) Predict(x []float32, n int) ([]int32, error) {
	_, l, err := c.run(x, n)
	if err != nil {
		return nil, err
	}
	return argmaxRows(l, n), nil
}

// FeaturesAndPredict returns both from one pass over the images.
func (c *Classifier) FeaturesAndPredict(x []float32, n int) ([][]float64, []int32, error) {
	f, l, err := c.run(x, n)
	if err != nil {
		return nil, nil, err
	}
	out := make([][]float64, n)
	for i := range out {
		row := make([]float64, FeatureDim)
		for j := range row {
			row[j] = float64(f[i*FeatureDim+j])
		}
		out[i] = row
	}
	return out, argmaxRows(l, n), nil
}

func argmaxRows(l []float32, n int) []int32 {
	pred := make([]int32, n)
	for i := range pred {
		row := l[i*NumClasses : (i+1)*NumClasses]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		pred[i] = int32(best)
	}
	return pred
}

// Accuracy is the fraction of the len(y) images in x that Predict assigns
// to their label y.
func (c *Classifier) Accuracy(x []float32, y []int32) (float64, error) {
	n := len(y)
	for i, v := range y {
		if v < 0 || v >= NumClasses {
			return 0, fmt.Errorf("features: label %d of image %d is outside 0..%d", v, i, NumClasses-1)
		}
	}
	pred, err := c.Predict(x, n)
	if err != nil {
		return 0, err
	}
	return accuracy(pred, y), nil
}

func accuracy(pred, y []int32) float64 {
	hit := 0
	for i := range y {
		if pred[i] == y[i] {
			hit++
		}
	}
	return float64(hit) / float64(len(y))
}
