// Package runs opens and uses genmod's run folders: the resolved config,
// the data description, the metrics log, checkpoints, and a Session that
// samples, scores and exports a trained model. Training itself (the loop)
// is package train; the evaluator, the server and the CLI need only this.
package runs

import (
	"errors"
	"fmt"
	"genmod/internal/checkpoint"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/data"
	"genmod/internal/engine"
	"genmod/models"
)

// EMAScope holds the exponential moving average of every trainable variable,
// mirrored by path ("/net/w" -> "/ema/net/w"), so the same model code reads it.
const EMAScope = "ema"

// ErrRunExists means a new run was asked for in the folder of an existing one.
var ErrRunExists = errors.New("folder holds a run")

// Session is a model with its data, backend and variables: what both
// training and sampling start from.
type Session struct {
	Run       *Run
	Backend   compute.Backend
	Store     *model.Store
	Model     models.Model
	Info      models.DataInfo
	Train     *data.Set
	Test      *data.Set
	Transform data.Transform
	Step      int // step of the loaded checkpoint (0 for a fresh run)
}

// NewSession loads the data and builds the model for a run's config.
func NewSession(run *Run, backendName string) (*Session, error) {
	trainSet, testSet, err := data.Load(run.Config.Data, data.LoadOptions{DataDir: run.Config.DataDir, Seed: run.Config.Seed})
	if err != nil {
		return nil, err
	}
	info := models.DataInfo{Shape: trainSet.Shape, NumClasses: trainSet.NumClasses(), ClassNames: trainSet.ClassNames}
	s, err := newSessionFor(run, backendName, info)
	if err != nil {
		return nil, err
	}
	s.Train, s.Test = trainSet, testSet
	return s, nil
}

// newSessionFor builds the model for data described by info, without the data.
func newSessionFor(run *Run, backendName string, info models.DataInfo) (*Session, error) {
	cfg := run.Config
	backend, err := engine.NewBackend(backendName)
	if err != nil {
		return nil, err
	}
	info.Binary = info.IsImage() && cfg.Binarize != ""
	m, err := buildModel(cfg, info)
	if err != nil {
		return nil, err
	}
	if err := giveUsedModels(run, m); err != nil {
		return nil, err
	}
	tr := data.Transform{}
	if info.IsImage() {
		// Binarized images stay 0/1 whatever --pixels says: that is what
		// Bernoulli likelihoods (VAE decoders, autoregressive models) need.
		tr = data.Transform{Dequantize: cfg.Dequantize, Binarize: cfg.Binarize, Symmetric: cfg.Pixels == "symmetric" && cfg.Binarize == ""}
	} else if cfg.Dequantize || cfg.Binarize != "" {
		return nil, fmt.Errorf("dequantize and binarize apply to images only; %s holds vectors of shape %v", cfg.Data, info.Shape)
	}
	if err := tr.Validate(); err != nil {
		return nil, err
	}
	store := model.NewStore()
	// The RNG state must exist (non-trainable) before anything is loaded, or
	// the loader recreates it as trainable and Adam corrupts it (cookbook §4).
	if err := store.SetRNGStateFromSeed(cfg.Seed); err != nil {
		return nil, err
	}
	store.SetParam(model.ParamInitialSeed, cfg.Seed)
	return &Session{Run: run, Backend: backend, Store: store, Model: m, Info: info, Transform: tr}, nil
}

// buildModel builds a run's model: the registered model with the run's
// options, or its distillation student.
func buildModel(cfg Config, info models.DataInfo) (models.Model, error) {
	m, err := models.New(cfg.Model, cfg.ModelOptions, info)
	if err != nil {
		return nil, err
	}
	if cfg.Distill != "" {
		d, ok := m.(models.Distiller)
		if !ok {
			return nil, fmt.Errorf("model %s cannot be distilled", cfg.Model)
		}
		if m, err = d.Distill(models.DistillOptions{Method: cfg.Distill, Steps: cfg.DistillSteps, TeacherSteps: cfg.TeacherSteps}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Open loads a run's newest checkpoint for sampling or evaluation. The
// dataset is loaded when it is available (Train and Test are nil otherwise):
// the model itself only needs the run's data.json.
func Open(dir, backendName string) (*Session, error) {
	run, err := OpenRun(dir)
	if err != nil {
		return nil, err
	}
	s, err := NewSession(run, backendName)
	if err != nil {
		info, ierr := run.readDataInfo()
		if ierr != nil {
			return nil, err // no data.json to fall back on: report the data error
		}
		if s, err = newSessionFor(run, backendName, info); err != nil {
			return nil, err
		}
	}
	st, _, err := checkpoint.LoadLatest(run.CheckpointDir(), s.Store, nil)
	if err != nil {
		return nil, fmt.Errorf("run %s has no usable checkpoint yet: %w", dir, err)
	}
	s.Step = st.Step
	return s, nil
}

// Runtime returns what a model needs to run graphs, reading the EMA weights
// when the run kept them and useEMA is set.
func (s *Session) Runtime(useEMA bool) *models.Runtime {
	root := s.Store.RootScope
	if useEMA && s.HasEMA() {
		return &models.Runtime{Backend: s.Backend, Store: s.Store, Scope: func() *model.Scope { return root().At(EMAScope) }}
	}
	return &models.Runtime{Backend: s.Backend, Store: s.Store, Scope: root}
}

func (s *Session) HasEMA() bool {
	if s.Store == nil { // closed (see Close)
		return false
	}
	for v := range s.Store.IterVariables() {
		if strings.HasPrefix(v.Path(), "/"+EMAScope+"/") {
			return true
		}
	}
	return false
}

// ToData maps model-space values back to the data's space in place: images
// to [0, 1] (undoing the run's transform); vectors are left as they are.
func (s *Session) ToData(x []float32) {
	if s.Info.IsImage() {
		s.Transform.Invert(x)
	}
}
