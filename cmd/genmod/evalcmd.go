package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"genmod/eval"
	"genmod/runs"
)

func newEvalCmd() *cobra.Command {
	var runDir, out string
	var metrics []string
	var list, force bool
	o := eval.Options{}
	var mf *modelFlags
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score a trained run against its test split: sample quality and likelihood",
		Long: `eval measures a trained run the same way whatever its family, against the
dataset's test split, and prints a table and writes eval.json into the run
(or --out). Every result names its reference split and n. Sampling flags are
those of genmod sample. List the metrics with --list.

Vectors (2D toys, NPY/CSV): w2, mmd, swd on the raw samples.

Images of fashion-mnist, fashion-mnist-mini and mnist: fd, kid, pr on the
features of a small CNN classifier that genmod trains per dataset and ships
in the binary (Inception weights cannot be had here, and would suit 28x28
grayscale images poorly). fd is the Fréchet distance of the 128-d features
(FID-style; its note gives the floor, training vs test images at the same n,
since FD is biased upward at small n), kid the kernel inception distance,
pr improved precision and recall (two results). For class-conditional
models, acc is the fraction of samples the classifier assigns to the class
they were drawn for (per class in the note). Numbers are comparable only
between runs scored with the same classifier (named in the report) and n.
"genmod eval train-features" retrains a classifier.

Likelihoods where the model has one: nll (exact, for flows and diffusion via
the probability-flow ODE), vlb (DDPM's variational bound), and for
latent-variable models (vae, iwae) elbo and iwae: the negative ELBO and the
negative importance-weighted bound with --k posterior samples per test
example (default 5000, Burda et al.'s protocol), upper bounds on the NLL.
Vectors and binarized images are scored in nats, other images in bits/dim
(dequantized once).`,
		Example: `  genmod eval --run runs/moons --metrics w2,mmd,swd --n 2000
  genmod eval --run runs/fm-rf --metrics fd,kid,pr,acc --n 2000 --steps 50
  genmod eval --run runs/moons-ddpm --sampler ddim --steps 20 --out ddim20.json
  genmod eval --run runs/fm-flow --metrics nll --n 1000
  genmod eval --run runs/mnist-vae --metrics elbo,iwae --k 5000 --n 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				for _, m := range eval.Metrics() {
					fmt.Printf("%-5s %s\n", m[0], m[1])
				}
				return nil
			}
			if runDir == "" {
				return fmt.Errorf("give the run folder (--run DIR)")
			}
			if o.K < 1 {
				return fmt.Errorf("--k must be >= 1, got %d", o.K)
			}
			if o.N < 0 {
				return fmt.Errorf("--n must be >= 2, got %d", o.N)
			}
			o.Sample.Model = mf.values()
			for _, m := range metrics {
				o.Metrics = append(o.Metrics, strings.TrimSpace(m))
			}
			if err := checkOutputs(force, out); err != nil {
				return err
			}
			s, err := runs.Open(runDir, backendFlag(cmd))
			if err != nil {
				return err
			}
			defer s.Close()
			o.Progress = func(msg string) { fmt.Fprintln(os.Stderr, " ", msg) }
			rep, err := eval.Evaluate(s, o)
			if err != nil {
				return err
			}
			if err := rep.Print(os.Stdout); err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(runDir, "eval.json")
			}
			if err := rep.WriteJSON(out); err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "wrote", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "run folder written by genmod train")
	f.StringVar(&out, "out", "", "JSON report path (default RUN/eval.json, which each eval replaces)")
	f.BoolVar(&force, "force", false, forceUsage)
	f.StringSliceVar(&metrics, "metrics", nil, "comma-separated metrics (default: all that apply; see --list)")
	f.BoolVar(&list, "list", false, "list the metrics and exit")
	f.IntVar(&o.N, "n", 2000, "samples and test examples to use (capped by the test split)")
	f.IntVar(&o.K, "k", eval.DefaultK, "importance samples per test example of the iwae bound (latent-variable models)")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the metrics' own randomness (projections, dequantization)")
	f.Int64Var(&o.Sample.Seed, "sample-seed", 1, "seed of the sampler's noise")
	mf = addModelFlags(f, true)
	cmd.AddCommand(newTrainFeaturesCmd())
	return cmd
}
