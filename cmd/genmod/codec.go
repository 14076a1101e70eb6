package main

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/spf13/cobra"

	"genmod/data"
	"genmod/eval"
	"genmod/models"
	"genmod/runs"
)

// encode and decode: a models.Codec's map between the data and its latent
// z: the exact bijection of a normalizing flow, or a VAE's posterior mean
// (encode) and decoder mean (decode).

func newEncodeCmd() *cobra.Command {
	var runDir, input, split, out string
	var n int
	var seed int64
	var noEMA, force bool
	cmd := &cobra.Command{
		Use:   "encode",
		Short: "Map data to its latent z (flows: z = f⁻¹(x); VAEs: the posterior mean) and write z as NPY",
		Long: `encode runs a trained model's exact inverse (normalizing flows: nice,
realnvp, glow, maf, planar, radial) or a VAE's encoder (the posterior mean
μ(x), --latent values per row) on rows of a NPY or CSV file, or on the
run's own train/test split, and writes one latent row per input row as NPY.
It also prints the mean exact log-likelihood of the rows, and for images
trained with --dequantize their bits per dimension (the standard
dequantized estimate, eval.BitsPerDim).

Image rows hold pixel/255 values in [0, 1], H·W·C per row (as the datasets
do); they get the run's own transform (uniform dequantization with --seed,
scaling to [-1, 1]), so ` + "`genmod decode`" + ` of the result gives the pixels back.`,
		Example: `  genmod encode --run runs/moons-flow --input points.csv --out z.npy
  genmod encode --run runs/fm-glow --split test --n 1000 --out z.npy   # prints bits/dim
  genmod decode --run runs/fm-glow --input z.npy --out back.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || out == "" || (input == "") == (split == "") {
				return fmt.Errorf("give the run folder (--run DIR), the rows to encode (--input FILE.npy|FILE.csv or --split train|test) and the output (--out Z.npy)")
			}
			if n < 0 {
				return fmt.Errorf("--n must be >= 0, got %d", n)
			}
			if err := checkOutputs(force, out); err != nil {
				return err
			}
			s, codec, err := openCodec(runDir, backendFlag(cmd))
			if err != nil {
				return err
			}
			defer s.Close()
			x, rows, err := encodeInput(s, input, split, n)
			if err != nil {
				return err
			}
			if err := toModelSpace(s, x, uint64(seed)); err != nil {
				return fmt.Errorf("%s: %w", inputName(input, split), err)
			}
			rt := s.Runtime(!noEMA)
			before := s.Store.NumVariables()
			z, err := codec.Encode(rt, x, rows)
			if err != nil {
				return fmt.Errorf("%s: %w", inputName(input, split), err)
			}
			if s.Store.NumVariables() != before {
				return errors.New("encoding created new variables: the checkpoint does not match the model code")
			}
			latent := models.LatentDim(s.Model, s.Info)
			if err := data.WriteNPY(out, z, rows, latent); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "encoded %d rows into %s (%d latent values each)\n", rows, out, latent)
			if lp, ok := s.Model.(models.LogProber); ok {
				logp, err := lp.LogProb(rt, x, rows)
				if err != nil {
					return err
				}
				fmt.Println(likelihoodSummary(s, logp))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "run folder written by genmod train")
	f.StringVar(&input, "input", "", "rows to encode: FILE.npy, FILE.csv, npy:FILE or csv:FILE")
	f.StringVar(&split, "split", "", "encode the run's dataset instead: train or test")
	f.IntVar(&n, "n", 0, "encode only the first n rows (0: all)")
	f.StringVar(&out, "out", "", "output NPY file of latents, one row per input row")
	f.BoolVar(&force, "force", false, forceUsage)
	f.Int64Var(&seed, "seed", 1, "seed of the uniform dequantization noise (images trained with --dequantize)")
	f.BoolVar(&noEMA, "no-ema", false, "use the raw weights instead of their moving average")
	return cmd
}

func newDecodeCmd() *cobra.Command {
	var runDir, input, out, format string
	var noEMA, force bool
	cmd := &cobra.Command{
		Use:   "decode",
		Short: "Map latents z back to data (flows: x = f(z); VAEs: the decoder's mean); write PNG, NPY or CSV",
		Long: `decode runs a trained normalizing flow forward, or a VAE's decoder (its
mean E[x|z]), on latent rows (a NPY or CSV
file, e.g. written by ` + "`genmod encode`" + ` and then edited or interpolated) and
writes the data rows: images as a PNG grid or as pixel/255 rows in [0, 1]
(NPY/CSV), vectors as rows.`,
		Example: `  genmod decode --run runs/fm-glow --input z.npy --out x.png
  genmod decode --run runs/moons-flow --input z.npy --out x.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || input == "" || out == "" {
				return fmt.Errorf("give the run folder (--run DIR), the latents (--input Z.npy|Z.csv) and the output (--out X.png|X.npy|X.csv)")
			}
			if format == "" {
				format = runs.FormatFromPath(out)
			}
			if format != "png" && format != "npy" && format != "csv" {
				return fmt.Errorf("unknown format %q (valid: png, npy, csv)", format)
			}
			if err := checkOutputs(force, out); err != nil {
				return err
			}
			z, rows, cols, err := readRows(input)
			if err != nil {
				return err
			}
			s, codec, err := openCodec(runDir, backendFlag(cmd))
			if err != nil {
				return err
			}
			defer s.Close()
			if latent := models.LatentDim(s.Model, s.Info); cols != latent {
				return fmt.Errorf("%s: rows have %d values, the model's latents have %d", input, cols, latent)
			}
			before := s.Store.NumVariables()
			x, err := codec.Decode(s.Runtime(!noEMA), z, rows)
			if err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			if s.Store.NumVariables() != before {
				return errors.New("decoding created new variables: the checkpoint does not match the model code")
			}
			s.ToData(x)
			title := fmt.Sprintf("%s on %s, step %d: decoded %s", s.Run.Config.Model, s.Run.Config.Data, s.Step, input)
			if err := s.WriteSamples(out, format, &runs.Samples{X: x, N: rows, Shape: s.Info.Shape}, title); err != nil {
				return err
			}
			fmt.Printf("decoded %d rows into %s\n", rows, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "run folder written by genmod train")
	f.StringVar(&input, "input", "", "latent rows: FILE.npy, FILE.csv, npy:FILE or csv:FILE")
	f.StringVar(&out, "out", "", "output file: .png (images, 2-D points), .npy or .csv")
	f.StringVar(&format, "format", "", "png, npy or csv (default: from the --out extension)")
	f.BoolVar(&force, "force", false, forceUsage)
	f.BoolVar(&noEMA, "no-ema", false, "use the raw weights instead of their moving average")
	return cmd
}

// openCodec opens a run whose model is a models.Codec.
func openCodec(runDir, backend string) (*runs.Session, models.Codec, error) {
	s, err := runs.Open(runDir, backend)
	if err != nil {
		return nil, nil, err
	}
	c, ok := s.Model.(models.Codec)
	if !ok {
		s.Close()
		return nil, nil, fmt.Errorf("model %s has no latent code: encode and decode need a normalizing flow (nice, realnvp, glow, maf, planar, radial) or a VAE (vae, iwae)", s.Run.Config.Model)
	}
	return s, c, nil
}

func inputName(input, split string) string {
	if input != "" {
		return input
	}
	return "the " + split + " split"
}

// encodeInput reads the rows to encode: a file, or the run's split.
func encodeInput(s *runs.Session, input, split string, n int) ([]float32, int, error) {
	var x []float32
	var rows, cols int
	if input != "" {
		var err error
		if x, rows, cols, err = readRows(input); err != nil {
			return nil, 0, err
		}
		if cols != s.Info.Dim() {
			return nil, 0, fmt.Errorf("%s: rows have %d values, the model expects %d (data shape %v)", input, cols, s.Info.Dim(), s.Info.Shape)
		}
	} else {
		var set *data.Set
		switch split {
		case "train":
			set = s.Train
		case "test":
			set = s.Test
		default:
			return nil, 0, fmt.Errorf("--split must be train or test, got %q", split)
		}
		if set == nil || set.Len() == 0 {
			return nil, 0, fmt.Errorf("the %s split of %s is not available here", split, s.Run.Config.Data)
		}
		rows = set.Len()
		x = append([]float32(nil), set.X...)
	}
	if n > 0 && n < rows {
		rows = n
		x = x[:n*s.Info.Dim()]
	}
	return x, rows, nil
}

// toModelSpace applies the run's image transform to rows of pixel/255
// values (deterministic given seed); vectors are used as they are.
func toModelSpace(s *runs.Session, x []float32, seed uint64) error {
	if !s.Info.IsImage() || s.Transform.IsIdentity() {
		return nil
	}
	d := s.Info.Dim()
	for i, v := range x {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("row %d, value %d is %v: image rows must hold pixel/255 values in [0, 1]", i/d+1, i%d+1, v)
		}
	}
	s.Transform.Apply(x, seed)
	return nil
}

// likelihoodSummary describes the mean log-likelihood of the encoded rows,
// with bits per dimension for dequantized 8-bit images.
func likelihoodSummary(s *runs.Session, logp []float64) string {
	var sum float64
	for _, v := range logp {
		sum += v
	}
	mean := sum / float64(len(logp))
	d := s.Info.Dim()
	msg := fmt.Sprintf("mean log p(x) = %.4f nats over %d rows", mean, len(logp))
	if !s.Info.IsImage() {
		return msg
	}
	if !s.Transform.Dequantize {
		return msg + " (bits/dim needs a run trained with --dequantize)"
	}
	bin := 1.0 / eval.PixelBins // bin width in [0, 1]
	if s.Transform.Symmetric {
		bin = 2.0 / eval.PixelBins
	}
	bpd := eval.BitsPerDimScaled(mean, d, bin)
	if math.IsNaN(bpd) {
		return msg
	}
	return fmt.Sprintf("%s; bits/dim = %.4f", msg, bpd)
}
