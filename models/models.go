// Package models is genmod's model registry and the small capability
// interfaces that the CLI, the evaluator and the server use instead of
// switching on model names. Each family lives in its own sub-package and
// registers itself in init; import genmod/models/all to get every family.
package models

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// DataInfo describes the data a model is built for.
type DataInfo struct {
	Shape      []int    // per-example shape: [H, W, C] for images, [D] for vectors
	NumClasses int      // 0 when the data has no labels
	ClassNames []string // optional, len NumClasses
	// Binary is set when the run binarizes its images (every value is 0
	// or 1, whatever the run's pixel range): likelihood models then use a
	// Bernoulli output.
	Binary bool `json:"-"`
}

// Dim is the number of values per example.
func (d DataInfo) Dim() int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// IsImage reports whether examples are [H, W, C] images.
func (d DataInfo) IsImage() bool { return len(d.Shape) == 3 }

// Model is a trainable generative model. Its variables live under scopes it
// names itself below the scope it is given, so the trainer can keep an EMA
// copy under "/ema/..." and the same code reads either copy.
type Model interface {
	// Loss builds the scalar training loss for a batch x [B, Shape...] with
	// labels [B] int32 (all zeros when the data has no labels).
	Loss(scope *model.Scope, x, labels *graph.Node) *graph.Node
}

// Runtime is what a trained model needs to run graphs: the backend and the
// store holding its variables. Scope is the root the model reads weights
// from: the store root, or "/ema" for the averaged weights.
type Runtime struct {
	Backend compute.Backend
	Store   *model.Store
	Scope   func() *model.Scope
}

// SampleRequest asks a Sampler for N samples.
type SampleRequest struct {
	N      int
	Labels []int32 // len N class labels for conditional models; nil = unconditional
	// Clip, when Hi > Lo, is the range of the data (images), for samplers
	// that can keep their steps inside it.
	Clip Range
	Seed int64
	// Options are the model's sampling options: a value of its entry's
	// SampleOptions type (nil when it declares none), decoded and
	// validated by the caller with Decode.
	Options  any
	Progress func(done, total int) // optional
}

// Sampler draws samples. The result has N*Dim values in the model's data
// space (the space after the run's data transform, e.g. [-1, 1] images).
type Sampler interface {
	Sample(rt *Runtime, req SampleRequest) ([]float32, error)
}

// Conditional is implemented by models trained with class labels.
type Conditional interface {
	NumClasses() int
}

// Range is a closed interval [Lo, Hi]; the zero Range is empty (no bound).
type Range struct{ Lo, Hi float32 }

// Entry is one registered model.
type Entry struct {
	Name        string
	Family      string
	Description string
	// Options are the model's training options at their defaults, and
	// SampleOptions its sampling options: struct values declared as
	// described at Specs (nil: none). A CLI builds its flags and config
	// keys from them, so a family's options need no code outside it.
	Options       any
	SampleOptions any
	// New builds the model; opts is a value of Options's type (Typed
	// adapts a constructor over it).
	New func(opts any, info DataInfo) (Model, error)
}

var (
	mu       sync.RWMutex
	registry = map[string]Entry{}
)

// Register adds a model; it panics on a duplicate name (a programming error at init).
func Register(e Entry) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[e.Name]; dup {
		panic("models: duplicate registration of " + e.Name)
	}
	registry[e.Name] = e
}

// List returns the registered models sorted by name.
func List() []Entry {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Entry, 0, len(registry))
	for _, e := range registry {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SampleOptions decodes the named model's sampling options from values
// (nil, a value of its type or a map of names to values; see Decode).
func SampleOptions(name string, values any) (any, error) {
	e, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return Decode("sampling of model "+name, e.SampleOptions, values)
}

// Lookup finds a model by name; the error lists the valid names.
func Lookup(name string) (Entry, error) {
	mu.RLock()
	e, ok := registry[name]
	mu.RUnlock()
	if !ok {
		var names []string
		for _, e := range List() {
			names = append(names, e.Name)
		}
		return Entry{}, fmt.Errorf("unknown model %q (valid: %s)", name, strings.Join(names, ", "))
	}
	return e, nil
}

// New builds the named model for the data. opts are its training
// options: nil (the defaults), a value of its options type, or a map of
// option names to values applied over the defaults (see Decode).
func New(name string, opts any, info DataInfo) (Model, error) {
	e, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	o, err := Decode("model "+name, e.Options, opts)
	if err != nil {
		return nil, err
	}
	m, err := e.New(o, info)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	return m, nil
}
