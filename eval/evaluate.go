package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"genmod/data"
	"genmod/eval/features"
	"genmod/internal/fsutil"
	"genmod/models"
	"genmod/runs"
)

// Options choose what Evaluate measures and how samples are drawn.
type Options struct {
	Metrics []string // see Metrics(); empty = every metric that applies
	N       int      // samples / test examples (0 = 2000, capped by the test split)
	K       int      // importance samples of the iwae bound (0 = DefaultK)
	Sample  runs.SampleOptions
	Seed    int64
	// Progress, if set, receives one line per stage.
	Progress func(msg string)
}

// Result is one number with what it was measured on.
type Result struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	Split  string  `json:"split"` // the reference data
	N      int     `json:"n"`     // samples (or test examples) it used
	Note   string  `json:"note,omitempty"`
}

// Report is what `genmod eval` prints and writes to eval.json.
type Report struct {
	Run   string `json:"run"`
	Model string `json:"model"`
	Data  string `json:"data"`
	Step  int    `json:"step"`
	// Sampling are the model's sampling options the samples were drawn
	// with, those set and the defaults.
	Sampling map[string]any `json:"sampling,omitempty"`
	Results  []Result       `json:"results"`
	// Features names the classifier whose features fd, kid, pr and acc used.
	Features string `json:"features,omitempty"`
	// SampleSeconds is the wall time of drawing the samples.
	SampleSeconds float64 `json:"sample_seconds,omitempty"`
}

// metric describes one metric: when it applies and how to compute it.
type metric struct {
	name, about string
	applies     func(s *runs.Session) string // "" when it applies, else why not
}

var metricList = []metric{
	{"w2", "exact 2-Wasserstein distance, samples vs test split (optimal assignment, ≤ 2000 points)", needsVectors},
	{"mmd", "unbiased MMD² with RBF kernels at the median distance ×{0.5, 1, 2}", needsVectors},
	{"swd", "sliced 2-Wasserstein distance (256 random directions)", needsVectors},
	{"fd", "Fréchet distance of classifier features (FID-style, genmod's own 128-d CNN), samples vs test split; the note gives the train-vs-test floor at the same n", needsFeatures},
	{"kid", "kernel inception distance on the same features: cubic-kernel MMD², mean (± std) over 20 subsets of ≤ 1000", needsFeatures},
	{"pr", "improved precision and recall (k = 3 nearest neighbours) on the same features: two results", needsFeatures},
	{"acc", "class-conditional models: fraction of samples the classifier assigns to the class they were drawn for", needsConditional},
	{"nll", "exact negative log-likelihood of the test split: nats (vectors) or bits/dim (8-bit images, dequantized)", needsLogProb},
	{"elbo", "latent-variable models: negative ELBO of the test split (an upper bound on its NLL), same units as nll", needsBounds},
	{"iwae", "latent-variable models: negative IWAE bound with K importance samples (Options.K, default 5000), tighter than the ELBO", needsBounds},
	{"vlb", "DDPM variational bound on the test split, bits/dim", needsVLB},
}

// Metrics lists the metric names with a line about each.
func Metrics() [][2]string {
	var out [][2]string
	for _, m := range metricList {
		out = append(out, [2]string{m.name, m.about})
	}
	return out
}

func needsVectors(s *runs.Session) string {
	if s.Info.IsImage() {
		return "w2, mmd and swd compare raw vectors; image runs are compared through classifier features (fd, kid, pr)"
	}
	if _, ok := s.Model.(models.Sampler); !ok {
		return "the model cannot sample"
	}
	return ""
}

// needsFeatures: the run's images are what a committed feature classifier
// reads (28x28x1 of a dataset it was trained on) and the model samples.
func needsFeatures(s *runs.Session) string {
	data := s.Run.Config.Data
	if !s.Info.IsImage() {
		return fmt.Sprintf("it compares classifier features of images, and %s holds vectors of shape %v", data, s.Info.Shape)
	}
	if _, ok := features.WeightsDataset(data); !ok {
		return fmt.Sprintf("genmod has no feature classifier for %s (only for %s)", data, strings.Join(features.Datasets(), ", "))
	}
	if !slices.Equal(s.Info.Shape, []int{features.Height, features.Width, features.Channels}) {
		return fmt.Sprintf("the feature classifier reads %dx%dx%d images, the run's are %v", features.Height, features.Width, features.Channels, s.Info.Shape)
	}
	if _, ok := s.Model.(models.Sampler); !ok {
		return "the model cannot sample"
	}
	return ""
}

// needsConditional: needsFeatures, and the model draws samples of a
// requested class.
func needsConditional(s *runs.Session) string {
	if why := needsFeatures(s); why != "" {
		return why
	}
	if c, ok := s.Model.(models.Conditional); !ok || c.NumClasses() == 0 {
		return "the model is not class-conditional (acc scores samples drawn for a requested class)"
	} else if c.NumClasses() != features.NumClasses {
		return fmt.Sprintf("the model has %d classes, the feature classifier %d", c.NumClasses(), features.NumClasses)
	}
	return ""
}

func needsLogProb(s *runs.Session) string {
	if _, ok := s.Model.(models.LogProber); !ok {
		return "the model has no exact likelihood"
	}
	return ""
}

func needsBounds(s *runs.Session) string {
	if _, ok := s.Model.(models.BoundEstimator); !ok {
		return "the model has no variational bound (elbo and iwae are for latent-variable models such as vae)"
	}
	return ""
}

func needsVLB(s *runs.Session) string {
	b, ok := s.Model.(models.PixelBounder)
	if !ok {
		return "the variational bound needs a diffusion model (ddpm) on 8-bit images"
	}
	if err := b.PixelBoundError(); err != nil {
		return err.Error()
	}
	return ""
}

// Evaluate measures a trained run against its dataset's test split.
func Evaluate(s *runs.Session, o Options) (*Report, error) {
	if s.Test == nil || s.Test.Len() == 0 {
		return nil, fmt.Errorf("the run's dataset (%s) is not available here, or has no test split: nothing to compare with", s.Run.Config.Data)
	}
	names := o.Metrics
	if len(names) == 0 {
		for _, m := range metricList {
			if m.applies(s) == "" {
				names = append(names, m.name)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("no metric applies to model %s on %s yet", s.Run.Config.Model, s.Run.Config.Data)
		}
	}
	var todo []metric
	for _, n := range names {
		i := slices.IndexFunc(metricList, func(m metric) bool { return m.name == n })
		if i < 0 {
			var valid []string
			for _, m := range metricList {
				valid = append(valid, m.name)
			}
			return nil, fmt.Errorf("unknown metric %q (valid: %s)", n, strings.Join(valid, ", "))
		}
		if why := metricList[i].applies(s); why != "" {
			return nil, fmt.Errorf("metric %s does not apply to this run: %s; metrics that do: %s", n, why, strings.Join(applicable(s), ", "))
		}
		todo = append(todo, metricList[i])
	}
	n := o.N
	if n == 0 {
		n = 2000
	}
	if n < 2 {
		return nil, fmt.Errorf("need at least 2 samples, got %d", n)
	}
	n = min(n, s.Test.Len())
	cfg := s.Run.Config
	rep := &Report{Run: s.Run.Dir, Model: cfg.Model, Data: cfg.Data, Step: s.Step}
	if so, err := models.SampleOptions(cfg.Model, o.Sample.Model); err != nil {
		return nil, err
	} else if so != nil {
		buf, _ := json.Marshal(so)
		_ = json.Unmarshal(buf, &rep.Sampling)
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			o.Progress(fmt.Sprintf(format, args...))
		}
	}
	dim := s.Info.Dim()
	ref, refLabels := referenceSubset(s.Test, n, o.Seed)
	var samples *runs.Samples
	draw := func() error {
		if samples != nil {
			return nil
		}
		progress("drawing %d samples", n)
		so := o.Sample
		so.N, so.Class = n, -1
		if c, ok := s.Model.(models.Conditional); ok && c.NumClasses() > 0 && s.Test.Y != nil && so.Labels == nil {
			so.Labels = refLabels // the reference's own class mix
		}
		start := time.Now()
		sm, err := s.Sample(so)
		if err != nil {
			return err
		}
		rep.SampleSeconds = time.Since(start).Seconds()
		samples = sm
		return nil
	}
	var feat *featureSets
	boundsDone := false
	for _, m := range todo {
		switch m.name {
		case "w2", "mmd", "swd":
			if err := draw(); err != nil {
				return nil, err
			}
			r, err := pointMetric(m.name, samples.X, ref, n, dim, o.Seed)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, r)
		case "fd", "kid", "pr", "acc":
			if err := draw(); err != nil {
				return nil, err
			}
			if feat == nil {
				var err error
				if feat, err = computeFeatures(s, samples, ref, n, progress); err != nil {
					return nil, err
				}
				rep.Features = feat.about
			}
			rs, err := feat.metric(m.name, s, n, o.Seed, progress)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, rs...)
		case "nll":
			progress("log-likelihood of %d test examples", n)
			r, err := nll(s, ref, n)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, r)
		case "elbo", "iwae":
			if boundsDone {
				continue
			}
			boundsDone = true
			var want []string
			for _, t := range todo {
				if t.name == "elbo" || t.name == "iwae" {
					want = append(want, t.name)
				}
			}
			k := o.K
			if k == 0 {
				k = DefaultK
			}
			if k < 1 {
				return nil, fmt.Errorf("k must be >= 1 importance samples, got %d", k)
			}
			progress("%s of %d test examples (%d posterior samples each)", strings.Join(want, " and "), n, k)
			rs, err := bounds(s, ref, n, k, o.Seed, want, progress)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, rs...)
		case "vlb":
			progress("variational bound of %d test images (1000 network passes per batch of 100)", n)
			// The test images in the model's pixel space (--pixels), 8-bit
			// values, no dequantization.
			px := s.PixelRange()
			x := append([]float32(nil), ref...)
			for i := range x {
				x[i] = px.Lo + x[i]*(px.Hi-px.Lo)
			}
			res, err := s.Model.(models.PixelBounder).PixelBound(s.Runtime(true), x, n, models.PixelBoundOptions{Seed: o.Seed, Pixels: px})
			if err != nil {
				return nil, err
			}
			mean := 0.0
			for _, b := range res.BitsPerDim {
				mean += b / float64(n)
			}
			var parts []string
			for _, p := range res.Parts {
				parts = append(parts, fmt.Sprintf("%s %.4f", p.Name, p.BitsPerDim))
			}
			rep.Results = append(rep.Results, Result{Metric: "vlb", Value: mean, Unit: "bits/dim", Split: "test", N: n,
				Note: strings.Join(parts, " + ")})
		}
	}
	return rep, nil
}

// referenceSubset returns n test examples and their labels (nil when
// unlabeled): all of them in order when n covers the split, otherwise a
// seeded random subset, because test files can be ordered (MNIST's test file
// is ordered by writer: its first 2000 images are 3.5x farther from the train
// set in Fréchet distance than a random 2000).
func referenceSubset(test *data.Set, n int, seed int64) ([]float32, []int32) {
	dim := test.Dim()
	if n >= test.Len() {
		return test.X[:n*dim], test.Y
	}
	idx := rand.New(rand.NewPCG(uint64(seed), 0x5eed)).Perm(test.Len())[:n]
	slices.Sort(idx) // keep the file's order among the chosen
	x := make([]float32, 0, n*dim)
	var y []int32
	for _, i := range idx {
		x = append(x, test.X[i*dim:(i+1)*dim]...)
		if test.Y != nil {
			y = append(y, test.Y[i])
		}
	}
	return x, y
}

func applicable(s *runs.Session) []string {
	var out []string
	for _, m := range metricList {
		if m.applies(s) == "" {
			out = append(out, m.name)
		}
	}
	if len(out) == 0 {
		out = []string{"none yet"}
	}
	return out
}

// rows splits flat values into n rows of dim float64s.
func rows(x []float32, n, dim int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, dim)
		for j := range out[i] {
			out[i][j] = float64(x[i*dim+j])
		}
	}
	return out
}

func pointMetric(name string, samples, ref []float32, n, dim int, seed int64) (Result, error) {
	a, b := rows(samples, n, dim), rows(ref, n, dim)
	r := Result{Metric: name, Split: "test", N: n}
	var err error
	switch name {
	case "w2":
		if n > MaxW2Points {
			a, b = a[:MaxW2Points], b[:MaxW2Points]
			r.N = MaxW2Points
		}
		r.Value, err = W2(a, b)
	case "mmd":
		var bw []float64
		if bw, err = DefaultBandwidths(a, b); err == nil {
			r.Value, err = MMD(a, b, bw)
			r.Note = fmt.Sprintf("bandwidths %.3g", bw)
		}
	case "swd":
		r.Value, err = SlicedW(a, b, 256, seed)
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// likelihoodData is the test data as a likelihood model scores it, and how
// its log-likelihoods become the reported number.
type likelihoodData struct {
	x    []float32
	unit string
	// score turns a mean log-likelihood (nats per example) into the
	// reported value: nats of −log p, or bits/dim.
	score func(meanLogP float64) float64
	note  string
}

// likelihoodInput prepares the n reference test examples for scoring in the
// run's data space. Vectors are scored as they are, in nats. Binarized
// images are binarized once (dynamic binarization: one fixed Bernoulli draw,
// seed 0) and scored in nats, the binarized-MNIST convention. Other images
// are dequantized once (uniform noise, seed 0) and reported in bits/dim.
func likelihoodInput(s *runs.Session, ref []float32) likelihoodData {
	dim := s.Info.Dim()
	x := append([]float32(nil), ref...)
	nats := func(lp float64) float64 { return -lp }
	switch {
	case !s.Info.IsImage():
		return likelihoodData{x: x, unit: "nats", score: nats}
	case s.Transform.Binarize != "":
		s.Transform.Apply(x, 0)
		return likelihoodData{x: x, unit: "nats", score: nats, note: s.Transform.Binarize + "ally binarized test images"}
	}
	t := s.Transform
	t.Dequantize = true
	t.Apply(x, 0)
	bin := 2.0 / PixelBins
	if !s.Transform.Symmetric {
		bin = 1.0 / PixelBins
	}
	return likelihoodData{x: x, unit: "bits/dim", score: func(lp float64) float64 { return BitsPerDimScaled(lp, dim, bin) }}
}

// meanFinite averages v, or fails on a NaN or ±Inf.
func meanFinite(what string, v []float64) (float64, error) {
	mean := 0.0
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("%s is not finite (%v) on a test example", what, x)
		}
		mean += x / float64(len(v))
	}
	return mean, nil
}

// nll scores the n reference test examples with the model's exact log p(x).
func nll(s *runs.Session, ref []float32, n int) (Result, error) {
	in := likelihoodInput(s, ref)
	lp, err := s.Model.(models.LogProber).LogProb(s.Runtime(true), in.x, n)
	if err != nil {
		return Result{}, err
	}
	mean, err := meanFinite("log-likelihood", lp)
	if err != nil {
		return Result{}, err
	}
	return Result{Metric: "nll", Value: in.score(mean), Unit: in.unit, Split: "test", N: n, Note: in.note}, nil
}

// DefaultK is the number of importance samples of the IWAE bound, Burda et
// al.'s evaluation protocol.
const DefaultK = 5000

// bounds scores the n reference test examples with the model's ELBO and
// IWAE_k bound, both from the same k posterior samples per example, and
// returns the results asked for. Both are reported like nll, so they are
// upper bounds on the test NLL.
func bounds(s *runs.Session, ref []float32, n, k int, seed int64, want []string, progress func(string, ...any)) ([]Result, error) {
	in := likelihoodInput(s, ref)
	// In chunks of rows, for progress lines: k = 5000 on 1000 MNIST digits
	// takes minutes. Chunk c draws its samples from seed + c.
	const chunk = 100
	dim := s.Info.Dim()
	b := &models.Bounds{K: k}
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		part, err := s.Model.(models.BoundEstimator).Bounds(s.Runtime(true), in.x[lo*dim:hi*dim], hi-lo, k, seed+int64(lo/chunk))
		if err != nil {
			return nil, err
		}
		b.ELBO, b.IWAE = append(b.ELBO, part.ELBO...), append(b.IWAE, part.IWAE...)
		progress("  %d/%d test examples", hi, n)
	}
	var out []Result
	for _, name := range want {
		v, about := b.ELBO, fmt.Sprintf("ELBO, mean of log w over %d samples per example", k)
		if name == "iwae" {
			v, about = b.IWAE, fmt.Sprintf("IWAE bound, k = %d", k)
		}
		mean, err := meanFinite(name, v)
		if err != nil {
			return nil, err
		}
		note := about
		if in.note != "" {
			note += "; " + in.note
		}
		out = append(out, Result{Metric: name, Value: in.score(mean), Unit: in.unit, Split: "test", N: n, Note: note})
	}
	return out, nil
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s (%s on %s, step %d)\n", r.Run, r.Model, r.Data, r.Step)
	fmt.Fprintln(tw, "metric\tvalue\tunit\tsplit\tn\tnote")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%.5g\t%s\t%s\t%d\t%s\n", x.Metric, x.Value, x.Unit, x.Split, x.N, x.Note)
	}
	if r.Features != "" {
		fmt.Fprintf(tw, "features: %s\n", r.Features)
	}
	if r.SampleSeconds > 0 {
		fmt.Fprintf(tw, "sampling took %.2f s\n", r.SampleSeconds)
	}
	return tw.Flush()
}

// WriteJSON writes the report atomically to path.
func (r *Report) WriteJSON(path string) error {
	buf, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(path, append(buf, '\n'))
}
