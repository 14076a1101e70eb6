// Command gan measures seed 000's claims about adversarial training on the
// GAN literature's mode-coverage benchmarks (docs/EXPERIMENTS.md, "GANs:
// mode coverage and stability"):
//
//   - modes: the original minimax generator loss against the
//     non-saturating one, and k = 1 against k = 5 discriminator steps per
//     generator step, on ring8 and grid25 (VEEGAN, Srivastava et al. 2017,
//     Table 1; PacGAN, Lin et al. 2018);
//   - wgan: gan (ns) against wgan (weight clipping) and wgan-gp on ring8
//     over three seeds, with the critic's W1 estimate over training.
//
// Every run is unconditional (the toys' labels are their modes, which a
// conditional generator would be handed) and otherwise at the model's
// defaults. Each run is scored on 2,500 samples from its EMA generator:
// modes recovered (at least 20 samples within 3σ of the mode's centre),
// the share of high-quality samples (within 3σ of the nearest centre), and
// the exact W2 to 2,000 test points, next to the floor (2,000 training
// points against the same test points).
//
//	GOEXPERIMENT=simd go run ./experiments/gan
//	GOEXPERIMENT=simd go run ./experiments/gan -only wgan -steps 2000
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"genmod/data"
	"genmod/eval"
	"genmod/experiments/internal/expt"
	_ "genmod/models/all"
	"genmod/runs"
	"genmod/viz"
)

var (
	outDir  = flag.String("out", "docs/experiments", "folder for gan.json and the figures")
	workDir = flag.String("work", filepath.Join(os.TempDir(), "genmod-gan"), "folder for the training runs (reused when finished)")
	only    = flag.String("only", "", "run one part: modes or wgan")
	steps   = flag.Int("steps", 3000, "training steps (generator updates) of the modes part")
	wSteps  = flag.Int("wgan-steps", 2000, "training steps of the wgan part")
	noTrain = flag.Bool("no-train", false, "only measure the runs already in -work")
)

// Samples drawn per run (VEEGAN's protocol) and a mode's minimum count.
const (
	nSamples = 2500
	minCount = 20
	nTest    = 2000
)

var rows []expt.Row

func main() {
	flag.Parse()
	expt.Main(*outDir, *only, []expt.Part{{Name: "modes", Run: modes}, {Name: "wgan", Run: wgans}}, func() error {
		return expt.MergeRows(filepath.Join(*outDir, "gan.json"), rows, expt.Row.Key)
	})
}

type setting struct {
	name, model string
	set         map[string]any
}

func modes() error {
	settings := []setting{
		{"ns, k=1", "gan", map[string]any{"g-loss": "ns", "d-steps": 1}},
		{"minimax, k=1", "gan", map[string]any{"g-loss": "minimax", "d-steps": 1}},
		{"ns, k=5", "gan", map[string]any{"g-loss": "ns", "d-steps": 5}},
		{"minimax, k=5", "gan", map[string]any{"g-loss": "minimax", "d-steps": 5}},
	}
	for _, ds := range []string{"ring8", "grid25"} {
		var panels []viz.Panel
		for _, st := range settings {
			r, pts, err := trainAndScore("modes", ds, st, 1, *steps)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			panels = append(panels, viz.Panel{Title: fmt.Sprintf("%s: %d modes, %.0f%% hq", st.name, int(r.Metrics["modes"]), 100*r.Metrics["high_quality"]),
				Series: []viz.Series{{XY: pts}}})
		}
		if err := viz.ScatterPanels(filepath.Join(*outDir, "gan-modes-"+ds+".png"),
			viz.ScatterOptions{Title: fmt.Sprintf("gan on %s, %d steps: generator loss and discriminator steps", ds, *steps)}, panels...); err != nil {
			return err
		}
	}
	return nil
}

func wgans() error {
	settings := []setting{
		{"gan (ns)", "gan", nil},
		{"wgan (clip)", "wgan", nil},
		{"wgan-gp", "wgan-gp", nil},
	}
	var panels []viz.Panel
	var curves []viz.CurveSeries
	for _, st := range settings {
		for seed := int64(1); seed <= 3; seed++ {
			r, pts, err := trainAndScore("wgan", "ring8", st, seed, *wSteps)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			if seed == 1 {
				panels = append(panels, viz.Panel{Title: fmt.Sprintf("%s: %d modes, W2 %.3f", st.name, int(r.Metrics["modes"]), r.Metrics["w2"]),
					Series: []viz.Series{{XY: pts}}})
			}
			if st.model != "gan" {
				xs, ys, err := loggedValue(filepath.Join(*workDir, runDir("wgan", "ring8", st, seed)), "critic/w1")
				if err != nil {
					return err
				}
				curves = append(curves, viz.CurveSeries{Name: fmt.Sprintf("%s seed %d", st.name, seed), X: xs, Y: ys})
			}
		}
	}
	if err := viz.ScatterPanels(filepath.Join(*outDir, "gan-wgan-ring8.png"),
		viz.ScatterOptions{Title: fmt.Sprintf("ring8, %d steps, seed 1", *wSteps)}, panels...); err != nil {
		return err
	}
	return viz.Curves(filepath.Join(*outDir, "gan-critic-w1.png"), viz.CurveOptions{
		Title: "ring8: the critic's W1 estimate, mean f(x) − mean f(G(z))", XLabel: "step", YLabel: "W1 estimate", Smooth: 5}, curves...)
}

func runDir(part, ds string, st setting, seed int64) string {
	name := strings.NewReplacer(" ", "", ",", "-", "=", "", "(", "", ")", "").Replace(st.name)
	return fmt.Sprintf("%s-%s-%s-seed%d", part, ds, name, seed)
}

// trainAndScore trains (or reuses) one run and scores its samples; it
// returns the row and the samples for the figure.
func trainAndScore(part, ds string, st setting, seed int64, nSteps int) (expt.Row, []float32, error) {
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Steps, cfg.Seed = st.model, ds, nSteps, seed
	cfg.CheckpointEvery, cfg.LogEvery = 0, 20
	cfg.Set("conditional", false)
	for k, v := range st.set {
		cfg.Set(k, v)
	}
	dir, err := expt.Runs{Dir: *workDir, NoTrain: *noTrain}.Trained(runDir(part, ds, st, seed), cfg, 0)
	if err != nil {
		return expt.Row{}, nil, err
	}
	s, err := runs.Open(dir, "")
	if err != nil {
		return expt.Row{}, nil, err
	}
	defer s.Close()
	sm, err := s.Sample(runs.SampleOptions{N: nSamples, Class: -1, Seed: 7})
	if err != nil {
		return expt.Row{}, nil, err
	}
	centers, sigma := modeCenters(ds)
	pts := points(sm.X)
	cov, err := eval.ModeCoverage(pts, centers, sigma, minCount)
	if err != nil {
		return expt.Row{}, nil, err
	}
	test := points(s.Test.X[:2*nTest])
	w2, err := eval.W2(pts[:nTest], test)
	if err != nil {
		return expt.Row{}, nil, err
	}
	floor, err := eval.W2(points(s.Train.X[:2*nTest]), test)
	if err != nil {
		return expt.Row{}, nil, err
	}
	m := map[string]float64{"modes": float64(cov.Modes), "of": float64(len(centers)), "high_quality": cov.HighQuality,
		"w2": w2, "w2_floor": floor}
	if err := lastValues(dir, m); err != nil {
		return expt.Row{}, nil, err
	}
	r := expt.Row{Experiment: part, Run: fmt.Sprintf("%s %s", st.model, ds), Setting: fmt.Sprintf("%s seed %d", st.name, seed), Metrics: m}
	fmt.Printf("   %-8s %-14s seed %d: %2d/%d modes, %5.1f%% high quality, W2 %.4f (floor %.4f)\n",
		ds, st.name, seed, cov.Modes, len(centers), 100*cov.HighQuality, w2, floor)
	return r, sm.X, nil
}

// modeCenters are the data set's mode centres and σ.
func modeCenters(ds string) ([][]float64, float64) {
	var c [][2]float64
	sigma := data.Ring8Std
	if ds == "grid25" {
		c, sigma = data.GridCenters(), data.Grid25Std
	} else {
		c = data.RingCenters()
	}
	out := make([][]float64, len(c))
	for i, p := range c {
		out[i] = []float64{p[0], p[1]}
	}
	return out, sigma
}

// lastValues adds the last logged phase metrics and losses to m
// (d_real, d_fake or w1, gp; the two players' losses), means over the
// last tenth of training.
func lastValues(dir string, m map[string]float64) error {
	run, err := runs.OpenRun(dir)
	if err != nil {
		return err
	}
	ms, err := run.ReadMetrics()
	if err != nil || len(ms) == 0 {
		return err
	}
	tail := ms[len(ms)-max(1, len(ms)/10):]
	sums := map[string]float64{}
	for _, x := range tail {
		for k, v := range x.Values {
			sums[k] += v
		}
		for k, v := range x.Losses {
			sums["loss_"+k] += v
		}
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m[strings.ReplaceAll(k, "/", "_")] = sums[k] / float64(len(tail))
	}
	return nil
}

// loggedValue reads one phase metric ("critic/w1") of a run over training.
func loggedValue(dir, key string) ([]float64, []float64, error) {
	run, err := runs.OpenRun(dir)
	if err != nil {
		return nil, nil, err
	}
	ms, err := run.ReadMetrics()
	if err != nil {
		return nil, nil, err
	}
	var xs, ys []float64
	for _, m := range ms {
		if v, ok := m.Values[key]; ok && !math.IsNaN(v) {
			xs, ys = append(xs, float64(m.Step)), append(ys, v)
		}
	}
	return xs, ys, nil
}

func points(x []float32) [][]float64 {
	out := make([][]float64, len(x)/2)
	for i := range out {
		out[i] = []float64{float64(x[2*i]), float64(x[2*i+1])}
	}
	return out
}
