package rf

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
	"genmod/models"
	"genmod/models/modeltest"
	"genmod/train"
)

// Classifier-free guidance needs no training to check: for any weights,
// v_cfg(w) = (1+w)·v_y − w·v_∅, so w = 0 is the conditional velocity and
// w = 1 is 2·v_y − v_∅.
func TestGuidanceCombinesConditionalAndNull(t *testing.T) {
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(models.Options{Conditional: true, Hidden: []int{16, 16}, TimeDim: 8}, models.DataInfo{Shape: []int{3}, NumClasses: 4})
	if err != nil {
		t.Fatal(err)
	}
	rfm := m.(*Model)
	store := model.NewStore()
	store.SetRNGStateFromSeed(1)
	store.SetParam(model.ParamInitialSeed, int64(5))
	x := tensors.FromFlatDataAndDimensions([]float32{0.1, -0.2, 0.3, 1, 0.5, -1}, 2, 3)
	y := tensors.FromFlatDataAndDimensions([]int32{1, 3}, 2)
	velocity := func(guided bool, w float32, labels *tensors.Tensor) []float32 {
		out, err := model.ExecOnce(backend, store, func(scope *model.Scope, x, l, w *Node) *Node {
			return rfm.Velocity(scope, x, Scalar(x.Graph(), x.DType(), 0.3), l, guided, w)
		}, x, labels, w)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out)
	}
	vy := velocity(false, 0, y)
	v0 := velocity(false, 0, tensors.FromFlatDataAndDimensions([]int32{4, 4}, 2)) // null class
	w0 := velocity(true, 0, y)
	w1 := velocity(true, 1, y)
	for i := range vy {
		if math.Abs(float64(w0[i]-vy[i])) > 1e-6 {
			t.Errorf("w=0: v_cfg[%d]=%g, want v_y=%g", i, w0[i], vy[i])
		}
		if want := 2*vy[i] - v0[i]; math.Abs(float64(w1[i]-want)) > 1e-5 {
			t.Errorf("w=1: v_cfg[%d]=%g, want 2v_y-v_∅=%g", i, w1[i], want)
		}
	}
}

// Trained end to end through the real loop on N(μ, diag(s²)), rectified flow
// must sample that Gaussian: mean and standard deviation within tolerance.
func TestLearnsAGaussian(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	mu, s := []float64{2, -1}, []float64{0.5, 1.5}
	_, file := modeltest.GaussianNPY(t, dir, mu, s, 4000, 11)
	cfg := train.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = "rf", "npy:"+file, filepath.Join(dir, "run")
	cfg.Steps, cfg.Batch, cfg.LR, cfg.Hidden, cfg.LogEvery = 600, 128, 3e-3, []int{64, 64}, 0
	if _, err := train.Train(context.Background(), cfg, train.Options{Log: discard{}}); err != nil {
		t.Fatal(err)
	}
	// Sampling needs only the run folder, not the dataset it was trained on.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	sess, err := train.Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sess.Sample(train.SampleOptions{N: 4000, Steps: 50, Class: -1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	modeltest.CheckMoments(t, sm.X, sm.N, mu, s, 0.1, 0.05, 0.15)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
