// Command vae runs the variational-autoencoder experiments written up in
// docs/EXPERIMENTS.md ("Variational autoencoders") on binarized MNIST, the
// protocol of Burda et al. (2016) and Rezende & Mohamed (2015):
//
//   - objectives: a VAE (ELBO), an IWAE (K = 5) and a VAE with an 8-layer
//     planar-flow posterior, same net and budget; test −ELBO and the
//     negative IWAE bound with k = 5000 (the paper's NLL estimate), nats;
//   - bounds: on the VAE, −IWAE_k for k = 1 … 5000 on the same test
//     examples: the bound tightens monotonically toward log p(x);
//   - pictures: samples and latent interpolations (decoding the straight
//     line between two test digits' posterior means).
//
// Every number it prints is measured here; vae.json and pictures go to -out.
//
//	GOEXPERIMENT=simd go run ./experiments/vae -work runs/vae -only objectives
//
// -quick shrinks every budget (a smoke run of the pipeline).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"genmod/eval"
	"genmod/experiments/internal/expt"
	"genmod/models"
	_ "genmod/models/all"
	"genmod/runs"
	"genmod/viz"
)

var (
	outDir  = flag.String("out", "docs/experiments", "folder for pictures and vae.json")
	workDir = flag.String("work", filepath.Join(os.TempDir(), "genmod-vae-exp"), "folder for the training runs (reused when finished)")
	only    = flag.String("only", "", "run one part: objectives, bounds or pictures")
	quick   = flag.Bool("quick", false, "tiny budgets: check that everything runs")
	nTest   = flag.Int("n", 1000, "test examples scored (a seeded random subset of the 10,000)")
	kMax    = flag.Int("k", 5000, "importance samples of the NLL estimate")
	steps   = flag.Int("steps", 30000, "training steps of every model (batch 100: 50 epochs)")
	noTrain = flag.Bool("no-train", false, "only measure the runs already finished in -work; skip the others")
	runList = flag.String("runs", "", "comma-separated runs of objectives and pictures (default: all)")
)

var results []expt.Row

func main() {
	flag.Parse()
	if *quick {
		*nTest, *kMax, *steps = 50, 50, 200
	}
	save := func() error {
		return expt.MergeRows(filepath.Join(*outDir, "vae.json"), results, expt.Row.Key)
	}
	expt.Main(*outDir, *only, []expt.Part{{Name: "objectives", Run: objectives}, {Name: "bounds", Run: bounds}, {Name: "pictures", Run: pictures}}, save)
}

// model is one trained configuration: the README's commands.
type model struct {
	name, kind string
	k, flows   int
	paper      string // the published number for this objective, for the table
}

var modelList = []model{
	{"mnist-vae", "vae", 1, 0, "86.76 (Burda et al., VAE k = 1)"},
	{"mnist-iwae5", "iwae", 5, 0, "85.54 (Burda et al., IWAE k = 5)"},
	{"mnist-vae-planar8", "vae", 1, 8, "—  (Rezende & Mohamed: K = 80 ≤ 85.1, amortized flows)"},
}

// picked is modelList, or the runs named by -runs.
func picked() []model {
	if *runList == "" {
		return modelList
	}
	var out []model
	for _, m := range modelList {
		if slices.Contains(strings.Split(*runList, ","), m.name) {
			out = append(out, m)
		}
	}
	return out
}

func config(m model) runs.Config {
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Binarize = m.kind, "mnist", "dynamic"
	cfg.Steps, cfg.Batch, cfg.EMA, cfg.LogEvery = *steps, 100, 0, 1000
	cfg.Set("k", m.k)
	cfg.Set("layers", m.flows)
	return cfg
}

// trained returns the run folder of m, training it unless finished
// (expt.ErrSkipped under -no-train).
func trained(m model) (string, error) {
	return expt.Runs{Dir: *workDir, NoTrain: *noTrain}.Trained(m.name, config(m), 0)
}

// score evaluates metrics on the run's test subset with k samples.
func score(run string, k int, metrics ...string) (map[string]float64, error) {
	s, err := runs.Open(run, "")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rep, err := eval.Evaluate(s, eval.Options{Metrics: metrics, N: *nTest, K: k, Seed: 1})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, r := range rep.Results {
		out[r.Metric] = r.Value
	}
	return out, nil
}

func objectives() error {
	fmt.Printf("%-20s %12s %14s %10s  %s\n", "run", "-ELBO", fmt.Sprintf("-IWAE_%d", *kMax), "train", "published NLL")
	for _, m := range picked() {
		run, err := trained(m)
		if errors.Is(err, expt.ErrSkipped) {
			fmt.Printf("%-20s not trained (-no-train)\n", m.name)
			continue
		} else if err != nil {
			return err
		}
		got, err := score(run, *kMax, "elbo", "iwae")
		if err != nil {
			return err
		}
		r, err := runs.OpenRun(run)
		if err != nil {
			return err
		}
		ms, err := r.ReadMetrics()
		if err != nil || len(ms) == 0 {
			return fmt.Errorf("%s: no metrics (%v)", run, err)
		}
		got["train_seconds"] = ms[len(ms)-1].Elapsed
		got["steps"] = float64(ms[len(ms)-1].Step)
		results = append(results, expt.Row{Experiment: "objectives", Run: m.name, Setting: fmt.Sprintf("k=%d", *kMax), Metrics: got})
		fmt.Printf("%-20s %12.2f %14.2f %9.0fs  %s\n", m.name, got["elbo"], got["iwae"], got["train_seconds"], m.paper)
	}
	return nil
}

func bounds() error {
	run, err := trained(modelList[0])
	if err != nil {
		return err
	}
	fmt.Printf("%8s %12s %12s\n", "k", "-IWAE_k", "-ELBO")
	for _, k := range []int{1, 5, 50, 500, 5000} {
		if k > *kMax {
			break
		}
		got, err := score(run, k, "elbo", "iwae")
		if err != nil {
			return err
		}
		results = append(results, expt.Row{Experiment: "bounds", Run: modelList[0].name, Setting: fmt.Sprintf("k=%d", k), Metrics: got})
		fmt.Printf("%8d %12.3f %12.3f\n", k, got["iwae"], got["elbo"])
	}
	return nil
}

// pictures writes 64 samples and 8 interpolations of 10 steps for each run.
func pictures() error {
	for _, m := range picked() {
		run, err := trained(m)
		if errors.Is(err, expt.ErrSkipped) {
			continue
		} else if err != nil {
			return err
		}
		if err := picturesOf(m.name, run); err != nil {
			return err
		}
	}
	return nil
}

func picturesOf(name, run string) error {
	s, err := runs.Open(run, "")
	if err != nil {
		return err
	}
	defer s.Close()
	h, w, c := s.Info.Shape[0], s.Info.Shape[1], s.Info.Shape[2]
	rt := s.Runtime(true)
	x, err := s.Model.(models.Sampler).Sample(rt, models.SampleRequest{N: 64, Seed: 1})
	if err != nil {
		return err
	}
	path := filepath.Join(*outDir, name+"-samples.png")
	title := fmt.Sprintf("%s: decoder means at z ~ N(0, I), step %d", name, s.Step)
	if err := viz.ImageGrid(path, x, 64, h, w, c, viz.GridOptions{Cols: 8, Title: title}); err != nil {
		return err
	}
	fmt.Println("   wrote", path)

	// Interpolate between test digits 2i and 2i+1 (binarized like training).
	const pairs, stepsPer = 8, 10
	codec := s.Model.(models.Codec)
	d, l := s.Info.Dim(), models.LatentDim(s.Model, s.Info)
	ends := append([]float32(nil), s.Test.X[:2*pairs*d]...)
	s.Transform.Apply(ends, 0)
	z, err := codec.Encode(rt, ends, 2*pairs)
	if err != nil {
		return err
	}
	line := make([]float32, 0, pairs*stepsPer*l)
	for p := range pairs {
		a, b := z[2*p*l:(2*p+1)*l], z[(2*p+1)*l:(2*p+2)*l]
		for j := range stepsPer {
			t := float32(j) / (stepsPer - 1)
			for i := range l {
				line = append(line, a[i]+t*(b[i]-a[i]))
			}
		}
	}
	xs, err := codec.Decode(rt, line, pairs*stepsPer)
	if err != nil {
		return err
	}
	path = filepath.Join(*outDir, name+"-interpolation.png")
	title = fmt.Sprintf("%s: decoding the line between two test digits' posterior means", name)
	if err := viz.ImageGrid(path, xs, pairs*stepsPer, h, w, c, viz.GridOptions{Cols: stepsPer, Title: title}); err != nil {
		return err
	}
	fmt.Println("   wrote", path)
	return nil
}
