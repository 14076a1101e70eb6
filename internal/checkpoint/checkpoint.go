// Package checkpoint reads and writes genmod's training checkpoints.
package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/data"
	"genmod/internal/engine"
	"genmod/internal/safetensors"
)

// A checkpoint is one safetensors file holding every variable of the store
// (weights, EMA weights, optimizer moments and counters, the RNG state) plus,
// in its metadata, the step, the batcher position and which variables are
// trainable. GoMLX's own checkpoint package is not used: it writes in place
// (a crash leaves a truncated newest checkpoint) and puts wall-clock times in
// file names. Ours are written atomically and are byte-deterministic.

const (
	MetaStep      = "genmod.step"
	MetaBatcher   = "genmod.batcher"
	MetaTrainable = "genmod.trainable"
	MetaFormat    = "format" // "pt", so safetensors.torch.load_file accepts the file
)

var dtypeNames = map[dtypes.DType]string{
	dtypes.Float64: "F64", dtypes.Float32: "F32", dtypes.Float16: "F16", dtypes.BFloat16: "BF16",
	dtypes.Int64: "I64", dtypes.Int32: "I32", dtypes.Int16: "I16", dtypes.Int8: "I8",
	dtypes.Uint64: "U64", dtypes.Uint32: "U32", dtypes.Uint16: "U16", dtypes.Uint8: "U8",
	dtypes.Bool: "BOOL",
}

// DTypeFromName is the dtype of a safetensors dtype name ("F32").
func DTypeFromName(name string) (dtypes.DType, bool) {
	for d, n := range dtypeNames {
		if n == name {
			return d, true
		}
	}
	return dtypes.InvalidDType, false
}

// State is what a checkpoint records besides the variables.
type State struct {
	Step    int
	Batcher data.BatcherState
}

// storeTensors copies every variable of the store into safetensors form.
// Variable paths lose their leading "/" ("/net/dense/weights" -> "net/dense/weights").
func storeTensors(store *model.Store) (ts []safetensors.Tensor, trainable []string, err error) {
	for v := range store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		name, ok := dtypeNames[v.DType()]
		if !ok {
			return nil, nil, fmt.Errorf("variable %s has dtype %s, which checkpoints do not support", v.Path(), v.DType())
		}
		raw, err := engine.VariableBytes(v)
		if err != nil {
			return nil, nil, err
		}
		path := strings.TrimPrefix(v.Path(), "/")
		ts = append(ts, safetensors.Tensor{Name: path, DType: name, Shape: append([]int{}, v.Shape().Dimensions...), Data: raw})
		if v.Trainable {
			trainable = append(trainable, path)
		}
	}
	sort.Strings(trainable)
	return ts, trainable, nil
}

// Save writes the store's variables and st to dir as step-NNNNNNNN.safetensors,
// atomically, and keeps the newest keep checkpoints.
func Save(dir string, store *model.Store, st State, keep int) (string, error) {
	ts, trainable, err := storeTensors(store)
	if err != nil {
		return "", err
	}
	bs, _ := json.Marshal(st.Batcher)
	tr, _ := json.Marshal(trainable)
	meta := map[string]string{
		MetaFormat:    "pt",
		MetaStep:      strconv.Itoa(st.Step),
		MetaBatcher:   string(bs),
		MetaTrainable: string(tr),
	}
	path := filepath.Join(dir, fmt.Sprintf("step-%08d.safetensors", st.Step))
	if err := safetensors.Write(path, ts, meta); err != nil {
		return "", fmt.Errorf("saving checkpoint: %w", err)
	}
	// Keep the newest `keep` checkpoints, always including the one just written.
	all, _ := List(dir)
	kept := 1
	for _, c := range all {
		if c.Path == path {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		os.Remove(c.Path)
	}
	return path, nil
}

// File is one checkpoint on disk.
type File struct {
	Path string
	Step int
}

// List returns the checkpoints in dir, newest first.
func List(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "step-") || !strings.HasSuffix(name, ".safetensors") {
			continue
		}
		step, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "step-"), ".safetensors"))
		if err != nil {
			continue
		}
		out = append(out, File{filepath.Join(dir, name), step})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step > out[j].Step })
	return out, nil
}

// RemoveStaleTemps deletes temporary files left by a save that was killed
// before its rename (each is checkpoint-sized).
func RemoveStaleTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, ".step-*.tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

// LoadLatest restores the newest readable checkpoint in dir into
// store. A corrupt newest file (say, from a full disk) is reported through
// warn and the previous one is used.
func LoadLatest(dir string, store *model.Store, warn func(string)) (State, string, error) {
	all, err := List(dir)
	if err != nil {
		return State{}, "", fmt.Errorf("listing checkpoints: %w", err)
	}
	if len(all) == 0 {
		return State{}, "", fmt.Errorf("no checkpoints in %s", dir)
	}
	var firstErr error
	for _, c := range all {
		st, err := Load(c.Path, store)
		if err == nil {
			return st, c.Path, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		// Move it aside, so it is neither retried nor counted as the newest.
		aside := c.Path + ".corrupt"
		if rerr := os.Rename(c.Path, aside); rerr != nil {
			aside = c.Path
		}
		if warn != nil {
			warn(fmt.Sprintf("skipping unreadable checkpoint (kept as %s): %v", aside, err))
		}
	}
	return State{}, "", fmt.Errorf("no readable checkpoint in %s: %w", dir, firstErr)
}

// Load reads one checkpoint into store, creating or overwriting
// variables and restoring their trainable flags. (Without the flags GoMLX
// would make every loaded variable trainable, and the optimizer would then
// "train" the RNG state and the EMA copy.)
func Load(path string, store *model.Store) (State, error) {
	var st State
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return st, err
	}
	if st.Step, err = strconv.Atoi(f.Metadata[MetaStep]); err != nil {
		return st, fmt.Errorf("%s: missing or bad %s metadata", path, MetaStep)
	}
	if err := json.Unmarshal([]byte(f.Metadata[MetaBatcher]), &st.Batcher); err != nil {
		return st, fmt.Errorf("%s: bad %s metadata: %w", path, MetaBatcher, err)
	}
	var trainable []string
	if err := json.Unmarshal([]byte(f.Metadata[MetaTrainable]), &trainable); err != nil {
		return st, fmt.Errorf("%s: bad %s metadata: %w", path, MetaTrainable, err)
	}
	isTrainable := map[string]bool{}
	for _, n := range trainable {
		isTrainable[n] = true
	}
	// Validate everything before touching the store, so a bad file changes nothing.
	values := make([]*tensors.Tensor, len(f.Tensors))
	for i, t := range f.Tensors {
		if v := store.GetVariable("/" + t.Name); v != nil && !slices.Equal(v.Shape().Dimensions, t.Shape) {
			return st, fmt.Errorf("%s: variable /%s has shape %v in the checkpoint but %s in the model", path, t.Name, t.Shape, v.Shape())
		}
		dt, ok := DTypeFromName(t.DType)
		if !ok {
			return st, fmt.Errorf("%s: tensor %s has unsupported dtype %s", path, t.Name, t.DType)
		}
		value := tensors.FromShape(shapes.Make(dt, t.Shape...))
		if err := value.MutableBytes(func(b []byte) { copy(b, t.Data) }); err != nil {
			return st, fmt.Errorf("%s: tensor %s: %w", path, t.Name, err)
		}
		values[i] = value
	}
	for i, t := range f.Tensors {
		vpath := "/" + t.Name
		v := store.GetVariable(vpath)
		if v != nil {
			if err := v.SetValue(values[i]); err != nil {
				return st, fmt.Errorf("%s: restoring %s: %w", path, vpath, err)
			}
		} else if v, err = store.CreateVariable(vpath, values[i]); err != nil {
			return st, fmt.Errorf("%s: restoring %s: %w", path, vpath, err)
		}
		v.SetTrainable(isTrainable[t.Name])
	}
	return st, nil
}
