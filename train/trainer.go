package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"genmod/data"
	"genmod/internal/checkpoint"
	"genmod/internal/engine"
	"genmod/models"
	"genmod/runs"
	"genmod/viz"
)

// Options control how a training session reports and stops.
type Options struct {
	Log      io.Writer // progress and messages; nil = os.Stderr
	Terminal bool      // redraw a progress bar instead of printing lines
	Backend  string    // GoMLX backend config; "" = default
	// StopAfter, when > 0, makes training return ErrStopped right after that
	// step without writing anything more, as if the process were killed
	// (used by the kill-and-resume test).
	StopAfter int
	// NoSamples skips the sample pictures (during training and final.png),
	// for runs that only need their checkpoint, such as quick checks.
	NoSamples bool
}

// ErrStopped is returned when Options.StopAfter ends training early.
var ErrStopped = errors.New("training stopped early")

// Errors a caller may want to explain in its own terms (the CLI names the
// command that resumes a run).
var (
	ErrInterrupted = errors.New("interrupted")       // the context ended training; a checkpoint was saved
	ErrDiverged    = errors.New("training diverged") // a loss or gradient norm became NaN or infinite
)

// trainer is a session being trained: the loop's methods on a run's session.
type trainer struct{ *runs.Session }

// Train creates the run folder for cfg and trains it to cfg.Steps.
func Train(ctx context.Context, cfg runs.Config, opts Options) (*runs.Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.AbsolutePaths()
	if err := cfg.ResolveOptions(); err != nil {
		return nil, err
	}
	// Load the data, build the model and create its variables before the
	// folder exists: a bad name, option or batch size must not leave a
	// half-made run behind.
	sess, err := runs.NewSession(&runs.Run{Dir: cfg.Out, Config: cfg}, opts.Backend)
	if err != nil {
		return nil, err
	}
	s := &trainer{sess}
	defer s.Close()
	batcher, err := s.newBatcher()
	if err != nil {
		return nil, err
	}
	if err := s.initVariables(batcher); err != nil {
		return nil, err
	}
	run, err := runs.Create(cfg.Out, cfg, s.Info)
	if err != nil {
		return nil, err
	}
	s.Run = run
	return run, s.train(ctx, opts, batcher)
}

// Resume continues the run in dir from its newest checkpoint (from the
// start if it never wrote one).
func Resume(ctx context.Context, dir string, opts Options) (*runs.Run, error) {
	run, err := runs.OpenRun(dir)
	if err != nil {
		return nil, err
	}
	sess, err := runs.NewSession(run, opts.Backend)
	if err != nil {
		return nil, err
	}
	s := &trainer{sess}
	defer s.Close()
	log := opts.logger()
	batcher, err := s.newBatcher()
	if err != nil {
		return nil, err
	}
	checkpoint.RemoveStaleTemps(run.CheckpointDir())
	if cks, _ := checkpoint.List(run.CheckpointDir()); len(cks) == 0 {
		fmt.Fprintf(log, "%s has no checkpoint yet: starting it from step 0\n", dir)
		if err := s.initVariables(batcher); err != nil {
			return nil, err
		}
		if err := run.TruncateMetrics(0); err != nil {
			return nil, err
		}
		return run, s.train(ctx, opts, batcher)
	}
	st, path, err := checkpoint.LoadLatest(run.CheckpointDir(), s.Store, func(msg string) { fmt.Fprintln(log, "warning:", msg) })
	if err != nil {
		return nil, fmt.Errorf("cannot resume %s: %w", dir, err)
	}
	if run.Config.EMA > 0 && !s.HasEMA() {
		return nil, fmt.Errorf("cannot resume %s: config.json asks for an EMA (ema: %g) but the run was started without one", dir, run.Config.EMA)
	}
	if err := batcher.Restore(st.Batcher); err != nil {
		return nil, fmt.Errorf("cannot resume %s: %w", dir, err)
	}
	if err := run.TruncateMetrics(st.Step); err != nil {
		return nil, fmt.Errorf("cannot resume %s: %w", dir, err)
	}
	s.Step = st.Step
	fmt.Fprintf(log, "resuming %s from step %d (%s)\n", dir, st.Step, filepath.Base(path))
	if s.Step >= run.Config.Steps {
		fmt.Fprintf(log, "run already finished (%d/%d steps); raise steps in %s to train longer\n", s.Step, run.Config.Steps, run.ConfigPath())
		return run, nil
	}
	return run, s.train(ctx, opts, batcher)
}

func (o Options) logger() io.Writer {
	if o.Log == nil {
		return os.Stderr
	}
	return o.Log
}

func (s *trainer) newBatcher() (*data.Batcher, error) {
	cfg := s.Run.Config
	return data.NewBatcher(s.Train, data.BatchOptions{
		BatchSize: cfg.Batch, Seed: cfg.Seed, Transform: s.Transform, DropLast: true})
}

// stepInputs are the per-step scalars computed on the host from the step
// number, so schedules are exact and identical after a resume.
func (s *trainer) schedule(step int) (lr, emaDecay float64) {
	cfg := s.Run.Config
	lr = cfg.LR
	if cfg.Warmup > 0 && step <= cfg.Warmup {
		lr = cfg.LR * float64(step) / float64(cfg.Warmup)
	} else if cfg.LRSchedule == "cosine" && cfg.Steps > cfg.Warmup {
		p := float64(step-cfg.Warmup) / float64(cfg.Steps-cfg.Warmup)
		lr = cfg.LR * (0.05 + 0.95*0.5*(1+math.Cos(math.Pi*p))) // decays to 5% of the peak
	}
	// EMA warm-up (as in TF's ExponentialMovingAverage with num_updates):
	// short runs average over their own length instead of the init weights.
	emaDecay = math.Min(cfg.EMA, float64(1+step)/float64(10+step))
	return lr, emaDecay
}

type gradientOptimizer interface {
	UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType)
}

// train runs the loop from s.Step to the configured number of steps.
func (s *trainer) train(ctx context.Context, opts Options, batcher *data.Batcher) error {
	cfg := s.Run.Config
	log := opts.logger()
	phases, err := s.buildPhases()
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range phases {
			p.exec.Finalize()
		}
	}()
	fmt.Fprintf(log, "training %s on %s (%d examples, shape %v): %d steps, batch %d, backend %s, %d parameters\n",
		cfg.Model, cfg.Data, s.Train.Len(), s.Train.Shape, cfg.Steps, cfg.Batch, engine.BackendConfig(opts.Backend), s.numParams())
	prog := newProgress(log, opts.Terminal, s.Step, cfg.Steps)
	saveCkpt := func() error {
		_, err := checkpoint.Save(s.Run.CheckpointDir(), s.Store, checkpoint.State{Step: s.Step, Batcher: batcher.State()}, cfg.Keep)
		return err
	}
	start := time.Now()
	// Losses since the last metrics line, by phase.
	lossSum := make([]float64, len(phases))
	valueSum := map[string]float64{} // phase metrics, mean over a step's repeats
	lastLoss := make([]float64, len(phases))
	var lossN int
	xShape := append([]int{cfg.Batch}, s.Train.Shape...)
	for s.Step < cfg.Steps {
		if err := ctx.Err(); err != nil {
			prog.clear()
			if err := saveCkpt(); err != nil {
				return err
			}
			return fmt.Errorf("%w at step %d (checkpoint saved; the run in %s resumes from it)", ErrInterrupted, s.Step, s.Run.Dir)
		}
		next := s.Step + 1
		lr, decay := s.schedule(next)
		var loss, gnorm float64
		for i, p := range phases {
			for range max(p.Repeat, 1) {
				xs, ys := batcher.Next()
				if ys == nil {
					ys = make([]int32, cfg.Batch)
				}
				plr := lr
				if p.peakLR != cfg.LR { // the run's schedule, scaled to the group's peak
					plr = lr / cfg.LR * p.peakLR
				}
				outs, err := p.exec.Exec(tensors.FromFlatDataAndDimensions(xs, xShape...),
					tensors.FromFlatDataAndDimensions(ys, cfg.Batch), float32(plr), float32(decay))
				if err != nil {
					return fmt.Errorf("step %d%s: %w", next, p.label(), err)
				}
				loss = float64(tensors.MustCopyFlatData[float32](outs[0])[0])
				gnorm = float64(tensors.MustCopyFlatData[float32](outs[1])[0])
				for j, name := range *p.metrics {
					valueSum[p.Name+"/"+name] += float64(tensors.MustCopyFlatData[float32](outs[2+j])[0]) / float64(max(p.Repeat, 1))
				}
				if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(gnorm) || math.IsInf(gnorm, 0) {
					prog.clear()
					last := "no checkpoint was written yet"
					if cks, _ := checkpoint.List(s.Run.CheckpointDir()); len(cks) > 0 {
						last = fmt.Sprintf("its last checkpoint (step %d) is intact", cks[0].Step)
					}
					return fmt.Errorf("%w: loss%s became %g (gradient norm %g) at step %d; the run stopped and %s. Lower lr (or clip-norm) in %s and resume the run in %s",
						ErrDiverged, p.label(), loss, gnorm, next, last, s.Run.ConfigPath(), s.Run.Dir)
				}
			}
			lossSum[i] += loss // the phase's last update of the step
			lastLoss[i] = loss
		}
		s.Step = next
		prog.update(s.Step, stepLabel(phases, lastLoss, loss))
		lossN++
		if cfg.LogEvery > 0 && (s.Step%cfg.LogEvery == 0 || s.Step == cfg.Steps) {
			el := time.Since(start).Seconds()
			m := runs.Metric{Step: s.Step, Loss: lossSum[len(phases)-1] / float64(lossN), LastLoss: loss, LR: lr, GradNorm: gnorm,
				StepsSec: prog.rate(s.Step), Elapsed: el}
			if len(phases) > 1 {
				m.Losses = map[string]float64{}
				for i, p := range phases {
					m.Losses[p.Name] = lossSum[i] / float64(lossN)
				}
			}
			if len(valueSum) > 0 {
				m.Values = map[string]float64{}
				for k, v := range valueSum {
					m.Values[k] = v / float64(lossN)
				}
			}
			if err := s.Run.AppendMetric(m); err != nil {
				return err
			}
			clear(lossSum)
			clear(valueSum)
			lossN = 0
		}
		if opts.StopAfter > 0 && s.Step == opts.StopAfter {
			return ErrStopped
		}
		if s.Step == cfg.Steps || (cfg.CheckpointEvery > 0 && s.Step%cfg.CheckpointEvery == 0) {
			if err := saveCkpt(); err != nil {
				return err
			}
		}
		if cfg.SampleEvery > 0 && s.Step%cfg.SampleEvery == 0 && s.Step != cfg.Steps && !opts.NoSamples {
			if err := s.WritePreview(fmt.Sprintf("step-%08d.png", s.Step)); err != nil {
				prog.clear()
				fmt.Fprintln(log, "warning: writing samples:", err)
			}
		}
	}
	if err := s.writeLossPlot(); err != nil {
		fmt.Fprintln(log, "warning: loss plot:", err)
	}
	if !opts.NoSamples {
		if err := s.WritePreview("final.png"); err != nil {
			fmt.Fprintln(log, "warning: writing samples:", err)
		}
	}
	fmt.Fprintf(log, "done: %s in %s\n", s.Run.Dir, time.Since(start).Round(time.Second))
	return nil
}

func (s *trainer) numParams() int {
	n := 0
	for v := range s.Store.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

// initVariables creates the model's variables by building its loss once on
// the first batch (the batcher is rewound afterwards), then the EMA copies.
func (s *trainer) initVariables(b *data.Batcher) error {
	cfg := s.Run.Config
	st := b.State()
	xs, ys := b.Next()
	if err := b.Restore(st); err != nil {
		return err
	}
	if ys == nil {
		ys = make([]int32, cfg.Batch)
	}
	xShape := append([]int{cfg.Batch}, s.Train.Shape...)
	for _, p := range s.phases() {
		_, err := model.ExecOnce(s.Backend, s.Store, func(scope *model.Scope, x, y *Node) *Node {
			if p.Metrics != nil {
				loss, _ := p.Metrics(scope, x, y)
				return loss
			}
			return p.Loss(scope, x, y)
		}, tensors.FromFlatDataAndDimensions(xs, xShape...), tensors.FromFlatDataAndDimensions(ys, cfg.Batch))
		if err != nil {
			return fmt.Errorf("building model %s: %w", cfg.Model, err)
		}
	}
	if err := runs.LoadUsedRuns(s.Store, cfg); err != nil {
		return err
	}
	if cfg.EMA == 0 {
		return nil
	}
	var trainable []*model.Variable
	for v := range s.Store.IterVariables() {
		if v.Trainable {
			trainable = append(trainable, v)
		}
	}
	for _, v := range trainable {
		c, err := v.MustValue().Clone()
		if err != nil {
			return err
		}
		e, err := s.Store.CreateVariable("/"+runs.EMAScope+v.Path(), c)
		if err != nil {
			return fmt.Errorf("creating EMA of %s: %w", v.Path(), err)
		}
		e.SetTrainable(false)
	}
	return nil
}

// phases are the model's training phases: its own (models.Stepper), or the
// default step, one loss over every trainable variable with the run's
// optimizer.
func (s *trainer) phases() []models.Phase {
	if st, ok := s.Model.(models.Stepper); ok {
		return st.Phases()
	}
	return []models.Phase{{Loss: s.Model.Loss}}
}

// phaseStep is one compiled phase of the training step.
type phaseStep struct {
	models.Phase
	exec    *model.Exec
	peakLR  float64
	metrics *[]string // names of the exec's outputs after loss and norm; set when its graph is built
}

// label names the phase in errors ("" for the default step).
func (p phaseStep) label() string {
	if p.Name == "" {
		return ""
	}
	return " (" + p.Name + ")"
}

// buildPhases compiles every phase of the model's training step.
func (s *trainer) buildPhases() ([]phaseStep, error) {
	var out []phaseStep
	for _, p := range s.phases() {
		if (p.Loss == nil && p.Metrics == nil) || p.Repeat < 0 {
			return nil, fmt.Errorf("model %s: phase %q needs a loss and repeat >= 0", s.Run.Config.Model, p.Name)
		}
		names := new([]string)
		exec, peak, err := s.buildStep(p, names)
		if err != nil {
			for _, q := range out {
				q.exec.Finalize()
			}
			return nil, fmt.Errorf("phase %q: %w", p.Name, err)
		}
		out = append(out, phaseStep{Phase: p, exec: exec, peakLR: peak, metrics: names})
	}
	return out, nil
}

// newOptimizer builds a group's optimizer from its settings and the run's.
func (s *trainer) newOptimizer(o models.Optimizer) (gradientOptimizer, float64, error) {
	cfg := s.Run.Config
	lr, wd, b1, b2 := o.LR, o.WeightDecay, o.Beta1, o.Beta2
	if lr == 0 {
		lr = cfg.LR
	}
	if wd == 0 {
		wd = cfg.WeightDecay
	}
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if lr < 0 || wd < 0 || b1 < 0 || b1 >= 1 || b2 < 0 || b2 >= 1 {
		return nil, 0, fmt.Errorf("optimizer %+v: lr and weight decay must be >= 0, betas in [0, 1)", o)
	}
	var c *optimizer.AdamConfig
	switch o.Kind {
	case "", "adam", "adamw":
		c = optimizer.Adam()
	case "rmsprop":
		c = optimizer.RMSProp()
	default:
		return nil, 0, fmt.Errorf("unknown optimizer %q (adam, adamw or rmsprop)", o.Kind)
	}
	opt := c.LearningRate(lr).Betas(b1, b2).WeightDecay(wd).Done()
	gopt, ok := opt.(gradientOptimizer)
	if !ok {
		return nil, 0, errors.New("optimizer does not accept precomputed gradients")
	}
	return gopt, lr, nil
}

// buildStep compiles one optimization step of phase p: its loss, the
// gradients of its group, global-norm clipping, its optimizer with the
// host-computed learning rate, its After hook, then the EMA update of the
// group's variables. It returns the exec and the group's peak lr.
func (s *trainer) buildStep(p models.Phase, metrics *[]string) (*model.Exec, float64, error) {
	cfg := s.Run.Config
	gopt, peak, err := s.newOptimizer(p.Optimizer)
	if err != nil {
		return nil, 0, err
	}
	clip := p.Optimizer.ClipNorm
	if clip == 0 {
		clip = cfg.ClipNorm
	}
	exec, err := model.NewExec(s.Backend, s.Store, func(scope *model.Scope, x, y, lr, emaDecay *Node) []*Node {
		g := x.Graph()
		s.Store.SetTraining(g, true)
		var loss *Node
		var extra map[string]*Node
		if p.Metrics != nil {
			loss, extra = p.Metrics(scope, x, y)
		} else {
			loss = p.Loss(scope, x, y)
		}
		dt := loss.DType()
		group := scope
		if p.Scope != "" {
			group = scope.At("%s", p.Scope)
		}
		var vars []*model.Variable
		for v := range group.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				vars = append(vars, v)
			}
		}
		grads := group.BuildTrainableVariablesGradientsGraph(loss)
		// Sum the squared norms in variable-path order: the store's own order
		// differs between a fresh run (creation order) and a resumed one
		// (checkpoint order), and float addition is not associative.
		order := make([]int, len(grads))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return vars[order[a]].Path() < vars[order[b]].Path() })
		sumSq := ScalarZero(g, dt)
		for _, i := range order {
			sumSq = Add(sumSq, ReduceAllSum(Square(grads[i])))
		}
		norm := Sqrt(sumSq)
		if clip > 0 {
			// scale = min(1, c/‖g‖): leaves small gradients alone.
			scale := Min(ScalarOne(g, dt), Div(Scalar(g, dt, clip), Add(norm, Scalar(g, dt, 1e-6))))
			for i := range grads {
				grads[i] = Mul(grads[i], ConvertDType(scale, grads[i].DType()))
			}
		}
		optimizer.LearningRateVarWithValue(group, dt, peak).SetNodeValue(ConvertDType(lr, dt))
		gopt.UpdateGraphWithGradients(group, grads, dt)
		if p.After != nil {
			p.After(scope, g)
		}
		if cfg.EMA > 0 {
			for _, v := range vars {
				e := s.Store.GetVariable("/" + runs.EMAScope + v.Path())
				if e == nil {
					continue // created after the EMA was set up: nothing to average
				}
				d := ConvertDType(emaDecay, v.DType())
				ev := e.NodeValue(g)
				e.SetNodeValue(Add(Mul(ev, d), Mul(v.NodeValue(g), OneMinus(d))))
			}
		}
		outs := []*Node{ConvertDType(loss, dtypes.Float32), ConvertDType(norm, dtypes.Float32)}
		*metrics = metricNames(extra)
		for _, name := range *metrics {
			outs = append(outs, ConvertDType(ReduceAllMean(extra[name]), dtypes.Float32))
		}
		return outs
	})
	return exec, peak, err
}

// stepLabel is the progress bar's loss text: the loss, or each phase's.
func stepLabel(phases []phaseStep, last []float64, loss float64) string {
	if len(phases) == 1 {
		return fmt.Sprintf("loss %.4f", loss)
	}
	parts := make([]string, len(phases))
	for i, p := range phases {
		parts[i] = fmt.Sprintf("%s %.4f", p.Name, last[i])
	}
	return strings.Join(parts, "  ")
}

// metricNames are a phase's metric names in order.
func metricNames(m map[string]*Node) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (s *trainer) writeLossPlot() error {
	ms, err := s.Run.ReadMetrics()
	if err != nil || len(ms) < 2 {
		return err
	}
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = float64(m.Step)
	}
	title := fmt.Sprintf("%s on %s: training loss", s.Run.Config.Model, s.Run.Config.Data)
	if len(ms[0].Losses) == 0 {
		ys := make([]float64, len(ms))
		for i, m := range ms {
			ys[i] = m.Loss
		}
		return viz.Curves(s.Run.LossPlotPath(), viz.CurveOptions{Title: title, XLabel: "step", YLabel: "loss", LogY: true},
			viz.CurveSeries{Name: "loss", X: xs, Y: ys})
	}
	// One curve per phase (a GAN's two players), on a linear axis: a
	// critic's loss is negative.
	var series []viz.CurveSeries
	for _, p := range s.phases() {
		ys := make([]float64, len(ms))
		for i, m := range ms {
			ys[i] = m.Losses[p.Name]
		}
		series = append(series, viz.CurveSeries{Name: p.Name, X: xs, Y: ys})
	}
	return viz.Curves(s.Run.LossPlotPath(), viz.CurveOptions{Title: title + "es", XLabel: "step", YLabel: "loss", Smooth: 5}, series...)
}
