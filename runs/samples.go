package runs

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"genmod/data"
	"genmod/models"
	"genmod/viz"
)

// SampleOptions choose what to draw from a trained model.
type SampleOptions struct {
	N      int
	Class  int     // class to draw for a conditional model; -1 = every class, one grid row each
	Labels []int32 // explicit class of every sample (overrides Class; conditional models only)
	Seed   int64
	NoEMA  bool // use the raw weights instead of their moving average
	// Model are the model's sampling options (models.Entry.SampleOptions):
	// nil for its defaults, a value of its type (diffusion.SampleOptions),
	// or a map of option names to values ({"sampler": "ddim"}).
	Model    any
	Progress func(done, total int)
}

// Samples are drawn values in the data's space (images in [0, 1]).
type Samples struct {
	X      []float32
	Labels []int32 // nil for unconditional samples
	N      int
	Shape  []int
}

// Sample draws from the session's model.
func (s *Session) Sample(o SampleOptions) (*Samples, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	sampler, ok := s.Model.(models.Sampler)
	if !ok {
		return nil, fmt.Errorf("model %s cannot draw samples", s.Run.Config.Model)
	}
	if o.N < 1 {
		return nil, fmt.Errorf("number of samples must be >= 1, got %d", o.N)
	}
	var labels []int32
	cond, isCond := s.Model.(models.Conditional)
	k := 0
	if isCond {
		k = cond.NumClasses()
	}
	switch {
	case k == 0 && o.Class >= 0:
		return nil, fmt.Errorf("model %s was trained without class labels: it has no class to draw", s.Run.Config.Model)
	case k > 0 && o.Class >= k:
		return nil, fmt.Errorf("class %d is out of range: the model has classes 0..%d", o.Class, k-1)
	case k == 0 && o.Labels != nil:
		return nil, fmt.Errorf("model %s was trained without class labels", s.Run.Config.Model)
	case k > 0 && o.Labels != nil:
		if len(o.Labels) != o.N {
			return nil, fmt.Errorf("got %d labels for %d samples", len(o.Labels), o.N)
		}
		labels = o.Labels
	case k > 0:
		labels = make([]int32, o.N)
		for i := range labels {
			if o.Class >= 0 {
				labels[i] = int32(o.Class)
			} else {
				// Row-major grid with one row per class: N/k samples per class.
				per := (o.N + k - 1) / k
				labels[i] = int32(i / per)
			}
		}
	}
	mo, err := models.SampleOptions(s.Run.Config.Model, o.Model)
	if err != nil {
		return nil, err
	}
	var clip models.Range
	if s.Info.IsImage() {
		clip = s.PixelRange()
	}
	before := s.Store.NumVariables()
	x, err := sampler.Sample(s.Runtime(!o.NoEMA), models.SampleRequest{
		N: o.N, Clip: clip, Labels: labels, Seed: o.Seed, Options: mo, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	if s.Store.NumVariables() != before {
		// A sampler that reads a variable the checkpoint does not have would
		// silently sample from fresh random weights; refuse instead.
		return nil, errors.New("sampling created new variables: the checkpoint does not match the model code")
	}
	s.ToData(x)
	return &Samples{X: x, Labels: labels, N: o.N, Shape: s.Info.Shape}, nil
}

// WriteSamples saves samples to path as "png" (an image grid, with a row per
// class for conditional models, or a 2D scatter beside the training data),
// "npy" or "csv" (one sample per row).
func (s *Session) WriteSamples(path, format string, sm *Samples, title string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	dim := s.Info.Dim()
	switch format {
	case "npy":
		return data.WriteNPY(path, sm.X, sm.N, dim)
	case "csv":
		return data.WriteCSV(path, sm.X, sm.N, dim, nil)
	case "png":
	default:
		return fmt.Errorf("unknown format %q (valid: png, npy, csv)", format)
	}
	switch {
	case s.Info.IsImage():
		h, w, c := s.Info.Shape[0], s.Info.Shape[1], s.Info.Shape[2]
		opts := viz.GridOptions{Title: title}
		if sm.Labels != nil && s.Info.NumClasses > 0 && labelsAreRows(sm.Labels, s.Info.NumClasses) {
			opts.Cols = (sm.N + s.Info.NumClasses - 1) / s.Info.NumClasses
			opts.RowLabels = s.Info.ClassNames
			if len(opts.RowLabels) == 0 {
				for i := 0; i < s.Info.NumClasses; i++ {
					opts.RowLabels = append(opts.RowLabels, fmt.Sprint(i))
				}
			}
		}
		return viz.ImageGrid(path, sm.X, sm.N, h, w, c, opts)
	case dim == 2:
		samples := viz.Panel{Title: fmt.Sprintf("samples (%d points)", sm.N), Series: []viz.Series{{XY: sm.X}}}
		if s.Train == nil { // the dataset is not available here: samples only
			return viz.ScatterPanels(path, viz.ScatterOptions{Title: title}, samples)
		}
		n := min(s.Train.Len(), max(sm.N, 2000))
		return viz.ScatterPanels(path, viz.ScatterOptions{Title: title},
			viz.Panel{Title: fmt.Sprintf("data (%s, %d points)", s.Run.Config.Data, n), Series: []viz.Series{{XY: s.Train.X[:2*n]}}},
			samples)
	default:
		return fmt.Errorf("no picture for %d-dimensional samples: write them as npy or csv", dim)
	}
}

// labelsAreRows reports whether labels run 0,0,..,1,1,.. with equal counts, as the class-per-row grid needs.
func labelsAreRows(labels []int32, k int) bool {
	per := (len(labels) + k - 1) / k
	for i, l := range labels {
		if int(l) != i/per {
			return false
		}
	}
	return true
}

// previewSteps is the number of solver steps of the pictures written during
// and at the end of training.
const previewSteps = 20

// previewOptions are the sampling options of previews: previewSteps
// steps for a model whose sampler takes steps, else its defaults.
func previewOptions(model string) any {
	if e, err := models.Lookup(model); err == nil && models.Declares(e.SampleOptions, "steps") {
		return map[string]any{"steps": previewSteps}
	}
	return nil
}

// WritePreview writes a picture of samples into the run's samples folder.
func (s *Session) WritePreview(name string) error {
	if _, ok := s.Model.(models.Sampler); !ok {
		return nil
	}
	// A preview: few solver steps keep it cheap (genmod sample gives full control).
	o := SampleOptions{Class: -1, Seed: s.Run.Config.Seed, Model: previewOptions(s.Run.Config.Model)}
	switch {
	case s.Info.IsImage() && s.Info.NumClasses > 0 && s.isConditional():
		o.N = 10 * s.Info.NumClasses
	case s.Info.IsImage():
		o.N = 100
	case s.Info.Dim() == 2:
		o.N = 2000
	default:
		return nil
	}
	sm, err := s.Sample(o)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s on %s, step %d", s.Run.Config.Model, s.Run.Config.Data, s.Step)
	return s.WriteSamples(filepath.Join(s.Run.SamplesDir(), name), "png", sm, title)
}

func (s *Session) isConditional() bool {
	c, ok := s.Model.(models.Conditional)
	return ok && c.NumClasses() > 0
}

// FormatFromPath guesses the output format from a file name.
func FormatFromPath(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return "npy"
	case ".csv":
		return "csv"
	}
	return "png"
}

// LogProb returns the exact log-density (nats) of n rows of x, given in the
// data's own space, for models with the LogProber capability. Rows of the
// wrong width or with non-finite values are errors naming the row.
func (s *Session) LogProb(x []float32, n, cols int) ([]float64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	lp, ok := s.Model.(models.LogProber)
	if !ok {
		return nil, fmt.Errorf("model %s has no exact likelihood (models with one: normalizing flows and the diffusion family, via the probability-flow ODE)", s.Run.Config.Model)
	}
	if cols != s.Info.Dim() {
		return nil, fmt.Errorf("input rows have %d values, the model expects %d", cols, s.Info.Dim())
	}
	for i := 0; i < n; i++ {
		for j, v := range x[i*cols : (i+1)*cols] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("row %d, column %d: value %v is not finite", i+1, j+1, v)
			}
		}
	}
	if s.Info.IsImage() {
		// Images come as stored, in [0, 1] (pixel/255); the model scores
		// them uniformly dequantized (seed 0) in its own pixel space.
		for i, v := range x[:n*cols] {
			if v < 0 || v > 1 {
				return nil, fmt.Errorf("row %d: image values must be in [0, 1] (pixel/255), found %g", i/cols+1, v)
			}
		}
		x = append([]float32(nil), x[:n*cols]...)
		t := s.Transform
		t.Dequantize, t.Binarize = true, ""
		t.Apply(x, 0)
	}
	return lp.LogProb(s.Runtime(true), x, n)
}

// WriteDensity draws the model's exact density exp(log p) of 2D data as a
// heat map over the data's range, to path.
func (s *Session) WriteDensity(path string, res int) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.Info.Dim() != 2 || s.Info.IsImage() {
		return fmt.Errorf("a density map needs 2-D data; this run's data has shape %v", s.Info.Shape)
	}
	b := viz.Bounds{XMin: -4, XMax: 4, YMin: -4, YMax: 4}
	var overlay []viz.Series
	if s.Train != nil && s.Train.Len() > 0 {
		lo, hi := [2]float32{s.Train.X[0], s.Train.X[1]}, [2]float32{s.Train.X[0], s.Train.X[1]}
		for i := 0; i < s.Train.Len(); i++ {
			for d := 0; d < 2; d++ {
				lo[d], hi[d] = min(lo[d], s.Train.X[2*i+d]), max(hi[d], s.Train.X[2*i+d])
			}
		}
		mx, my := 0.15*float64(hi[0]-lo[0]), 0.15*float64(hi[1]-lo[1])
		b = viz.Bounds{XMin: float64(lo[0]) - mx, XMax: float64(hi[0]) + mx, YMin: float64(lo[1]) - my, YMax: float64(hi[1]) + my}
		n := min(s.Train.Len(), 1000)
		overlay = []viz.Series{{Name: "data", XY: s.Train.X[:2*n]}}
	}
	g := viz.NewGrid(b, res)
	pts := g.Points()
	lp, err := s.LogProb(pts, len(pts)/2, 2)
	if err != nil {
		return err
	}
	return viz.DensityGrid(path, g, lp, viz.DensityOptions{
		Title:   fmt.Sprintf("%s on %s: exact density, step %d", s.Run.Config.Model, s.Run.Config.Data, s.Step),
		Overlay: overlay,
	})
}

// PixelRange is the range of images as the model sees them: [-1, 1] with
// the symmetric transform, else [0, 1] (dequantized pixels stay below 1).
func (s *Session) PixelRange() models.Range {
	if s.Transform.Symmetric {
		return models.Range{Lo: -1, Hi: 1}
	}
	return models.Range{Lo: 0, Hi: 1}
}
