// Package data is genmod's data layer: in-memory data sets, seeded
// mini-batching with exact resume, the transforms generative models train
// on, and readers and writers for the formats the project meets.
//
// A data set is a [Set]: a flat float32 array of examples with a per-example
// shape ([H, W, C] for images, stored in [0, 1]; [D] for tabular and 2D
// data) and optional labels. [Load] resolves a spec to a training and a test
// set:
//
//   - 2D toy sets generated from a seed: moons, circles, 8gaussians,
//     swissroll, checkerboard, pinwheel, 2spirals (FFJORD's definitions);
//   - fashion-mnist-mini, a 6000/1000 Fashion-MNIST subset built into the
//     binary, so the default run and the tests need no install;
//   - fashion-mnist and mnist, read from their IDX files once installed;
//   - images:DIR (PNG/JPEG, one sub-folder per class), npy:FILE and csv:FILE.
//
// A [Batcher] draws shuffled batches forever. The permutation of an epoch is
// a pure function of (seed, epoch) and the noise of a batch a pure function
// of (seed, epoch, position), so a Batcher restored from its [BatcherState]
// continues with exactly the batches an uninterrupted run would have seen.
//
// Readers check every header against the data that follows before trusting
// it: a file that claims more data than it holds is an error, not a huge
// allocation. Writers go through fsutil.WriteFileAtomic.
//
// The package is pure Go and does not depend on the training engine.
package data
