package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"genmod/runs"
	"genmod/train"
)

// studentFlags are the training settings of a distillation run.
type studentFlags struct {
	trainSteps, batch int
	lr                float64
}

func (f *studentFlags) register(cmd *cobra.Command, steps int) {
	cmd.Flags().IntVar(&f.trainSteps, "train-steps", steps, "training steps of the student (per round)")
	cmd.Flags().IntVar(&f.batch, "batch", 0, "batch size (default: the teacher's)")
	cmd.Flags().Float64Var(&f.lr, "lr", 0, "peak learning rate (default: half the teacher's)")
}

// studentConfig is the teacher run's config turned into a distillation run.
func studentConfig(teacherDir, out, method string, studentSteps, teacherSteps int, f studentFlags) (runs.Config, error) {
	run, err := runs.OpenRun(teacherDir)
	if err != nil {
		return runs.Config{}, err
	}
	abs, err := filepath.Abs(teacherDir)
	if err != nil {
		return runs.Config{}, err
	}
	cfg := run.Config
	cfg.Out, cfg.Teacher, cfg.Distill = out, abs, method
	cfg.DistillSteps, cfg.TeacherSteps = studentSteps, teacherSteps
	cfg.Steps, cfg.Warmup = f.trainSteps, min(cfg.Warmup, f.trainSteps/10)
	cfg.LR /= 2
	if f.lr > 0 {
		cfg.LR = f.lr
	}
	if f.batch > 0 {
		cfg.Batch = f.batch
	}
	return cfg, nil
}

func newDistillCmd() *cobra.Command {
	var runDir, out string
	var stepsOut, from int
	var sf studentFlags
	cmd := &cobra.Command{
		Use:   "distill",
		Short: "Progressive distillation: a student that samples in a few DDIM steps",
		Long: `distill trains a student of a diffusion run that samples in --steps-out
deterministic DDIM steps (Salimans & Ho 2022). Each round halves the number of
steps: the student learns to make in one step what its teacher makes in two,
and becomes the next round's teacher. Rounds go from --from steps down to
--steps-out; intermediate rounds are kept beside the final run as
OUT.round-<N>steps.`,
		Example: `  genmod distill --run runs/moons --steps-out 4 --from 32 --out runs/moons-4
  genmod sample --run runs/moons-4 --out four-steps.png       # 4 DDIM steps by default`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || out == "" {
				return fmt.Errorf("give the teacher run (--run DIR) and the student's folder (--out DIR)")
			}
			if stepsOut < 1 || from < 2*stepsOut {
				return fmt.Errorf("need --steps-out >= 1 and --from >= 2·steps-out, got %d and %d", stepsOut, from)
			}
			var rounds []int
			for n := from / 2; n >= stepsOut; n /= 2 {
				rounds = append(rounds, n)
				if n == stepsOut {
					break
				}
			}
			if rounds[len(rounds)-1] != stepsOut {
				return fmt.Errorf("--from %d halves to %v, never to --steps-out %d: use a power-of-two multiple", from, rounds, stepsOut)
			}
			defer interruptible(cmd)()
			teacher := runDir
			for i, n := range rounds {
				dir := out
				if i < len(rounds)-1 {
					dir = fmt.Sprintf("%s.round-%dsteps", out, n)
				}
				cfg, err := studentConfig(teacher, dir, "progressive", n, 2, sf)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "round %d/%d: %d -> %d steps (teacher %s)\n", i+1, len(rounds), 2*n, n, teacher)
				if _, err := train.Train(cmd.Context(), cfg, trainOptions(cmd)); err != nil {
					return err
				}
				teacher = dir
			}
			fmt.Printf("distilled %s to %d steps: %s\n", runDir, stepsOut, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "teacher run folder")
	f.StringVar(&out, "out", "", "run folder of the final student")
	f.IntVar(&stepsOut, "steps-out", 4, "sampling steps of the final student")
	f.IntVar(&from, "from", 32, "steps of the teacher's sampler the first round starts from")
	sf.register(cmd, 1000)
	return cmd
}

func newReflowCmd() *cobra.Command {
	var runDir, out string
	var stepsOut, teacherSteps int
	var sf studentFlags
	cmd := &cobra.Command{
		Use:   "reflow",
		Short: "Reflow: retrain a flow on its own noise-sample pairs to straighten its paths",
		Long: `reflow trains a 2-rectified flow (Liu et al. 2022): the teacher's
deterministic sampler (--teacher-steps DDIM/Euler steps) maps fresh noise z to
samples x, and the student, started from the teacher's weights, regresses the
same target on the straight line between each such pair. Straighter paths
make 1-step samples usable.`,
		Example: `  genmod reflow --run runs/moons --out runs/moons-reflow --teacher-steps 20
  genmod sample --run runs/moons-reflow --steps 1 --out one-step.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" || out == "" {
				return fmt.Errorf("give the teacher run (--run DIR) and the student's folder (--out DIR)")
			}
			cfg, err := studentConfig(runDir, out, "reflow", stepsOut, teacherSteps, sf)
			if err != nil {
				return err
			}
			defer interruptible(cmd)()
			_, err = train.Train(cmd.Context(), cfg, trainOptions(cmd))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&runDir, "run", "", "teacher run folder")
	f.StringVar(&out, "out", "", "run folder of the reflowed model")
	f.IntVar(&teacherSteps, "teacher-steps", 20, "teacher sampler steps that make each (noise, sample) pair")
	f.IntVar(&stepsOut, "steps-out", 1, "default sampling steps of the reflowed model")
	sf.register(cmd, 1000)
	return cmd
}
