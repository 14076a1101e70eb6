package flow

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

// Running a trained flow on the host: Sample, LogProb, Encode and Decode
// run one compiled graph over batches of rows. Every result is checked for
// NaN and ±Inf; a bad row is run again through a graph that returns every
// layer's output and log-det, and the error names the first layer that
// produced a non-finite value.

// maxBatch bounds how many rows go through the graph at once; rowBudget
// bounds rows·Dim (image flows hold several conv activations per row).
const (
	maxBatch  = 1000
	rowBudget = 1 << 17
)

func (m *Model) batchRows(n int) int {
	return max(1, min(n, maxBatch, rowBudget/m.info.Dim()))
}

// rowsOp is a batched map from rows of width in to outputs of the given
// widths (as float64 nodes [B, width], or [B] for width 0).
type rowsOp struct {
	what  string // for errors: "sampling", "log-prob", ...
	in    int
	outs  []int
	build func(scope *model.Scope, x *Node, p pass) []*Node
}

func (m *Model) encodeOp() rowsOp {
	d := m.info.Dim()
	return rowsOp{what: "encoding", in: d, outs: []int{d}, build: func(scope *model.Scope, x *Node, p pass) []*Node {
		p.acc = dtypes.Float64
		z, _ := m.arch.encode(scope.At("flow"), m.batchShape(x), p)
		return []*Node{ConvertDType(z, dtypes.Float64)}
	}}
}

func (m *Model) decodeOp(what string) rowsOp {
	d := m.info.Dim()
	return rowsOp{what: what, in: d, outs: []int{d}, build: func(scope *model.Scope, z *Node, p pass) []*Node {
		x := m.arch.decode(scope.At("flow"), z, p)
		return []*Node{ConvertDType(Reshape(x, x.Shape().Dimensions[0], d), dtypes.Float64)}
	}}
}

func (m *Model) logProbOp() rowsOp {
	return rowsOp{what: "log-prob", in: m.info.Dim(), outs: []int{0}, build: func(scope *model.Scope, x *Node, p pass) []*Node {
		return []*Node{m.logProb64(scope, x, p)}
	}}
}

// run applies op to n rows of in, in batches of equal size (the last one
// padded with zeros, so the graph compiles once).
func (m *Model) run(rt *models.Runtime, op rowsOp, in []float32, n int, progress func(done, total int)) ([][]float64, error) {
	if rt == nil || rt.Backend == nil || rt.Store == nil || rt.Scope == nil {
		return nil, fmt.Errorf("%s: the runtime has no backend or store", op.what)
	}
	bs := m.batchRows(n)
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x *Node) []*Node {
		return op.build(rt.Scope(), x, pass{})
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	outs := make([][]float64, len(op.outs))
	for k, w := range op.outs {
		outs[k] = make([]float64, n*max(w, 1))
	}
	buf := make([]float32, bs*op.in)
	for lo := 0; lo < n; lo += bs {
		hi := min(lo+bs, n)
		clear(buf)
		copy(buf, in[lo*op.in:hi*op.in])
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(buf, bs, op.in))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.what, err)
		}
		for k, w := range op.outs {
			w = max(w, 1)
			dst := outs[k][lo*w : hi*w]
			if err := res[k].ConstFlatData(func(flat any) { copy(dst, flat.([]float64)) }); err != nil {
				return nil, err
			}
			for r := lo; r < hi; r++ {
				if !finite64(outs[k][r*w : (r+1)*w]) {
					return nil, m.diagnose(rt, op, in[r*op.in:(r+1)*op.in], r)
				}
			}
		}
		if progress != nil {
			progress(hi, n)
		}
	}
	return outs, nil
}

func finite64(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func describe(v []float64) string {
	nan, inf := 0, 0
	for _, x := range v {
		if math.IsNaN(x) {
			nan++
		} else if math.IsInf(x, 0) {
			inf++
		}
	}
	return fmt.Sprintf("%d NaN and %d ±Inf of %d values", nan, inf, len(v))
}

// diagnose re-runs row (index r) of op layer by layer and names the first
// layer whose output or log-det is not finite.
func (m *Model) diagnose(rt *models.Runtime, op rowsOp, row []float32, r int) error {
	var names []string
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x *Node) []*Node {
		names = names[:0]
		var nodes []*Node
		rec := func(name string, out, ld *Node) {
			names = append(names, name)
			nodes = append(nodes, ConvertDType(Reshape(out, -1), dtypes.Float64), ConvertDType(Reshape(ld, -1), dtypes.Float64))
		}
		res := op.build(rt.Scope(), x, pass{rec: rec})
		for _, n := range res {
			nodes = append(nodes, Reshape(n, -1))
		}
		return nodes
	})
	generic := fmt.Errorf("%s: row %d gives a non-finite result (NaN or ±Inf)", op.what, r+1)
	if err != nil {
		return generic
	}
	defer exec.Finalize()
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions(append([]float32(nil), row...), 1, op.in))
	if err != nil {
		return fmt.Errorf("%w (%v)", generic, err)
	}
	vals := make([][]float64, len(res))
	for i, t := range res {
		vals[i] = tensors.MustCopyFlatData[float64](t)
	}
	for i, name := range names {
		for k, part := range []string{"output", "log-det"} {
			if v := vals[2*i+k]; !finite64(v) {
				return fmt.Errorf("%s: row %d: flow layer %s produced a non-finite %s (%s) from a finite input; the model's weights or this input are out of its working range",
					op.what, r+1, name, part, describe(v))
			}
		}
	}
	return fmt.Errorf("%s: row %d: every flow layer's output is finite but the result is not (the base density log N(z) overflowed)", op.what, r+1)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Sample draws z ~ N(0, T²I) (T from the request's
// models.TemperatureOptions, 1 by default) from req.Seed and maps it
// through the flow to data; labels are rejected.
func (m *Model) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	if req.N < 1 {
		return nil, fmt.Errorf("need at least 1 sample, got n=%d", req.N)
	}
	if req.Labels != nil {
		return nil, fmt.Errorf("normalizing flows here are unconditional: classes do not apply")
	}
	z, err := models.PriorNoise(req, m.info.Dim())
	if err != nil {
		return nil, err
	}
	out, err := m.run(rt, m.decodeOp("sampling"), z, req.N, req.Progress)
	if err != nil {
		return nil, err
	}
	return toFloat32(out[0]), nil
}

// LogProb is the exact log p(x) in nats of n rows of x (len n·Dim), in the
// model's data space (images: the run's pixel space, e.g. [-1,1]; convert
// with eval.BitsPerDim). Log-dets are summed in float64.
func (m *Model) LogProb(rt *models.Runtime, x []float32, n int) ([]float64, error) {
	if err := models.CheckRows("LogProb", x, n, m.info.Dim()); err != nil {
		return nil, err
	}
	out, err := m.run(rt, m.logProbOp(), x, n, nil)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Encode maps n rows of data x (model space) to their latents z = f⁻¹(x),
// n·Dim values; for image flows z is the multi-scale latent, flattened
// level by level (see MultiScale).
func (m *Model) Encode(rt *models.Runtime, x []float32, n int) ([]float32, error) {
	if err := models.CheckRows("Encode", x, n, m.info.Dim()); err != nil {
		return nil, err
	}
	out, err := m.run(rt, m.encodeOp(), x, n, nil)
	if err != nil {
		return nil, err
	}
	return toFloat32(out[0]), nil
}

// Decode maps n latents z back to data x = f(z) (model space).
func (m *Model) Decode(rt *models.Runtime, z []float32, n int) ([]float32, error) {
	if err := models.CheckRows("Decode", z, n, m.info.Dim()); err != nil {
		return nil, err
	}
	out, err := m.run(rt, m.decodeOp("decoding"), z, n, nil)
	if err != nil {
		return nil, err
	}
	return toFloat32(out[0]), nil
}
