package runs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"genmod/internal/checkpoint"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
	"genmod/internal/fsutil"
	"genmod/internal/safetensors"
)

// Exporting a run: the model's variables of its newest checkpoint as
// float32 tensors named by their GoMLX scope path without the leading "/"
// ("net/res_1/conv_1/weights"), in a safetensors file that PyTorch and
// other frameworks read directly. Optimizer state, counters, the RNG state
// and a distilled run's frozen teacher are left out. With the EMA weights
// the names are the same (the "ema/" prefix is dropped), so a reader maps
// names once for both kinds of weights.

// Export formats and weight choices.
const (
	FormatSafetensors = "safetensors"
	WeightsEMA        = "ema" // the exponential moving average kept during training
	WeightsRaw        = "raw" // the optimizer's own weights
)

// Metadata keys of an export (besides "format": "pt").
const (
	MetaModel    = "genmod.model"
	MetaData     = "genmod.data"
	MetaDataInfo = "genmod.data_info"  // the data's shape and classes, as in the run's data.json
	MetaStep     = checkpoint.MetaStep // "genmod.step"
	MetaConfig   = "genmod.config"     // the run's config.json, as one line
	MetaWeights  = "genmod.weights"    // WeightsEMA or WeightsRaw
)

// ExportOptions choose what Export writes.
type ExportOptions struct {
	Format  string // FormatSafetensors (the only one so far); "" means it
	Weights string // WeightsEMA, WeightsRaw, or "" for EMA when the run kept it, raw otherwise
	Force   bool   // replace a file already at the output path
}

// ExportInfo describes a written export.
type ExportInfo struct {
	Path    string
	Weights string // the weights written: WeightsEMA or WeightsRaw
	Step    int
	Tensors int
	Params  int // total number of values
}

// validate checks the options that do not depend on the run, and the
// output path, before any work is done.
func (o *ExportOptions) validate(out string) error {
	if o.Format == "" {
		o.Format = FormatSafetensors
	}
	if o.Format != FormatSafetensors {
		return fmt.Errorf("unknown export format %q (valid: %s)", o.Format, FormatSafetensors)
	}
	if o.Weights != "" && o.Weights != WeightsEMA && o.Weights != WeightsRaw {
		return fmt.Errorf("unknown weights %q (valid: %s, %s)", o.Weights, WeightsEMA, WeightsRaw)
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("output %s is a directory; give a file name such as %s", out, strings.TrimSuffix(out, "/")+"/model.safetensors")
	}
	return fsutil.CheckOutput(out, o.Force) // the rule of every command's output files
}

// Export opens the run in dir (its newest checkpoint) and writes its model
// weights to out: the library form of `genmod export`. backend is a GoMLX
// backend config ("" = default); no graph is run.
func Export(dir, out, backend string, o ExportOptions) (*ExportInfo, error) {
	if err := o.validate(out); err != nil {
		return nil, err
	}
	s, err := Open(dir, backend)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Export(out, o)
}

// Export writes the session's model weights to out (see ExportOptions).
// The file appears complete or not at all.
func (s *Session) Export(out string, o ExportOptions) (*ExportInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := o.validate(out); err != nil {
		return nil, err
	}
	ts, weights, err := s.ModelTensors(o.Weights)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(s.Run.Config)
	if err != nil {
		return nil, err
	}
	info, err := json.Marshal(s.Info)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{
		checkpoint.MetaFormat: "pt",
		MetaModel:             s.Run.Config.Model,
		MetaData:              s.Run.Config.Data,
		MetaDataInfo:          string(info),
		MetaStep:              strconv.Itoa(s.Step),
		MetaConfig:            string(cfg),
		MetaWeights:           weights,
	}
	if err := safetensors.Write(out, ts, meta); err != nil {
		return nil, fmt.Errorf("exporting %s: %w", s.Run.Dir, err)
	}
	n := 0
	for _, t := range ts {
		n += len(t.Data) / 4
	}
	return &ExportInfo{Path: out, Weights: weights, Step: s.Step, Tensors: len(ts), Params: n}, nil
}

// ModelTensors returns the model's variables (the trainable ones, which the
// EMA mirrors) as float32 tensors named by scope path, read from the EMA
// copies or the raw weights (weights "" picks EMA when the run kept it),
// and which weights it read.
func (s *Session) ModelTensors(weights string) ([]safetensors.Tensor, string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, "", err
	}
	switch weights {
	case "":
		weights = WeightsRaw
		if s.HasEMA() {
			weights = WeightsEMA
		}
	case WeightsEMA:
		if !s.HasEMA() {
			return nil, "", fmt.Errorf("run %s kept no EMA weights (trained with ema 0); export the raw weights instead", s.Run.Dir)
		}
	case WeightsRaw:
	default:
		return nil, "", fmt.Errorf("unknown weights %q (valid: %s, %s)", weights, WeightsEMA, WeightsRaw)
	}
	var ts []safetensors.Tensor
	for v := range s.Store.IterVariables() {
		if !v.Trainable || strings.HasPrefix(v.Path(), "/"+EMAScope+"/") {
			continue
		}
		src := v
		if weights == WeightsEMA {
			if src = s.Store.GetVariable("/" + EMAScope + v.Path()); src == nil {
				return nil, "", fmt.Errorf("run %s has no EMA copy of %s", s.Run.Dir, v.Path())
			}
		}
		data, err := float32Bytes(src)
		if err != nil {
			return nil, "", err
		}
		ts = append(ts, safetensors.Tensor{Name: strings.TrimPrefix(v.Path(), "/"), DType: "F32",
			Shape: append([]int{}, v.Shape().Dimensions...), Data: data})
	}
	if len(ts) == 0 {
		return nil, "", fmt.Errorf("run %s has no model weights to export", s.Run.Dir)
	}
	return ts, weights, nil
}

// float32Bytes returns v's value as little-endian float32 bytes (float64
// variables are rounded).
func float32Bytes(v *model.Variable) ([]byte, error) {
	raw, err := engine.VariableBytes(v)
	if err != nil {
		return nil, err
	}
	switch v.DType() {
	case dtypes.Float32:
		return raw, nil
	case dtypes.Float64:
		out := make([]byte, len(raw)/2)
		for i := range len(raw) / 8 {
			f := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(float32(f)))
		}
		return out, nil
	}
	return nil, fmt.Errorf("variable %s has dtype %s; export writes float32 and converts only float32 and float64", v.Path(), v.DType())
}
