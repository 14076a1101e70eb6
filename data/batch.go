package data

import "fmt"

// BatchOptions configures a Batcher.
type BatchOptions struct {
	// BatchSize is the number of examples per batch (> 0).
	BatchSize int
	// Seed fixes the shuffling of every epoch and all transform noise.
	Seed int64
	// Transform is applied to every batch.
	Transform Transform
	// DropLast skips the last, incomplete batch of each epoch, so every
	// batch has exactly BatchSize examples. Without it the last batch of an
	// epoch holds the remaining Len() mod BatchSize examples.
	DropLast bool
}

// BatcherState is where a Batcher stands: the epoch and the position of the
// next example in that epoch's permutation. It is what a checkpoint stores.
type BatcherState struct {
	Epoch int64 `json:"epoch"`
	Pos   int64 `json:"pos"`
}

// Batcher yields shuffled mini-batches forever, epoch after epoch.
//
// The permutation of epoch e is a pure function of (Seed, e), and the
// transform noise of the batch starting at position p of epoch e is a pure
// function of (Seed, e, p). A Batcher restored to a saved state therefore
// yields exactly the batches the original would have yielded.
//
// A Batcher is not safe for concurrent use.
type Batcher struct {
	ds    Dataset
	opts  BatchOptions
	n     int
	dim   int
	state BatcherState
	perm  []int // permutation of state.Epoch
	// permEpoch is the epoch perm belongs to (-1: none yet).
	permEpoch int64
}

// NewBatcher returns a Batcher over ds at epoch 0, position 0. It checks the
// options and, when the transform needs it, that ds holds values in [0, 1].
func NewBatcher(ds Dataset, opts BatchOptions) (*Batcher, error) {
	n := ds.Len()
	if n <= 0 {
		return nil, fmt.Errorf("batcher: the data set is empty")
	}
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("batcher: batch size %d must be positive", opts.BatchSize)
	}
	if opts.DropLast && opts.BatchSize > n {
		return nil, fmt.Errorf("batcher: batch size %d exceeds the %d examples and the last incomplete batch is dropped, so no batch is left", opts.BatchSize, n)
	}
	if err := opts.Transform.Validate(); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	if err := opts.Transform.CheckRange(ds); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	dim := shapeProd(ds.ExampleShape())
	if dim <= 0 {
		return nil, fmt.Errorf("batcher: example shape %v is empty", ds.ExampleShape())
	}
	return &Batcher{ds: ds, opts: opts, n: n, dim: dim, permEpoch: -1}, nil
}

// BatchesPerEpoch is the number of batches Next yields per epoch.
func (b *Batcher) BatchesPerEpoch() int {
	if b.opts.DropLast {
		return b.n / b.opts.BatchSize
	}
	return (b.n + b.opts.BatchSize - 1) / b.opts.BatchSize
}

// Dim is the number of values per example.
func (b *Batcher) Dim() int { return b.dim }

// Next returns the next batch: x holds k*Dim() values and y k labels (nil
// when the data set is unlabeled), where k is BatchSize except for the last
// batch of an epoch without DropLast. Both slices are freshly allocated.
func (b *Batcher) Next() (x []float32, y []int32) {
	b.normalize()
	if b.permEpoch != b.state.Epoch {
		b.perm = newRNG(streamKey(b.opts.Seed, tagPerm, uint64(b.state.Epoch))).perm(b.n)
		b.permEpoch = b.state.Epoch
	}
	start := int(b.state.Pos)
	k := min(b.opts.BatchSize, b.n-start)
	x = make([]float32, k*b.dim)
	labeled := b.ds.NumClasses() > 0
	if labeled {
		y = make([]int32, k)
	}
	for j := 0; j < k; j++ {
		ex, label := b.ds.Item(b.perm[start+j])
		copy(x[j*b.dim:(j+1)*b.dim], ex)
		if labeled {
			y[j] = label
		}
	}
	if !b.opts.Transform.IsIdentity() {
		b.opts.Transform.Apply(x, streamKey(b.opts.Seed, tagNoise, uint64(b.state.Epoch), uint64(start)))
	}
	b.state.Pos += int64(k)
	return x, y
}

// normalize moves the state to the start of the next epoch when the current
// one has no (complete, with DropLast) batch left.
func (b *Batcher) normalize() {
	left := int64(b.n) - b.state.Pos
	if left <= 0 || (b.opts.DropLast && left < int64(b.opts.BatchSize)) {
		b.state.Epoch++
		b.state.Pos = 0
	}
}

// State returns the current position, to be saved with a checkpoint.
func (b *Batcher) State() BatcherState { return b.state }

// Restore moves the Batcher to a state returned by State, by this Batcher or
// by another one over the same data with the same options.
func (b *Batcher) Restore(s BatcherState) error {
	if s.Epoch < 0 || s.Pos < 0 || s.Pos > int64(b.n) {
		return fmt.Errorf("batcher: cannot restore state %+v: want epoch >= 0 and position in [0, %d]", s, b.n)
	}
	b.state = s
	return nil
}
