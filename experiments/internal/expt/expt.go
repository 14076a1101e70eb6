// Package expt is the scaffolding the experiment drivers (the commands
// under experiments/) share: running the parts picked with -only, training
// a run or reusing a finished one from the work folder, and merging
// measured rows into a results file. Each driver keeps its own flags, row
// type and metrics.
package expt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"genmod/internal/fsutil"
	"genmod/runs"
	"genmod/train"
)

// Main is a driver's main after flag.Parse: it creates out, the folder for
// pictures and results, runs the parts (see RunParts) and ends the program
// with status 1 on the first error.
func Main(out, only string, parts []Part, after func() error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		fail(err)
	}
	if err := RunParts(only, parts, after); err != nil {
		fail(err)
	}
}

// Part is one experiment of a driver, picked by its name with -only.
type Part struct {
	Name string
	Run  func() error
}

// RunParts runs every part in order, or only the one named only when it is
// not empty, printing each part's name and wall time. after, when not nil,
// runs after each part: a driver that saves its results there keeps what
// the parts before a failing one measured. The first error stops it, with
// the part's name in front of a part's own error.
func RunParts(only string, parts []Part, after func() error) error {
	for _, p := range parts {
		if only != "" && only != p.Name {
			continue
		}
		start := time.Now()
		fmt.Printf("== %s\n", p.Name)
		if err := p.Run(); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		fmt.Printf("== %s done in %s\n", p.Name, time.Since(start).Round(time.Second))
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
	}
	return nil
}

// fail prints err and ends the program with status 1.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

// Row is one measured line of a results table: the metrics of a run in
// one setting of an experiment (the diffusion and vae drivers' rows).
type Row struct {
	Experiment string             `json:"experiment"`
	Run        string             `json:"run"`
	Setting    string             `json:"setting"`
	Metrics    map[string]float64 `json:"metrics"`
}

// Key identifies a row in a results file: a later measurement of the same
// experiment, run and setting replaces it (see MergeRows).
func (r Row) Key() string { return r.Experiment + "/" + r.Run + "/" + r.Setting }

// MergeRows writes rows as an indented JSON array to path, after the rows
// already there whose key no row of rows has: a driver run for some
// experiments replaces their rows and keeps the others' results. An
// unreadable old file counts as empty. The file appears complete or not at
// all.
func MergeRows[R any](path string, rows []R, key func(R) string) error {
	var old []R
	if buf, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(buf, &old)
	}
	done := map[string]bool{}
	for _, r := range rows {
		done[key(r)] = true
	}
	var all []R
	for _, r := range old {
		if !done[key(r)] {
			all = append(all, r)
		}
	}
	all = append(all, rows...)
	buf, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(path, append(buf, '\n'))
}

// ErrSkipped is Runs.Trained's answer under NoTrain for a run not there.
var ErrSkipped = errors.New("not trained (-no-train)")

// Runs is a driver's work folder: one training run per sub-folder, named
// by the driver, trained once and reused by later invocations.
type Runs struct {
	Dir     string
	NoTrain bool // only reuse finished runs (the drivers' -no-train)
}

// Trained returns the folder of the run name, trained with cfg unless a
// finished run is there already. A positive budget stops the training loop
// after that long (the trainer saves a checkpoint at the step it reached);
// such a run counts as finished at any checkpoint.
func (r Runs) Trained(name string, cfg runs.Config, budget time.Duration) (string, error) {
	cfg.Out = filepath.Join(r.Dir, name)
	if step, ok := Finished(cfg.Out, budget > 0); ok {
		fmt.Printf("   reusing %s (step %d)\n", cfg.Out, step)
		return cfg.Out, nil
	}
	if r.NoTrain {
		return "", ErrSkipped
	}
	start := time.Now()
	if err := Train(cfg, budget); err != nil {
		return "", err
	}
	took := time.Since(start).Round(time.Second)
	if budget > 0 {
		fmt.Printf("   trained %s in %s\n", name, took)
	} else {
		fmt.Printf("   trained %s: %d steps in %s\n", name, cfg.Steps, took)
	}
	return cfg.Out, nil
}

// Finished reports whether dir holds a run whose newest checkpoint is at
// the run's last step, and that checkpoint's step. With anyStep, any
// checkpoint will do: runs stopped by a wall budget end before their last
// step.
func Finished(dir string, anyStep bool) (step int, ok bool) {
	run, err := runs.OpenRun(dir)
	if err != nil {
		return 0, false
	}
	s, err := runs.Open(dir, "")
	if err != nil {
		return 0, false
	}
	defer s.Close()
	return s.Step, s.Step >= run.Config.Steps || (anyStep && s.Step > 0)
}

// Train trains cfg into cfg.Out from scratch, first removing what is
// there (an unfinished or broken run: the drivers do not resume). With a
// positive budget, the loop stopped on time counts as success. Training
// logs are discarded: Runs.Trained prints one line per run.
func Train(cfg runs.Config, budget time.Duration) error {
	if err := os.RemoveAll(cfg.Out); err != nil {
		return err
	}
	ctx := context.Background()
	if budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	_, err := train.Train(ctx, cfg, train.Options{Log: io.Discard})
	if err != nil && !(budget > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return err
	}
	return nil
}
