package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"genmod/runs"
	"genmod/train"
)

func newTrainCmd() *cobra.Command {
	var configFile, resume string
	var stopAfter int
	flagCfg := runs.DefaultConfig()
	var mf *modelFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model; the run folder gets its config, metrics, checkpoints and samples",
		Example: `  genmod train --model rf --data moons --steps 2000 --out runs/moons
  genmod train --model rf --data fashion-mnist-mini --steps 3000 --batch 64 --lr 2e-3 --out runs/fm
  genmod train --model ddpm --data moons --target v --out runs/ddpm-moons
  genmod train --model vp --data fashion-mnist-mini --t-sampling logit-normal --out runs/vp
  genmod train --config run.yaml --out runs/exp1     # YAML or JSON, keys = flag names
  genmod train --resume runs/moons                   # continue a run from its newest checkpoint`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			defer interruptible(cmd)()
			opts := trainOptions(cmd)
			opts.StopAfter = stopAfter
			if resume != "" {
				changed := changedConfigFlags(cmd.Flags())
				if len(changed) > 0 || configFile != "" {
					return fmt.Errorf("--resume continues a run with its own config.json; do not combine it with --config or %v", changed)
				}
				_, err := train.Resume(cmd.Context(), resume, opts)
				return err
			}
			cfg := runs.DefaultConfig()
			if configFile != "" {
				var err error
				if cfg, err = runs.LoadConfigFile(configFile, cfg); err != nil {
					return err
				}
			}
			// Flags given on the command line win over the config file.
			var own []string
			for _, n := range changedConfigFlags(cmd.Flags()) {
				if !mf.has(n) {
					own = append(own, n)
				}
			}
			if err := overlayFlags(&cfg, &flagCfg, own); err != nil {
				return err
			}
			for k, v := range mf.values() {
				cfg.Set(k, v)
			}
			if cfg.Out == "" {
				return fmt.Errorf("no output folder: give --out DIR (or out: in the config file)")
			}
			_, err := train.Train(cmd.Context(), cfg, opts)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML or JSON file whose keys are these flag names")
	f.StringVar(&resume, "resume", "", "continue the run in this folder from its newest checkpoint")
	f.IntVar(&stopAfter, "stop-after", 0, "stop right after this step without saving, as if killed (for testing resume)")
	_ = f.MarkHidden("stop-after")
	addConfigFlags(f, &flagCfg)
	mf = addModelFlags(f, false)
	return cmd
}

// interruptible makes the first Ctrl-C (or SIGTERM) cancel the command's
// context, so training saves a checkpoint and stops after the current step;
// once it fired, a second one kills the process at once. Call the returned
// function when the command ends.
func interruptible(cmd *cobra.Command) func() {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	cmd.SetContext(ctx)
	return stop
}

// trainOptions are the logging and backend options of a training command.
func trainOptions(cmd *cobra.Command) train.Options {
	return train.Options{Log: os.Stderr, Terminal: term.IsTerminal(int(os.Stderr.Fd())), Backend: backendFlag(cmd)}
}

// addConfigFlags registers one flag per runs.Config field; the flag names are
// the config's JSON keys. The models' own options are addModelFlags'.
func addConfigFlags(f *pflag.FlagSet, c *runs.Config) {
	f.StringVar(&c.Model, "model", c.Model, "model name (see genmod models)")
	f.StringVar(&c.Data, "data", c.Data, "dataset: a name from genmod data, images:DIR, npy:FILE or csv:FILE")
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "folder holding the full dataset's files, if not in the default place")
	f.StringVar(&c.Out, "out", c.Out, "run folder to create")
	f.IntVar(&c.Steps, "steps", c.Steps, "training steps")
	f.IntVar(&c.Batch, "batch", c.Batch, "batch size")
	f.Float64Var(&c.LR, "lr", c.LR, "peak learning rate (Adam)")
	f.IntVar(&c.Warmup, "warmup", c.Warmup, "linear learning-rate warm-up steps")
	f.StringVar(&c.LRSchedule, "lr-schedule", c.LRSchedule, "after warm-up: cosine (down to 5% of lr) or constant")
	f.Float64Var(&c.WeightDecay, "weight-decay", c.WeightDecay, "decoupled weight decay (AdamW) when > 0")
	f.Float64Var(&c.ClipNorm, "clip-norm", c.ClipNorm, "clip the global gradient norm to this (0 = off)")
	f.Float64Var(&c.EMA, "ema", c.EMA, "EMA decay of the weights used for sampling (0 = off)")
	f.Int64Var(&c.Seed, "seed", c.Seed, "seed for initialization, batches and noise")
	f.IntVar(&c.CheckpointEvery, "checkpoint-every", c.CheckpointEvery, "write a checkpoint every N steps (and at the end)")
	f.IntVar(&c.Keep, "keep", c.Keep, "checkpoints kept on disk")
	f.IntVar(&c.SampleEvery, "sample-every", c.SampleEvery, "write a sample picture every N steps (0 = only at the end)")
	f.IntVar(&c.LogEvery, "log-every", c.LogEvery, "append to metrics.jsonl every N steps")
	f.BoolVar(&c.Dequantize, "dequantize", c.Dequantize, "uniform dequantization of 8-bit images")
	f.StringVar(&c.Binarize, "binarize", c.Binarize, "binarize images: static or dynamic (values 0/1; --pixels does not apply)")
	f.StringVar(&c.Pixels, "pixels", c.Pixels, "image range the model sees: symmetric ([-1,1]) or unit ([0,1])")
}

// configKeys are the flags that are runs.Config keys (everything but the command's own).
func changedConfigFlags(f *pflag.FlagSet) []string {
	var names []string
	f.Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "config", "resume", "stop-after", "backend", "cpuprofile":
		default:
			names = append(names, fl.Name)
		}
	})
	return names
}

// overlayFlags copies the named fields from the flag-bound config onto cfg,
// going through JSON so each flag's name is its config key.
func overlayFlags(cfg, flagCfg *runs.Config, names []string) error {
	buf, err := json.Marshal(flagCfg)
	if err != nil {
		return err
	}
	var all map[string]any
	if err := json.Unmarshal(buf, &all); err != nil {
		return err
	}
	picked := map[string]any{}
	for _, n := range names {
		v, ok := all[n]
		if !ok {
			return fmt.Errorf("internal: flag --%s has no config key", n)
		}
		picked[n] = v
	}
	return runs.ApplyValues(cfg, picked)
}
