package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"genmod/runs"
)

func newSampleCmd() *cobra.Command {
	var runDir, out, format string
	var force bool
	o := runs.SampleOptions{}
	var mf *modelFlags
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Draw samples from a trained run and write them as a picture, NPY or CSV",
		Example: `  genmod sample --run runs/moons --n 1000 --steps 50 --out moons.png
  genmod sample --run runs/fm --class 3 --cfg 2.0 --n 64 --out dresses.png
  genmod sample --run runs/fm --n 100 --cfg 1.0 --out grid.png   # one row per class
  genmod sample --run runs/moons --n 5000 --format csv --out samples.csv
  genmod sample --run runs/ddpm --sampler ddpm --out ancestral.png      # Algorithm 2, all 1000 steps
  genmod sample --run runs/ddpm --sampler ddim --steps 20 --eta 0 --out ddim20.png
  genmod sample --run runs/vp --sampler ode --rtol 1e-3 --atol 1e-3 --out ode.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || out == "" {
				return fmt.Errorf("give the run folder (--run DIR) and an output file (--out FILE)")
			}
			if format == "" {
				format = runs.FormatFromPath(out)
			}
			if format != "png" && format != "npy" && format != "csv" {
				return fmt.Errorf("unknown format %q (valid: png, npy, csv)", format)
			}
			if o.N < 1 {
				return fmt.Errorf("--n must be >= 1, got %d", o.N)
			}
			if cmd.Flags().Changed("steps") {
				if st, _ := cmd.Flags().GetInt("steps"); st < 1 {
					return fmt.Errorf("--steps must be >= 1, got %d", st)
				}
			}
			values := mf.values()
			o.Model = values
			if err := checkOutputs(force, out); err != nil {
				return err
			}
			s, err := runs.Open(runDir, backendFlag(cmd))
			if err != nil {
				return err
			}
			defer s.Close()
			if term.IsTerminal(int(os.Stderr.Fd())) {
				o.Progress = func(done, total int) {
					fmt.Fprintf(os.Stderr, "\r  sampling: step %d/%d", done, total)
					if done == total {
						fmt.Fprintln(os.Stderr)
					}
				}
			}
			sm, err := s.Sample(o)
			if err != nil {
				return err
			}
			title := fmt.Sprintf("%s on %s, step %d", s.Run.Config.Model, s.Run.Config.Data, s.Step)
			if w, ok := values["cfg"]; ok && w != 0.0 {
				title += fmt.Sprintf(", cfg w=%g", w)
			}
			if err := s.WriteSamples(out, format, sm, title); err != nil {
				return err
			}
			fmt.Printf("wrote %d samples to %s\n", sm.N, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "run folder written by genmod train")
	f.StringVar(&out, "out", "", "output file")
	f.StringVar(&format, "format", "", "png, npy or csv (default: from the --out extension)")
	f.BoolVar(&force, "force", false, forceUsage)
	f.IntVar(&o.N, "n", 100, "number of samples")
	f.IntVar(&o.Class, "class", -1, "class to draw for a conditional model (default: every class, one row each)")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the initial noise")
	f.BoolVar(&o.NoEMA, "no-ema", false, "sample with the raw weights instead of their moving average")
	mf = addModelFlags(f, true)
	return cmd
}
