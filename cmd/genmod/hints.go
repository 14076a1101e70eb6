package main

import (
	"errors"
	"os"

	"genmod/eval/features"
	"genmod/runs"
	"genmod/train"
)

// cliHint says, in terms of this command line, what to do about an error
// whose library message speaks of runs and options instead of flags.
func cliHint(err error) string {
	switch {
	case errors.Is(err, train.ErrInterrupted), errors.Is(err, train.ErrDiverged):
		return "continue the run with `genmod train --resume RUN`"
	case errors.Is(err, runs.ErrRunExists):
		return "continue it with `genmod train --resume RUN`, or give another --out"
	case errors.Is(err, features.ErrNoClassifier):
		return "train one with `genmod eval train-features --data DATASET`"
	case errors.Is(err, os.ErrExist):
		return "replace it with --force"
	}
	return ""
}
