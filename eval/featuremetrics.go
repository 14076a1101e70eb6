package eval

import (
	"fmt"
	"strings"

	"genmod/eval/features"
	"genmod/runs"
)

// KIDSubsets and KIDSubsetSize are the subsets Evaluate averages KID over:
// subsets of torch-fidelity's size 1000 (capped by n), but 20 of them rather
// than its 100, which took a minute at n = 2000 on this 2-core machine. At
// n <= 2000 the subsets overlap heavily anyway, so more of them barely move
// the mean.
const (
	KIDSubsets    = 20
	KIDSubsetSize = 1000
)

// featureSets holds the classifier features of a run's samples and of the
// test images they are compared with, computed once for fd, kid, pr and acc.
type featureSets struct {
	clf        *features.Classifier
	about      string
	fake, real [][]float64
	pred       []int32 // the classifier's class of each sample
	labels     []int32 // the class each sample was drawn for (nil: unconditional)
}

// computeFeatures runs the committed classifier of the run's dataset on the
// n samples (clamped to [0, 1], as an image file would store them) and on
// the n reference test images.
func computeFeatures(s *runs.Session, sm *runs.Samples, ref []float32, n int, progress func(string, ...any)) (*featureSets, error) {
	clf, err := features.Load(s.Run.Config.Data)
	if err != nil {
		return nil, err
	}
	progress("classifier features of %d samples and %d test images (%s classifier)", n, n, clf.Info.Dataset)
	x := make([]float32, n*features.Dim)
	for i, v := range sm.X[:len(x)] {
		x[i] = min(max(v, 0), 1) // NaN stays NaN and is reported below
	}
	fake, pred, err := clf.FeaturesAndPredict(x, n)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	real, err := clf.Features(ref, n)
	if err != nil {
		return nil, fmt.Errorf("test split: %w", err)
	}
	return &featureSets{clf: clf, fake: fake, real: real, pred: pred, labels: sm.Labels,
		about: fmt.Sprintf("%s classifier %s (test accuracy %.2f%%)", clf.Info.Dataset, features.Arch, 100*clf.Info.TestAccuracy)}, nil
}

// metric computes one feature metric ("pr" gives two results).
func (f *featureSets) metric(name string, s *runs.Session, n int, seed int64, progress func(string, ...any)) ([]Result, error) {
	r := Result{Metric: name, Split: "test", N: n}
	switch name {
	case "fd":
		v, err := FrechetFromFeatures(f.fake, f.real)
		if err != nil {
			return nil, fmt.Errorf("fd: %w", err)
		}
		r.Value = v
		// The floor: the same n test images against n training images,
		// i.e. what a perfect model would score at this n (FD is biased
		// upward at small n, so only the same n compares).
		if s.Train != nil && s.Train.Len() >= n {
			progress("fd floor: features of %d training images", n)
			trainX, _ := referenceSubset(s.Train, n, seed+1)
			tr, err := f.clf.Features(trainX, n)
			if err != nil {
				return nil, fmt.Errorf("fd: training split: %w", err)
			}
			floor, err := FrechetFromFeatures(tr, f.real)
			if err != nil {
				return nil, fmt.Errorf("fd floor: %w", err)
			}
			r.Note = fmt.Sprintf("floor (train vs test, same n) %.4g", floor)
		}
	case "kid":
		m := min(KIDSubsetSize, n)
		mean, std, err := KID(f.fake, f.real, KIDSubsets, m, seed)
		if err != nil {
			return nil, fmt.Errorf("kid: %w", err)
		}
		r.Value = mean
		r.Note = fmt.Sprintf("± %.2g (std over %d subsets of %d)", std, KIDSubsets, m)
		if m == n {
			// Every subset is the whole set: there is no spread to report.
			r.Note = fmt.Sprintf("one set of %d (subsets of %d need n > %d)", n, KIDSubsetSize, KIDSubsetSize)
		}
	case "pr":
		p, rc, err := PrecisionRecall(f.real, f.fake, DefaultPRK)
		if err != nil {
			return nil, fmt.Errorf("pr: %w", err)
		}
		note := fmt.Sprintf("k = %d", DefaultPRK)
		return []Result{
			{Metric: "precision", Value: p, Split: "test", N: n, Note: note},
			{Metric: "recall", Value: rc, Split: "test", N: n, Note: note},
		}, nil
	case "acc":
		if f.labels == nil {
			return nil, fmt.Errorf("acc: the samples were drawn without classes")
		}
		var hit [features.NumClasses]int
		var count [features.NumClasses]int
		total := 0
		for i, y := range f.labels[:n] {
			count[y]++
			if f.pred[i] == y {
				hit[y]++
				total++
			}
		}
		r.Value = float64(total) / float64(n)
		var per []string
		for c := range count {
			if count[c] > 0 {
				per = append(per, fmt.Sprintf("%.2f", float64(hit[c])/float64(count[c])))
			} else {
				per = append(per, "-")
			}
		}
		r.Note = fmt.Sprintf("per class %s; the classifier's own test accuracy %.4f",
			strings.Join(per, " "), f.clf.Info.TestAccuracy)
	default:
		return nil, fmt.Errorf("unknown feature metric %q", name)
	}
	return []Result{r}, nil
}
