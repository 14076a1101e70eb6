package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"genmod/runs"
)

func newExportCmd() *cobra.Command {
	var runDir, out string
	var o runs.ExportOptions
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a run's model weights to a safetensors file (for PyTorch and other frameworks)",
		Long: `export writes the model weights of a run's newest checkpoint to a
safetensors file: one float32 tensor per variable, named by its GoMLX scope
path (net/res_1/conv_1/weights). Optimizer state, counters and the random
state are left out. By default the EMA weights are written when the run
kept them (the same ones ` + "`genmod sample`" + ` uses); --weights raw writes
the optimizer's own. The metadata holds the model, data, step, the run's
config as JSON and which weights were written.

Layouts are GoMLX's: Dense kernels [in, out], convolution kernels
[kh, kw, in, out] (PyTorch: transpose to [out, in] and [out, in, kh, kw]);
bench/torch_unet_check.py loads an exported U-Net into PyTorch.

In Python: safetensors.torch.load_file(FILE), or read the 8-byte header
length, the JSON header and the raw little-endian float32 data.`,
		Example: `  genmod export --run runs/fm --format safetensors --out fm.safetensors
  genmod export --run runs/fm --format safetensors --weights raw --out fm-raw.safetensors --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || out == "" {
				return fmt.Errorf("give the run folder (--run DIR) and an output file (--out FILE)")
			}
			info, err := runs.Export(runDir, out, backendFlag(cmd), o)
			if err != nil {
				return err
			}
			fmt.Printf("wrote %d tensors (%d parameters, %s weights, step %d) to %s\n",
				info.Tensors, info.Params, info.Weights, info.Step, info.Path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "run folder written by genmod train")
	f.StringVar(&out, "out", "", "output file")
	f.StringVar(&o.Format, "format", runs.FormatSafetensors, "export format: safetensors")
	f.StringVar(&o.Weights, "weights", "", "ema or raw (default: ema when the run kept EMA weights)")
	f.BoolVar(&o.Force, "force", false, forceUsage)
	return cmd
}
