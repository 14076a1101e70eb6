package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"genmod/data"
	"genmod/eval"
	"genmod/eval/features"
)

// weightsDir is where the committed feature classifiers live, relative to
// the repository root; train-features writes there by default when run from
// the root.
const weightsDir = "eval/features/weights"

func newTrainFeaturesCmd() *cobra.Command {
	var dataset, out string
	var fdN int
	var force bool
	o := features.TrainOptions{}
	cmd := &cobra.Command{
		Use:   "train-features",
		Short: "Train the feature classifier behind fd, kid, pr and acc for a dataset",
		Long: `train-features trains the small CNN classifier whose 128-d features the image
metrics (fd, kid, pr) compare and whose predictions acc scores, on the
dataset's full training split. It prints the test accuracy and the Fréchet
distance between test and training images (the floor a perfect model
reaches at that n), then writes the weights as safetensors (float32, with
the dataset, accuracy, steps, seed and commit in the metadata).

Training is deterministic: the same options on the same machine and backend
give the same weights, bit for bit. The defaults are those of the committed
weights: 4 epochs, about 15 CPU-minutes per dataset (on a 2-core machine
shared with other work it took 22 minutes).

Run from the repository root, the file goes to ` + weightsDir + `/DATASET.safetensors,
where the next build of genmod embeds it (--force replaces the one there);
elsewhere give --out.`,
		Example: `  genmod eval train-features --data fashion-mnist --force   # retrain the committed weights
  genmod eval train-features --data mnist --epochs 2 --out /tmp/mnist.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				if st, err := os.Stat(weightsDir); err != nil || !st.IsDir() {
					return fmt.Errorf("give the output file (--out FILE); the default %s/ exists only in genmod's source tree", weightsDir)
				}
				out = filepath.Join(weightsDir, dataset+".safetensors")
			}
			if fdN < 2 {
				return fmt.Errorf("--fd-n must be >= 2, got %d", fdN)
			}
			if err := checkOutputs(force, out); err != nil { // before minutes of training
				return err
			}
			o.Backend = backendFlag(cmd)
			train, test, err := data.Load(dataset, data.LoadOptions{DataDir: o.DataDir, MaxExamples: o.MaxExamples})
			if err != nil {
				return err
			}
			start := time.Now()
			last := start
			o.Progress = func(step, steps int, loss float64) {
				if now := time.Now(); step == 1 || step == steps || now.Sub(last) >= 15*time.Second {
					last = now
					el := now.Sub(start)
					eta := time.Duration(float64(el) / float64(step) * float64(steps-step))
					fmt.Fprintf(os.Stderr, "  step %d/%d  loss %.4f  %s elapsed, about %s left\n",
						step, steps, loss, el.Round(time.Second), eta.Round(time.Second))
				}
			}
			fmt.Fprintf(os.Stderr, "training the feature classifier (%s) on %s: %d training, %d test images\n",
				features.Arch, dataset, train.Len(), test.Len())
			c, err := features.TrainOn(dataset, train, test, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "trained in %s (%d steps, %d epochs)\n", time.Since(start).Round(time.Second), c.Info.Steps, c.Info.Epochs)
			fmt.Printf("test accuracy: %.4f (%d test images)\n", c.Info.TestAccuracy, c.Info.TestN)
			n := min(fdN, train.Len(), test.Len())
			ft, err := c.Features(test.X[:n*features.Dim], n)
			if err != nil {
				return err
			}
			fr, err := c.Features(train.X[:n*features.Dim], n)
			if err != nil {
				return err
			}
			fd, err := eval.FrechetFromFeatures(ft, fr)
			if err != nil {
				return err
			}
			c.Info.FDFloor, c.Info.FDN = fd, n
			if c.Info.Commit == "" { // built with -buildvcs=false or by go run
				c.Info.Commit = gitCommit()
			}
			fmt.Printf("FD(test %d vs train %d): %.4f (the floor of fd at this n)\n", n, n, fd)
			if err := c.Save(out); err != nil {
				return err
			}
			st, _ := os.Stat(out)
			fmt.Fprintf(os.Stderr, "wrote %s (%d bytes)\n", out, st.Size())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "data", "fashion-mnist", "dataset of 28x28x1 images with 10 classes: fashion-mnist, mnist or fashion-mnist-mini")
	f.StringVar(&out, "out", "", "weights file (default "+weightsDir+"/DATA.safetensors, from the repository root)")
	f.BoolVar(&force, "force", false, "replace an existing weights file (such as the committed one at the default --out)")
	f.StringVar(&o.DataDir, "data-dir", "", "folder of the full dataset's files (default: its standard location)")
	f.IntVar(&o.Epochs, "epochs", 4, "passes over the training split")
	f.IntVar(&o.Steps, "steps", 0, "train exactly this many steps instead (0 = use --epochs)")
	f.IntVar(&o.Batch, "batch", 128, "batch size")
	f.Float64Var(&o.LR, "lr", 2e-3, "peak AdamW learning rate (warm-up, then cosine to 0)")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the initial weights and the batch order")
	f.IntVar(&o.MaxExamples, "max-examples", 0, "use only this many training and test images (0 = all; for quick tries)")
	f.IntVar(&fdN, "fd-n", 10000, "images of each split for the FD(test vs train) floor")
	return cmd
}

// gitCommit is the commit of the git work tree around the current folder,
// with "-dirty" when tracked files differ from it, or "" without git.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if exec.Command("git", "diff", "--quiet", "HEAD").Run() != nil {
		rev += "-dirty"
	}
	return rev
}
