package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"genmod/data"
	"genmod/eval"
	"genmod/internal/fsutil"
	"genmod/runs"
)

func newScoreCmd() *cobra.Command {
	var runDir, input, out, density string
	var force bool
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Print the exact log-density log p(x) of every row of a NPY or CSV file (models with an exact likelihood)",
		Long: `score evaluates a trained model's exact log-density, in nats, on every row
of a file: for anomaly scoring, the rows with the lowest log p are the least
typical. It needs a model with an exact likelihood (normalizing flows, and
diffusion models through the probability-flow ODE); rows must have the
training data's width. Images are rows of H·W·C values in [0, 1]
(pixel/255); they are dequantized and also scored in bits/dim.`,
		Example: `  genmod score --run runs/moons-flow --input points.csv
  genmod score --run runs/moons-flow --input npy:points.npy --out scores.csv
  genmod score --run runs/moons-flow --density density.png   # 2-D data: heat map of p(x)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || (input == "" && density == "") {
				return fmt.Errorf("give the run folder (--run DIR) and the rows to score (--input FILE.npy|FILE.csv) or --density FILE.png")
			}
			if err := checkOutputs(force, out, density); err != nil {
				return err
			}
			if input == "" {
				s, err := runs.Open(runDir, backendFlag(cmd))
				if err != nil {
					return err
				}
				defer s.Close()
				if err := s.WriteDensity(density, 200); err != nil {
					return err
				}
				fmt.Println("wrote", density)
				return nil
			}
			x, rows, cols, err := readRows(input)
			if err != nil {
				return err
			}
			s, err := runs.Open(runDir, backendFlag(cmd))
			if err != nil {
				return err
			}
			defer s.Close()
			lp, err := s.LogProb(x, rows, cols)
			if err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			image := s.Info.IsImage()
			bpd := func(logp float64) float64 {
				if s.Transform.Symmetric {
					return eval.BitsPerDim(logp, cols)
				}
				return eval.BitsPerDimScaled(logp, cols, 1.0/eval.PixelBins)
			}
			write := func(w io.Writer) error {
				header := "row,log_p"
				if image {
					header += ",bits_per_dim"
				}
				if _, err := fmt.Fprintln(w, header); err != nil {
					return err
				}
				for i, v := range lp {
					line := fmt.Sprintf("%d,%.6f", i+1, v)
					if image {
						line += fmt.Sprintf(",%.5f", bpd(v))
					}
					if _, err := fmt.Fprintln(w, line); err != nil {
						return err
					}
				}
				return nil
			}
			if out == "" {
				return write(os.Stdout)
			}
			if err := fsutil.WriteFileAtomic(out, write); err != nil {
				return err
			}
			mean := 0.0
			for _, v := range lp {
				mean += v
			}
			fmt.Fprintf(os.Stderr, "scored %d rows (mean log p %.4f nats) into %s\n", rows, mean/float64(rows), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "run folder written by genmod train")
	f.StringVar(&input, "input", "", "rows to score: FILE.npy, FILE.csv, npy:FILE or csv:FILE")
	f.StringVar(&out, "out", "", "write row,log_p as CSV here instead of standard output")
	f.StringVar(&density, "density", "", "instead of scoring rows, draw the density of a 2-D model as a PNG heat map")
	f.BoolVar(&force, "force", false, "replace an existing --out or --density file")
	return cmd
}

// readRows reads a NPY or CSV file named by extension or by an npy:/csv: prefix.
func readRows(spec string) (x []float32, rows, cols int, err error) {
	kind, path := "", spec
	if k, p, ok := strings.Cut(spec, ":"); ok && (k == "npy" || k == "csv") {
		kind, path = k, p
	} else {
		kind = strings.TrimPrefix(strings.ToLower(filepath.Ext(spec)), ".")
	}
	switch kind {
	case "npy":
		return data.ReadNPY(path)
	case "csv":
		x, rows, cols, _, err = data.ReadCSV(path)
		return x, rows, cols, err
	}
	return nil, 0, 0, fmt.Errorf("%s: give a .npy or .csv file (or an npy:/csv: prefix)", spec)
}
