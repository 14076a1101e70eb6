package data_test

import (
	"fmt"

	"genmod/data"
)

// Load a data set, draw batches, save the batcher's state and resume.
func Example() {
	train, test, err := data.Load("fashion-mnist-mini", data.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.Len(), test.Len(), train.Shape, train.NumClasses(), train.ClassNames[9])

	opts := data.BatchOptions{BatchSize: 64, Seed: 1, Transform: data.Transform{Dequantize: true, Symmetric: true}}
	b, err := data.NewBatcher(train, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	b.Next()
	saved := b.State()
	x, y := b.Next()

	resumed, _ := data.NewBatcher(train, opts)
	if err := resumed.Restore(saved); err != nil {
		fmt.Println(err)
		return
	}
	x2, y2 := resumed.Next()
	fmt.Println(len(x), len(y), saved, x[100] == x2[100] && y[5] == y2[5])
	// Output:
	// 6000 1000 [28 28 1] 10 Ankle boot
	// 50176 64 {0 64} true
}

func ExampleToy() {
	s, err := data.Toy("8gaussians", 1000, 42)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Len(), s.Shape, s.NumClasses())
	// Output: 1000 [2] 8
}
