// Package nn holds genmod's neural-network building blocks over GoMLX:
// Dense and MLP layers, a fast 2-D convolution, down/upsampling, group and
// layer normalisation, self-attention, time and class embeddings, and two
// ready networks for diffusion and flow models, UNet and VelocityMLP.
//
// Conventions:
//   - Blocks take a *model.Scope and create their variables under it; give
//     each call its own sub-scope (scope.In("name")), and use scope.At to
//     re-enter one (scope.In panics on a second visit).
//   - Images are NHWC, [B,H,W,C].
//   - Variables take the dtype of the input: float32 normally, float64 in
//     the gradient tests (see package nntest).
//
// # Convolution on the pure-Go backend
//
// GoMLX's native ConvGeneral runs as plain loops on the Go backend (hundreds
// of times slower than PyTorch). Every convolution here goes through
// ConvKernel (Conv2D, Upsample, the U-Net), which computes it as a
// "flat-shift im2col" plus one matmul, with a hand-written gradient; see
// shiftConv for the method. A faster implementation can replace it there
// without touching any caller. Measured on a 2-core AVX2 machine it is
// matmul-bound (about 70% of its time).
//
// # Workarounds for GoMLX v0.28.2
//
// Importing this package changes GoMLX's autodiff in one documented way: it
// registers a gradient for graph.Pad in graph.VJPRegistration (the engine
// has none), which also makes second-order gradients through graph.Slice
// work. The convolution attaches its hand-written VJP to an internal node
// through an unexported field. Both read or write unexported fields of
// graph.Node by reflection; they are checked, and a GoMLX version that
// changes those fields makes them panic with an explanation instead of
// producing wrong gradients (see engine.go).
//
// Also avoided here because they fail in v0.28.2: graph.Interpolate's
// gradient (wrong for batch > 1), input-dilated convolutions (no gradient),
// Reverse and Rsqrt (no gradient).
package nn
