package features

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"genmod/data"
	"genmod/internal/engine"
	"genmod/internal/safetensors"
)

// TrainOptions configure Train. Zero values take the defaults, which are the
// settings the committed weights were trained with.
type TrainOptions struct {
	Epochs      int     // passes over the training split (default 4)
	Steps       int     // when > 0, train exactly this many steps instead of Epochs
	Batch       int     // batch size (default 128)
	LR          float64 // peak AdamW learning rate (default 2e-3), linear warm-up then cosine to 0
	Warmup      int     // warm-up steps (default 100, capped at a tenth of the steps)
	WeightDecay float64 // decoupled weight decay (default 1e-4; < 0 for none)
	Seed        int64   // initial weights and batch order (default 1)
	// DataDir is where the full dataset lives (see data.LoadOptions).
	DataDir string
	// MaxExamples, when > 0, keeps only this many training and test
	// examples (for tests and quick tries; the committed weights use all).
	MaxExamples int
	Backend     string // GoMLX backend config ("" = genmod's default)
	// Progress, if set, is called after every step with its mean batch loss.
	Progress func(step, steps int, loss float64)
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Epochs == 0 {
		o.Epochs = 4
	}
	if o.Batch == 0 {
		o.Batch = 128
	}
	if o.LR == 0 {
		o.LR = 2e-3
	}
	if o.Warmup == 0 {
		o.Warmup = 100
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 1e-4
	}
	if o.WeightDecay < 0 {
		o.WeightDecay = 0
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Train trains a classifier on the training split of dataset (any 28x28x1
// dataset with 10 classes: fashion-mnist, mnist, fashion-mnist-mini) and
// measures its accuracy on the test split. It writes nothing; see Save.
func Train(dataset string, o TrainOptions) (*Classifier, error) {
	train, test, err := data.Load(dataset, data.LoadOptions{DataDir: o.DataDir, MaxExamples: o.MaxExamples})
	if err != nil {
		return nil, err
	}
	return TrainOn(dataset, train, test, o)
}

// TrainOn is Train on sets already loaded; dataset is the name recorded in
// the classifier's Info.
func TrainOn(dataset string, train, test *data.Set, o TrainOptions) (*Classifier, error) {
	o = o.withDefaults()
	for _, s := range []*data.Set{train, test} {
		if !slices.Equal(s.Shape, []int{Height, Width, Channels}) || s.NumClasses() != NumClasses {
			return nil, fmt.Errorf("features: %s holds examples of shape %v with %d classes; the classifier needs %dx%dx%d images with %d classes",
				dataset, s.Shape, s.NumClasses(), Height, Width, Channels, NumClasses)
		}
	}
	if o.Epochs < 0 || o.Steps < 0 || o.Batch < 0 || o.LR < 0 || o.Warmup < 0 {
		return nil, fmt.Errorf("features: negative training option in %+v", o)
	}
	backend, err := engine.NewBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	store, sc, err := trainStore(backend, train, o)
	if err != nil {
		return nil, err
	}
	ts, err := netTensors(store, true)
	if err != nil {
		return nil, err
	}
	info := Info{Arch: Arch, Dataset: dataset, TestN: test.Len(), TrainN: train.Len(), Steps: sc.steps, Epochs: sc.epochs,
		Batch: o.Batch, LR: o.LR, Seed: o.Seed, Commit: commit()}
	// The returned classifier is built from the copied weights exactly as
	// Load builds one, so the accuracy measured here is the file's.
	c, err := fromFile(&safetensors.File{Tensors: ts, Metadata: info.Metadata()}, o.Backend)
	if err != nil {
		return nil, err
	}
	if c.Info.TestAccuracy, err = c.Accuracy(test.X, test.Y); err != nil {
		return nil, err
	}
	return c, nil
}

// schedule is the length of a training run and its learning rate.
type schedule struct {
	steps, epochs, warmup int
	peak                  float64
}

// lr is the learning rate of step i (1-based): a linear warm-up to the peak,
// then a cosine decay towards 0, computed on the host so it is exact.
func (sc schedule) lr(i int) float64 {
	if i <= sc.warmup {
		return sc.peak * float64(i) / float64(sc.warmup)
	}
	return sc.peak * 0.5 * (1 + math.Cos(math.Pi*float64(i-sc.warmup)/float64(sc.steps-sc.warmup+1)))
}

// trainStore runs the training loop and returns the store with the trained
// weights under /net (and the optimizer's state elsewhere).
func trainStore(backend compute.Backend, train *data.Set, o TrainOptions) (*model.Store, schedule, error) {
	var sc schedule
	batcher, err := data.NewBatcher(train, data.BatchOptions{BatchSize: o.Batch, Seed: o.Seed, DropLast: true})
	if err != nil {
		return nil, sc, fmt.Errorf("features: %w", err)
	}
	per := batcher.BatchesPerEpoch()
	sc.steps, sc.epochs = o.Steps, o.Epochs
	if sc.steps == 0 {
		sc.steps = sc.epochs * per
	} else {
		sc.epochs = (sc.steps + per - 1) / per
	}
	sc.warmup, sc.peak = min(o.Warmup, max(1, sc.steps/10)), o.LR

	store := model.NewStore()
	// The RNG state first (non-trainable), then the initializer seed: the
	// initial weights are a function of the seed alone.
	if err := store.SetRNGStateFromSeed(o.Seed); err != nil {
		return nil, sc, err
	}
	store.SetParam(model.ParamInitialSeed, o.Seed)
	opt := optimizer.Adam().LearningRate(o.LR).WeightDecay(o.WeightDecay).Done()
	step, err := model.NewExec(backend, store, func(scope *model.Scope, x, y, lr *Node) *Node {
		g := x.Graph()
		store.SetTraining(g, true)
		_, logits := network(scope.In(netScope), x)
		loss := crossEntropy(logits, y)
		// Adam reads its learning rate from <its scope>/optimizers/learning_rate.
		optimizer.LearningRateVarWithValue(scope.At(netScope), loss.DType(), o.LR).SetNodeValue(ConvertDType(lr, loss.DType()))
		opt.UpdateGraph(scope.At(netScope), g, loss)
		return loss
	})
	if err != nil {
		return nil, sc, err
	}
	defer step.Finalize()
	for i := 1; i <= sc.steps; i++ {
		xs, ys := batcher.Next()
		out, err := step.Exec(tensors.FromFlatDataAndDimensions(xs, o.Batch, Height, Width, Channels),
			tensors.FromFlatDataAndDimensions(ys, o.Batch), float32(sc.lr(i)))
		if err != nil {
			return nil, sc, fmt.Errorf("features: step %d: %w", i, err)
		}
		loss := float64(tensors.MustCopyFlatData[float32](out[0])[0])
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, sc, fmt.Errorf("features: the loss became %g at step %d; lower the learning rate", loss, i)
		}
		if o.Progress != nil {
			o.Progress(i, sc.steps, loss)
		}
	}
	return store, sc, nil
}

// crossEntropy is the mean of -log softmax(logits)[y] over the batch.
func crossEntropy(logits, y *Node) *Node {
	oneHot := OneHot(y, NumClasses, logits.DType())
	return Neg(ReduceAllMean(ReduceSum(Mul(oneHot, LogSoftmax(logits, -1)), -1)))
}

// commit is genmod's VCS revision as stamped by `go build` ("-dirty" when
// the tree had changes), or "" (tests, go run).
func commit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
