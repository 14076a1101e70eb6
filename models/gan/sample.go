package gan

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

// valueBudget bounds rows·Dim of one generator call (2²⁰ float32 = 4 MiB).
const valueBudget = 1 << 20

// Sample draws N samples in one pass through G: z from models.Noise(N,
// Latent, Seed), so the same seed gives the same samples whatever the
// batch size, mapped by the weights at rt.Scope() (the run's EMA of G when
// it kept one). A conditional model draws class req.Labels[i] for sample
// i, or, without labels, the classes 0, 1, ..., K−1 in turn; labels given
// to an unconditional model are an error. Images come out of G's tanh in
// [−1, 1] and are clipped to req.Clip when it is set (for a run in the
// unit pixel range, G learns to stay in [0, 1] and the clip removes the
// rest). GANs have no sampling options.
func (m *Model) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	if req.N < 1 {
		return nil, fmt.Errorf("need at least 1 sample, got n=%d", req.N)
	}
	if req.Options != nil {
		return nil, fmt.Errorf("%s has no sampling options, got %T", m.cfg.Kind, req.Options)
	}
	if rt == nil || rt.Backend == nil || rt.Store == nil || rt.Scope == nil {
		return nil, fmt.Errorf("sampling: the runtime has no backend or store")
	}
	k := m.cfg.NumClasses
	labels := req.Labels
	switch {
	case k == 0 && labels != nil:
		return nil, fmt.Errorf("%s was trained without class labels (unconditional): classes do not apply", m.cfg.Kind)
	case labels != nil && len(labels) != req.N:
		return nil, fmt.Errorf("got %d labels for %d samples", len(labels), req.N)
	case k > 0 && labels == nil:
		labels = make([]int32, req.N)
		for i := range labels {
			labels[i] = int32(i % k)
		}
	case labels == nil:
		labels = make([]int32, req.N)
	}
	for i, y := range labels {
		if y < 0 || int(y) >= max(k, 1) {
			return nil, fmt.Errorf("label %d of sample %d is out of range: the model has classes 0..%d", y, i+1, k-1)
		}
	}
	d, l := m.info.Dim(), m.cfg.Latent
	z := models.Noise(req.N, l, req.Seed)
	bs := max(1, min(req.N, 1000, valueBudget/d))
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, z, y *Node) *Node {
		return Reshape(m.Generator(rt.Scope(), z, y), -1, d)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	out := make([]float32, req.N*d)
	zb := make([]float32, bs*l)
	yb := make([]int32, bs)
	for lo := 0; lo < req.N; lo += bs {
		hi := min(lo+bs, req.N)
		// The last batch is zero-padded so the graph compiles once.
		clear(zb)
		clear(yb)
		copy(zb, z[lo*l:hi*l])
		copy(yb, labels[lo:hi])
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(zb, bs, l), tensors.FromFlatDataAndDimensions(yb, bs))
		if err != nil {
			return nil, fmt.Errorf("sampling: %w", err)
		}
		copy(out[lo*d:hi*d], tensors.MustCopyFlatData[float32](res[0]))
		if req.Progress != nil {
			req.Progress(hi, req.N)
		}
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("sampling: sample %d is not finite: the generator's weights are out of their working range", i/d+1)
		}
	}
	if c := req.Clip; c.Hi > c.Lo {
		for i, v := range out {
			out[i] = min(max(v, c.Lo), c.Hi)
		}
	}
	return out, nil
}
