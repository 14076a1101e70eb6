// Command gemm measures the float32 matrix-multiply peak of genmod's GoMLX
// backend (the default one, as `genmod train` uses it): the best of several
// n×n by n×n products, reported as one JSON line in GFLOP/s (2n³ flops each).
// bench/run.sh prints it next to PyTorch's torch.mm figure.
//
//	GOEXPERIMENT=simd go run ./bench/gemm -n 1024
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"genmod/internal/engine"
)

func main() {
	n := flag.Int("n", 1024, "matrix size")
	reps := flag.Int("reps", 10, "timed repetitions (the best is reported)")
	flag.Parse()
	backend, err := engine.NewBackend("")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gemm:", err)
		os.Exit(1)
	}
	fill := func(seed int) *tensors.Tensor {
		t := tensors.FromShape(shapes.Make(dtypes.Float32, *n, *n))
		tensors.MustMutableFlatData(t, func(f []float32) {
			for i := range f {
				f[i] = float32((i*7919+seed)%1000)/1000 - 0.5
			}
		})
		return t
	}
	a, b := fill(1), fill(2)
	exec := MustNewExec(backend, func(a, b *Node) *Node { return MatMul(a, b) })
	for range 3 { // compile and warm up
		exec.MustExec(a, b)[0].FinalizeAll()
	}
	best := time.Duration(1 << 62)
	for range *reps {
		start := time.Now()
		out := exec.MustExec(a, b)
		// The result is materialised when Exec returns; reading one value
		// makes sure nothing is left pending.
		_ = tensors.MustCopyFlatData[float32](out[0])[0]
		best = min(best, time.Since(start))
		out[0].FinalizeAll()
	}
	gflops := 2 * float64(*n) * float64(*n) * float64(*n) / best.Seconds() / 1e9
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"n": *n, "gflops": gflops, "backend": engine.BackendConfig(""), "gomaxprocs": runtime.GOMAXPROCS(0),
	})
}
