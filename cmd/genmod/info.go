package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"genmod/data"
	"genmod/internal/engine"
	"genmod/models"
	"genmod/viz"
)

func newModelsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "models [NAME]",
		Short: "List the registered models and what each can do, or show one model's options",
		Long: `Without a name, lists every model with its family, its capabilities on
labelled vectors or images (sample, logprob: exact likelihood, bounds:
ELBO/IWAE, pixel-bound: a bound on 8-bit images, codec: encode/decode,
conditional, distill, own-step: a training step of several phases) and a
description. With a name, lists the model's training and sampling options
with their defaults: the flags of genmod train and genmod sample.`,
		Example: "  genmod models\n  genmod models glow",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			if len(args) == 1 {
				e, err := models.Lookup(args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s (%s): %s\n\n", e.Name, e.Family, e.Description)
				for _, part := range []struct {
					title string
					decl  any
				}{{"training options (genmod train)", e.Options}, {"sampling options (genmod sample, eval)", e.SampleOptions}} {
					specs, err := models.Specs(part.decl)
					if err != nil {
						return err
					}
					fmt.Fprintf(w, "%s:\n", part.title)
					if len(specs) == 0 {
						fmt.Fprintln(w, "  none")
					}
					for _, s := range specs {
						fmt.Fprintf(w, "  --%s\t%v\t%s\n", s.Name, s.Default, s.Help)
					}
				}
				return w.Flush()
			}
			fmt.Fprintln(w, "NAME\tFAMILY\tCAPABILITIES\tDESCRIPTION")
			for _, e := range models.List() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.Name, e.Family, strings.Join(probeCapabilities(e), ","), e.Description)
			}
			return w.Flush()
		},
	}
}

// probeCapabilities builds the model with its defaults on labelled 2-D
// vectors, or on 28x28 images if it needs them, and lists what it can do.
func probeCapabilities(e models.Entry) []string {
	for _, info := range []models.DataInfo{{Shape: []int{2}, NumClasses: 3}, {Shape: []int{28, 28, 1}, NumClasses: 10}} {
		if m, err := models.New(e.Name, nil, info); err == nil {
			return models.Capabilities(m)
		}
	}
	return []string{"?"}
}

func newDataCmd() *cobra.Command {
	var preview, dataDir string
	var seed int64
	var force bool
	cmd := &cobra.Command{
		Use:   "data [NAME]",
		Short: "List datasets, or describe one (shape, counts, classes) and write a preview",
		Example: `  genmod data                                  # list the datasets
  genmod data fashion-mnist-mini --preview fm.png
  genmod data moons --preview moons.png
  genmod data images:./photos`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tDESCRIPTION")
				for _, n := range data.Names() {
					fmt.Fprintf(w, "%s\t%s\n", n, data.Describe(n))
				}
				return w.Flush()
			}
			if err := checkOutputs(force, preview); err != nil {
				return err
			}
			tr, te, err := data.Load(args[0], data.LoadOptions{DataDir: dataDir, Seed: seed})
			if err != nil {
				return err
			}
			fmt.Printf("%s: %d train, %d test examples of shape %v\n", args[0], tr.Len(), te.Len(), tr.Shape)
			lo, hi := valueRange(tr.X)
			fmt.Printf("values in [%g, %g]\n", lo, hi)
			if k := tr.NumClasses(); k > 0 {
				counts := make([]int, k)
				for _, y := range tr.Y {
					counts[y]++
				}
				var parts []string
				for i, c := range counts {
					name := fmt.Sprint(i)
					if i < len(tr.ClassNames) {
						name = tr.ClassNames[i]
					}
					parts = append(parts, fmt.Sprintf("%d %s (%d)", i, name, c))
				}
				fmt.Printf("%d classes: %s\n", k, strings.Join(parts, ", "))
			}
			if preview == "" {
				return nil
			}
			if err := writePreview(preview, args[0], tr); err != nil {
				return err
			}
			fmt.Println("wrote", preview)
			return nil
		},
	}
	cmd.Flags().StringVar(&preview, "preview", "", "write a PNG preview (image grid, one row per class, or 2D scatter)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing --preview file")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "folder holding the full dataset's files")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed for generated datasets")
	return cmd
}

func valueRange(x []float32) (lo, hi float32) {
	if len(x) == 0 {
		return 0, 0
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func writePreview(path, name string, s *data.Set) error {
	switch {
	case s.IsImage():
		const perRow = 10
		h, w, c := s.Shape[0], s.Shape[1], s.Shape[2]
		var idx []int
		var labels []string
		if k := s.NumClasses(); k > 0 {
			// One row per class; a class with fewer than perRow examples
			// repeats its own, and a class with none is left out.
			for class := 0; class < k; class++ {
				var own []int
				for i := 0; i < s.Len() && len(own) < perRow; i++ {
					if int(s.Y[i]) == class {
						own = append(own, i)
					}
				}
				if len(own) == 0 {
					continue
				}
				for j := 0; j < perRow; j++ {
					idx = append(idx, own[j%len(own)])
				}
				name := fmt.Sprint(class)
				if class < len(s.ClassNames) {
					name = s.ClassNames[class]
				}
				labels = append(labels, name)
			}
		} else {
			for i := 0; i < min(100, s.Len()); i++ {
				idx = append(idx, i)
			}
		}
		sub := s.Subset(idx)
		return viz.ImageGrid(path, sub.X, sub.Len(), h, w, c, viz.GridOptions{Cols: perRow, RowLabels: labels, Title: name})
	case s.Dim() == 2:
		n := min(s.Len(), 5000)
		return viz.Scatter(path, fmt.Sprintf("%s (%d points)", name, n), viz.Series{XY: s.X[:2*n]})
	default:
		return fmt.Errorf("no preview for %d-dimensional vectors", s.Dim())
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print genmod's version, the GoMLX version, the backend, whether SIMD matmul is on and which float32 matmul kernel runs",
		Example: "  genmod version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Printf("genmod %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Printf("GoMLX %s, compute %s\n", engine.ModuleVersion("github.com/gomlx/gomlx"), engine.ModuleVersion("github.com/gomlx/compute"))
			cfg := engine.BackendConfig(backendFlag(cmd))
			b, err := engine.NewBackend(cfg)
			if err != nil {
				return err
			}
			fmt.Printf("backend: %s (%s)\n", cfg, b.Description())
			if name, _, _ := strings.Cut(cfg, ":"); name == "go" {
				fmt.Printf("float32 matmul: %s\n", engine.MatMulKernel())
			}
			if engine.SIMD() {
				fmt.Println("SIMD matmul: on (built with GOEXPERIMENT=simd)")
			} else {
				fmt.Println("SIMD matmul: OFF")
				fmt.Fprintln(os.Stderr, "warning: this binary was built without GOEXPERIMENT=simd; matrix products are ~16x slower. Rebuild with `make build` or `GOEXPERIMENT=simd go build ./cmd/genmod`.")
			}
			return nil
		},
	}
}
