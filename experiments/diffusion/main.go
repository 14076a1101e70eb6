// Command diffusion runs the diffusion-family experiments written up in
// docs/EXPERIMENTS.md: DDIM steps against DDPM ancestral sampling, the
// classifier-free guidance sweep, uniform against logit-normal time
// sampling, reflow, and progressive distillation. Every number it prints is
// measured here; pictures and a results.json go to -out.
//
//	GOEXPERIMENT=simd go run ./experiments/diffusion -out docs/experiments
//
// -quick shrinks every budget (a smoke run of the whole pipeline).
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"genmod/eval"
	"genmod/experiments/internal/expt"
	"genmod/models"
	_ "genmod/models/all"
	"genmod/models/diffusion"
	"genmod/runs"
	"genmod/viz"
)

var (
	outDir  = flag.String("out", "docs/experiments", "folder for pictures and results.json")
	workDir = flag.String("work", filepath.Join(os.TempDir(), "genmod-experiments"), "folder for the training runs (reused when present)")
	quick   = flag.Bool("quick", false, "tiny budgets: check that everything runs")
	only    = flag.String("only", "", "run one experiment: ddim, cfg, tsampling, reflow, distill, ddim-images, cfg-images")
)

var results []expt.Row

func main() {
	flag.Parse()
	parts := []expt.Part{
		{Name: "ddim", Run: ddimVsDDPM}, {Name: "tsampling", Run: tSampling}, {Name: "reflow", Run: reflow},
		{Name: "distill", Run: distill}, {Name: "cfg", Run: cfgSweep},
		{Name: "ddim-images", Run: ddimImages}, {Name: "cfg-images", Run: cfgImages},
	}
	expt.Main(*outDir, *only, parts, save)
}

// save merges this invocation's rows into results.json (rows of experiments
// not re-run are kept).
func save() error {
	return expt.MergeRows(filepath.Join(*outDir, "results.json"), results, func(r expt.Row) string { return r.Experiment })
}

func steps(n int) int {
	if *quick {
		return max(n/20, 20)
	}
	return n
}

// trainRun trains cfg into workDir/name unless a finished run is there.
func trainRun(name string, cfg runs.Config) (string, error) {
	return expt.Runs{Dir: *workDir}.Trained(name, cfg, 0)
}

// moons is the 2-D configuration the experiments share: an unconditional
// MLP (256x3) at batch 256.
func moons(model string) runs.Config {
	c := runs.DefaultConfig()
	c.Model, c.Data, c.Batch, c.LR = model, "moons", 256, 2e-3
	c.Set("conditional", false)
	c.LogEvery, c.CheckpointEvery = 50, 0
	return c
}

// evaluate draws 2000 samples with the given sampler settings (timed) and
// scores them against the test split with W2, MMD and sliced W2.
func evaluate(run string, so runs.SampleOptions) (map[string]float64, []float32, error) {
	s, err := runs.Open(run, "")
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	const n = 2000
	so.N, so.Class = n, -1
	if so.Labels == nil && s.Test.Y != nil {
		if c, ok := s.Model.(models.Conditional); ok && c.NumClasses() > 0 {
			so.Labels = s.Test.Y[:n]
		}
	}
	start := time.Now()
	sm, err := s.Sample(so)
	if err != nil {
		return nil, nil, err
	}
	m, err := pointMetrics(rows(sm.X, n), rows(s.Test.X, n))
	if err != nil {
		return nil, nil, err
	}
	m["sample_seconds"] = time.Since(start).Seconds()
	return m, sm.X, nil
}

// pointMetrics is W2, MMD (median-heuristic bandwidths) and sliced W2.
func pointMetrics(a, b [][]float64) (map[string]float64, error) {
	w2, err := eval.W2(a, b)
	if err != nil {
		return nil, err
	}
	bw, err := eval.DefaultBandwidths(a, b)
	if err != nil {
		return nil, err
	}
	mmd, err := eval.MMD(a, b, bw)
	if err != nil {
		return nil, err
	}
	swd, err := eval.SlicedW(a, b, 256, 1)
	if err != nil {
		return nil, err
	}
	return map[string]float64{"w2": w2, "mmd": mmd, "swd": swd}, nil
}

// floor is W2/MMD/SWD between the test split and as many training points:
// the value a perfect model reaches with 2000 samples.
func floor(run string) (map[string]float64, error) {
	s, err := runs.Open(run, "")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	const n = 2000
	return pointMetrics(rows(s.Test.X, n), rows(s.Train.X, n))
}

func rows(x []float32, n int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = []float64{float64(x[2*i]), float64(x[2*i+1])}
	}
	return out
}

func record(exp, run, setting string, m map[string]float64) {
	results = append(results, expt.Row{Experiment: exp, Run: filepath.Base(run), Setting: setting, Metrics: m})
	fmt.Printf("   %-28s", setting)
	for _, k := range []string{"w2", "mmd", "swd", "sample_seconds", "accuracy", "straightness"} {
		if v, ok := m[k]; ok {
			fmt.Printf("  %s %.4g", k, v)
		}
	}
	fmt.Println()
}

// scatter writes panels of 2-D points to out/name, three panels per
// picture (name, name-2, ...) so each stays readable.
func scatter(name, title string, panels []viz.Panel) error {
	ext := filepath.Ext(name)
	for i := 0; i < len(panels); i += 3 {
		file := name
		if i > 0 {
			file = fmt.Sprintf("%s-%d%s", name[:len(name)-len(ext)], i/3+1, ext)
		}
		opts := viz.ScatterOptions{Title: title, Limits: &viz.Bounds{XMin: -3.5, XMax: 3.5, YMin: -2.2, YMax: 2.7}}
		if err := viz.ScatterPanels(filepath.Join(*outDir, file), opts, panels[i:min(i+3, len(panels))]...); err != nil {
			return err
		}
	}
	return nil
}

// Experiment 1: the seed's claim that 20–100 DDIM steps match 1000 DDPM steps.
func ddimVsDDPM() error {
	cfg := moons("ddpm")
	cfg.Steps = steps(4000)
	run, err := trainRun("ddpm-moons", cfg)
	if err != nil {
		return err
	}
	fl, err := floor(run)
	if err != nil {
		return err
	}
	record("ddim", run, "data floor (test vs train)", fl)
	var panels []viz.Panel
	for _, c := range []struct {
		label string
		so    runs.SampleOptions
	}{
		{"ddpm ancestral, 1000 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddpm", Steps: 1000}}},
		{"ddim η=0, 10 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 10}}},
		{"ddim η=0, 20 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 20}}},
		{"ddim η=0, 50 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 50}}},
		{"ddim η=0, 100 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 100}}},
		{"ddim η=1, 100 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 100, Eta: 1}}},
		{"ddpm ancestral, 100 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "ddpm", Steps: 100}}},
		{"pf-ode rk45 (tol 1e-3)", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "rk45", RTol: 1e-3, ATol: 1e-3}}},
		{"reverse sde, 1000 steps", runs.SampleOptions{Model: diffusion.SampleOptions{Sampler: "sde", Steps: 1000}}},
	} {
		c.so.Seed = 7
		m, x, err := evaluate(run, c.so)
		if err != nil {
			return err
		}
		record("ddim", run, c.label, m)
		panels = append(panels, viz.Panel{Title: fmt.Sprintf("%s: W2 %.3f", c.label, m["w2"]), Series: []viz.Series{{XY: x}}})
	}
	return scatter("ddim-vs-ddpm.png", fmt.Sprintf("DDPM (ε, T=1000) on moons, %d training steps", cfg.Steps), panels)
}

// Experiment 3: uniform vs logit-normal t at equal budget.
func tSampling() error {
	for _, data := range []string{"moons", "checkerboard"} {
		var panels []viz.Panel
		for _, ts := range []string{"uniform", "logit-normal"} {
			cfg := moons("rf")
			cfg.Data, cfg.Steps = data, steps(2000)
			cfg.Set("t-sampling", ts)
			run, err := trainRun(fmt.Sprintf("rf-%s-%s", data, ts), cfg)
			if err != nil {
				return err
			}
			if ts == "uniform" {
				fl, err := floor(run)
				if err != nil {
					return err
				}
				record("tsampling", run, data+": data floor", fl)
			}
			for _, n := range []int{10, 50} {
				m, x, err := evaluate(run, runs.SampleOptions{Seed: 7, Model: diffusion.SampleOptions{Sampler: "euler", Steps: n}})
				if err != nil {
					return err
				}
				record("tsampling", run, fmt.Sprintf("%s: %s t, euler %d", data, ts, n), m)
				if n == 50 {
					panels = append(panels, viz.Panel{Title: fmt.Sprintf("%s t: W2 %.3f", ts, m["w2"]), Series: []viz.Series{{XY: x}}})
				}
			}
		}
		if err := viz.ScatterPanels(filepath.Join(*outDir, "tsampling-"+data+".png"), viz.ScatterOptions{Title: "rectified flow on " + data + ", equal budget"}, panels...); err != nil {
			return err
		}
	}
	return nil
}

// straightness of a run's PF-ODE (20 Euler steps, 2000 paths).
func straightness(run string) (float64, error) {
	s, err := runs.Open(run, "")
	if err != nil {
		return 0, err
	}
	defer s.Close()
	m, ok := s.Model.(interface {
		Straightness(rt *models.Runtime, req models.SampleRequest, steps int) (float64, error)
	})
	if !ok {
		return math.NaN(), nil
	}
	return m.Straightness(s.Runtime(true), models.SampleRequest{N: 2000, Seed: 3}, 20)
}

// Experiment 4: reflow straightens the paths of the moons rectified flow.
func reflow() error {
	teacher := filepath.Join(*workDir, "rf-moons-uniform")
	if _, err := os.Stat(teacher); err != nil {
		return fmt.Errorf("run the tsampling experiment first (it trains the teacher %s)", teacher)
	}
	tcfg, err := runs.OpenRun(teacher)
	if err != nil {
		return err
	}
	cfg := tcfg.Config
	cfg.Teacher, cfg.Distill, cfg.DistillSteps, cfg.TeacherSteps = teacher, "reflow", 1, 20
	cfg.Steps, cfg.LR, cfg.Warmup = steps(1000), cfg.LR/2, 20
	student, err := trainRun("rf-moons-reflow", cfg)
	if err != nil {
		return err
	}
	var panels []viz.Panel
	for _, r := range []struct{ name, run string }{{"1-rectified (teacher)", teacher}, {"2-rectified (reflow)", student}} {
		st, err := straightness(r.run)
		if err != nil {
			return err
		}
		for _, n := range []int{1, 2, 4, 50} {
			m, x, err := evaluate(r.run, runs.SampleOptions{Seed: 7, Model: diffusion.SampleOptions{Sampler: "euler", Steps: n}})
			if err != nil {
				return err
			}
			m["straightness"] = st
			record("reflow", r.run, fmt.Sprintf("%s, euler %d", r.name, n), m)
			if n == 1 {
				panels = append(panels, viz.Panel{Title: fmt.Sprintf("%s, 1 step: W2 %.3f", r.name, m["w2"]), Series: []viz.Series{{XY: x}}})
			}
		}
	}
	return scatter("reflow.png", "reflow on moons: one Euler step", panels)
}

// Experiment 5: progressive distillation from 32 DDIM steps down to 1.
func distill() error {
	teacher := filepath.Join(*workDir, "rf-moons-uniform")
	if _, err := os.Stat(teacher); err != nil {
		return fmt.Errorf("run the tsampling experiment first (it trains the teacher %s)", teacher)
	}
	m, x, err := evaluate(teacher, runs.SampleOptions{Seed: 7, Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 32}})
	if err != nil {
		return err
	}
	record("distill", teacher, "teacher, ddim 32", m)
	panels := []viz.Panel{{Title: fmt.Sprintf("teacher, 32 steps: W2 %.3f", m["w2"]), Series: []viz.Series{{XY: x}}}}
	prev := teacher
	for n := 16; n >= 1; n /= 2 {
		tcfg, err := runs.OpenRun(prev)
		if err != nil {
			return err
		}
		cfg := tcfg.Config
		cfg.Teacher, cfg.Distill, cfg.DistillSteps, cfg.TeacherSteps = prev, "progressive", n, 2
		cfg.Steps, cfg.LR, cfg.Warmup = steps(600), 1e-3, 20
		run, err := trainRun(fmt.Sprintf("rf-moons-distill-%d", n), cfg)
		if err != nil {
			return err
		}
		tm, _, err := evaluate(teacher, runs.SampleOptions{Seed: 7, Model: diffusion.SampleOptions{Sampler: "ddim", Steps: n}})
		if err != nil {
			return err
		}
		record("distill", teacher, fmt.Sprintf("teacher, ddim %d", n), tm)
		sm, x, err := evaluate(run, runs.SampleOptions{Seed: 7, Model: diffusion.SampleOptions{Sampler: "ddim", Steps: n}})
		if err != nil {
			return err
		}
		record("distill", run, fmt.Sprintf("student, ddim %d", n), sm)
		if n <= 4 {
			panels = append(panels, viz.Panel{Title: fmt.Sprintf("student, %d step(s): W2 %.3f", n, sm["w2"]), Series: []viz.Series{{XY: x}}})
		}
		prev = run
	}
	return scatter("distill.png", "progressive distillation of the moons rectified flow", panels)
}

// Experiment 2: classifier-free guidance on a class-conditional rectified
// flow of the 5-arm pinwheel: accuracy = share of samples whose nearest
// test point has the class they were drawn for; W2 against the test split
// (same class mix) measures what guidance costs in fidelity.
func cfgSweep() error {
	cfg := moons("rf")
	cfg.Data, cfg.Steps = "pinwheel", steps(3000)
	cfg.Set("conditional", true)
	cfg.Set("label-dropout", 0.2)
	run, err := trainRun("rf-pinwheel-cond", cfg)
	if err != nil {
		return err
	}
	s, err := runs.Open(run, "")
	if err != nil {
		return err
	}
	defer s.Close()
	const n = 2000
	labels := s.Test.Y[:n]
	var panels []viz.Panel
	for _, w := range []float64{0, 0.5, 1, 2, 4} {
		so := runs.SampleOptions{Seed: 7, Labels: labels, Model: diffusion.SampleOptions{Sampler: "euler", Steps: 50, Guidance: w}}
		m, x, err := evaluate(run, so)
		if err != nil {
			return err
		}
		m["accuracy"] = nnAccuracy(x, labels, s.Test.X, s.Test.Y)
		record("cfg", run, fmt.Sprintf("w = %g", w), m)
		if w == 0 || w == 1 || w == 4 {
			panels = append(panels, viz.Panel{Title: fmt.Sprintf("w = %g: accuracy %.3f, W2 %.3f", w, m["accuracy"], m["w2"]), Series: byClass(x, labels, s.Info.NumClasses)})
		}
	}
	return viz.ScatterPanels(filepath.Join(*outDir, "cfg-pinwheel.png"), viz.ScatterOptions{Title: "classifier-free guidance, rectified flow on pinwheel (colour = requested class)"}, panels...)
}

// nnAccuracy is the share of samples whose nearest reference point has the
// sample's requested label.
func nnAccuracy(x []float32, labels []int32, ref []float32, refY []int32) float64 {
	hits := 0
	for i := range labels {
		best, bestD := int32(-1), math.Inf(1)
		for j := range refY {
			dx, dy := float64(x[2*i]-ref[2*j]), float64(x[2*i+1]-ref[2*j+1])
			if d := dx*dx + dy*dy; d < bestD {
				best, bestD = refY[j], d
			}
		}
		if best == labels[i] {
			hits++
		}
	}
	return float64(hits) / float64(len(labels))
}

// byClass splits points into one series per label.
func byClass(x []float32, labels []int32, k int) []viz.Series {
	series := make([]viz.Series, k)
	for c := range series {
		series[c].Name = fmt.Sprintf("class %d", c)
	}
	for i, l := range labels {
		series[l].XY = append(series[l].XY, x[2*i], x[2*i+1])
	}
	return series
}

// fashionDDPM is the image model of experiments 1 and 2: a class-conditional
// DDPM (ε-prediction, T = 1000, linear β) with the default U-Net on the full
// Fashion-MNIST train split, label dropout 0.1 for guidance.
func fashionDDPM() (string, error) {
	c := runs.DefaultConfig()
	c.Model, c.Data, c.Batch, c.LR = "ddpm", "fashion-mnist", 32, 2e-3
	c.Set("label-dropout", 0.1)
	c.Steps, c.SampleEvery = steps(3000), 1000
	return trainRun("fm-ddpm", c)
}

// imageEval scores n samples drawn with so against a seeded random subset
// of the Fashion-MNIST test split with genmod's feature classifier: Fréchet
// distance (with its floor at the same n), KID and class accuracy.
func imageEval(run string, n int, so runs.SampleOptions) (map[string]float64, error) {
	s, err := runs.Open(run, "")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rep, err := eval.Evaluate(s, eval.Options{Metrics: []string{"fd", "kid", "acc"}, N: n, Sample: so, Seed: 1})
	if err != nil {
		return nil, err
	}
	m := map[string]float64{"sample_seconds": rep.SampleSeconds, "n": float64(n)}
	for _, r := range rep.Results {
		m[r.Metric] = r.Value
		var floor float64
		if _, err := fmt.Sscanf(r.Note, "floor (train vs test, same n) %g", &floor); err == nil {
			m["fd_floor"] = floor
		}
	}
	fmt.Printf("   %-28s  fd %.4g (floor %.4g)  kid %.4g  acc %.4g  %.0f s\n", samplerLabel(so), m["fd"], m["fd_floor"], m["kid"], m["acc"], m["sample_seconds"])
	return m, nil
}

func samplerLabel(so runs.SampleOptions) string {
	do, _ := so.Model.(diffusion.SampleOptions)
	l := fmt.Sprintf("%s %d", do.Sampler, do.Steps)
	if do.Sampler == "ddim" {
		l = fmt.Sprintf("ddim η=%g, %d steps", do.Eta, do.Steps)
	}
	if do.Guidance != 0 {
		l += fmt.Sprintf(", w = %g", do.Guidance)
	}
	return l
}

// classRows draws one sample per class (same noise seed in every row) for
// each sampler setting and writes them as a grid, one row per setting.
func classRows(run, name, title string, settings []runs.SampleOptions, labels []string) error {
	s, err := runs.Open(run, "")
	if err != nil {
		return err
	}
	defer s.Close()
	var all []float32
	for _, so := range settings {
		so.N, so.Class, so.Seed = 10, -1, 11
		so.Labels = []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		sm, err := s.Sample(so)
		if err != nil {
			return err
		}
		all = append(all, sm.X...)
	}
	return viz.ImageGrid(filepath.Join(*outDir, name), all, len(settings)*10, 28, 28, 1,
		viz.GridOptions{Cols: 10, RowLabels: labels, Title: title})
}

// Experiment 1 on images: DDIM at 10–100 steps against 1000 ancestral
// steps of the same Fashion-MNIST DDPM, by Fréchet distance. 1000 network
// passes per sample make DDPM the expensive row, hence n = 200 (FD is
// biased upward at small n: compare rows with each other and the floor).
func ddimImages() error {
	run, err := fashionDDPM()
	if err != nil {
		return err
	}
	n := 200
	if *quick {
		n = 50
	}
	settings := []runs.SampleOptions{
		{Model: diffusion.SampleOptions{Sampler: "ddpm", Steps: 1000}},
		{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 10}},
		{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 20}},
		{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 50}},
		{Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 100}},
		{Model: diffusion.SampleOptions{Sampler: "ddpm", Steps: 100}},
	}
	var labels []string
	for _, so := range settings {
		so.Seed = 7
		m, err := imageEval(run, n, so)
		if err != nil {
			return err
		}
		record("ddim-images", run, samplerLabel(so), m)
		labels = append(labels, samplerLabel(so))
	}
	return classRows(run, "ddim-vs-ddpm-fashion.png", "Fashion-MNIST DDPM: one sample per class (same noise) per sampler", settings, labels)
}

// Experiment 2 on images: the guidance weight against Fréchet distance and
// the feature classifier's accuracy on the requested classes (DDIM 20
// steps, guided ε = (1+w)·ε_y − w·ε_∅).
func cfgImages() error {
	run, err := fashionDDPM()
	if err != nil {
		return err
	}
	n := 500
	if *quick {
		n = 50
	}
	var settings []runs.SampleOptions
	var labels []string
	for _, w := range []float64{0, 0.5, 1, 2, 4} {
		so := runs.SampleOptions{Seed: 7, Model: diffusion.SampleOptions{Sampler: "ddim", Steps: 20, Guidance: w}}
		m, err := imageEval(run, n, so)
		if err != nil {
			return err
		}
		record("cfg-images", run, fmt.Sprintf("w = %g", w), m)
		settings = append(settings, so)
		labels = append(labels, fmt.Sprintf("w = %g", w))
	}
	return classRows(run, "cfg-fashion.png", "classifier-free guidance, Fashion-MNIST DDPM, DDIM 20 steps: one sample per class (same noise) per w", settings, labels)
}
