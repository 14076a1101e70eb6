// Package train runs genmod's training loop and owns the run folder: the
// resolved config, the metrics log, atomic checkpoints that resume bit for
// bit, EMA weights, and the samples written along the way.
package train

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/data"
	"genmod/internal/engine"
	"genmod/models"
)

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
	batcher   data.BatcherState
}

// newSession loads the data and builds the model for a run's config.
func newSession(run *Run, backendName string) (*Session, error) {
	cfg := run.Config
	backend, err := engine.NewBackend(backendName)
	if err != nil {
		return nil, err
	}
	trainSet, testSet, err := data.Load(cfg.Data, data.LoadOptions{DataDir: cfg.DataDir, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	info := models.DataInfo{Shape: trainSet.Shape, NumClasses: trainSet.NumClasses(), ClassNames: trainSet.ClassNames}
	m, err := models.New(cfg.Model, cfg.Options, info)
	if err != nil {
		return nil, err
	}
	tr := data.Transform{}
	if trainSet.IsImage() {
		tr = data.Transform{Dequantize: cfg.Dequantize, Binarize: cfg.Binarize, Symmetric: cfg.Pixels == "symmetric"}
	} else if cfg.Dequantize || cfg.Binarize != "" {
		return nil, fmt.Errorf("dequantize and binarize apply to images only; %s holds vectors of shape %v", cfg.Data, trainSet.Shape)
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
	return &Session{Run: run, Backend: backend, Store: store, Model: m, Info: info,
		Train: trainSet, Test: testSet, Transform: tr}, nil
}

// Open loads a run's newest checkpoint for sampling or evaluation.
func Open(dir, backendName string) (*Session, error) {
	run, err := OpenRun(dir)
	if err != nil {
		return nil, err
	}
	s, err := newSession(run, backendName)
	if err != nil {
		return nil, err
	}
	st, _, err := loadLatestCheckpoint(run.CheckpointDir(), s.Store, nil)
	if err != nil {
		return nil, fmt.Errorf("run %s has no usable checkpoint yet: %w", dir, err)
	}
	s.Step, s.batcher = st.Step, st.Batcher
	return s, nil
}

// Runtime returns what a model needs to run graphs, reading the EMA weights
// when the run kept them and useEMA is set.
func (s *Session) Runtime(useEMA bool) *models.Runtime {
	root := s.Store.RootScope
	if useEMA && s.hasEMA() {
		return &models.Runtime{Backend: s.Backend, Store: s.Store, Scope: func() *model.Scope { return root().At(emaScope) }}
	}
	return &models.Runtime{Backend: s.Backend, Store: s.Store, Scope: root}
}

func (s *Session) hasEMA() bool {
	for v := range s.Store.IterVariables() {
		if len(v.Path()) > len(emaScope)+1 && v.Path()[1:len(emaScope)+1] == emaScope {
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
