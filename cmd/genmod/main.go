// Command genmod trains, samples and inspects generative models.
//
//	genmod train --model rf --data moons --steps 2000 --out runs/moons
//	genmod sample --run runs/moons --n 1000 --out moons.png
//	genmod eval --run runs/moons --metrics w2,mmd
//	genmod distill --run runs/moons --from 32 --steps-out 4 --out runs/moons-4
//	genmod models
//	genmod data fashion-mnist-mini --preview fm.png
//	genmod version
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	_ "genmod/models/all"
)

// Version is genmod's version.
const Version = "0.1.0-dev"

func main() {
	root := newRootCmd()
	err := root.ExecuteContext(context.Background())
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if h := cliHint(err); h != "" {
			fmt.Fprintln(os.Stderr, "hint:", h)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "genmod",
		Short: "Train, sample and compare deep generative models, in Go",
		Long: `genmod trains, samples and compares deep generative models (diffusion:
DDPM, VP/VE score SDEs, rectified flow, DiT; normalizing flows: planar,
radial, NICE, RealNVP, Glow, MAF; VAEs, GANs and autoregressive models as
they land) on real data, with one command-line tool and one API for every
family.

A training run is a folder: config.json, metrics.jsonl, checkpoints/ and
samples/. Everything needed to resume or sample from it lives there.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("cpuprofile", "", "write a CPU profile (pprof) of the command to this file")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		path, _ := cmd.Flags().GetString("cpuprofile")
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		profileFile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRun = func(*cobra.Command, []string) { stopProfile() }
	root.PersistentFlags().String("backend", "", "GoMLX backend config, e.g. go or xla:cpu (default $GOMLX_BACKEND, else go:parallelism=-1)")
	root.AddCommand(newTrainCmd(), newSampleCmd(), newDistillCmd(), newReflowCmd(), newEvalCmd(), newScoreCmd(), newModelsCmd(), newDataCmd(), newVersionCmd(), newEncodeCmd(), newDecodeCmd(), newExportCmd())
	return root
}

var profileFile *os.File

// stopProfile ends a --cpuprofile profile, also when the command failed.
func stopProfile() {
	if profileFile != nil {
		pprof.StopCPUProfile()
		profileFile.Close()
		profileFile = nil
	}
}

func backendFlag(cmd *cobra.Command) string {
	b, _ := cmd.Flags().GetString("backend")
	return b
}
