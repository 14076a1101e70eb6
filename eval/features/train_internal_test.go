package features

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"genmod/data"
	"genmod/internal/engine"
)

// The learning rate Adam reads is the host schedule's, step by step: a
// linear warm-up, then a cosine decay towards 0.
func TestSchedule(t *testing.T) {
	sc := schedule{steps: 1000, warmup: 100, peak: 2e-3}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }
	if !near(sc.lr(1), 2e-5) || !near(sc.lr(50), 1e-3) || !near(sc.lr(100), 2e-3) {
		t.Errorf("warm-up: lr(1) %g, lr(50) %g, lr(100) %g", sc.lr(1), sc.lr(50), sc.lr(100))
	}
	for i := 101; i <= sc.steps; i++ {
		if sc.lr(i) >= sc.lr(i-1) {
			t.Fatalf("lr(%d) = %g >= lr(%d) = %g: not decaying", i, sc.lr(i), i-1, sc.lr(i-1))
		}
	}
	if last := sc.lr(sc.steps); last > 1e-4*sc.peak || last <= 0 {
		t.Errorf("lr(last) = %g, want just above 0", last)
	}

	train, _, err := data.FashionMNISTMini()
	if err != nil {
		t.Fatal(err)
	}
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	o := TrainOptions{Steps: 3, Batch: 16, Warmup: 10}.withDefaults()
	store, sc, err := trainStore(backend, train.Head(64), o)
	if err != nil {
		t.Fatal(err)
	}
	v := store.GetVariable("/" + netScope + "/optimizers/learning_rate")
	if v == nil {
		t.Fatal("no learning-rate variable where Adam reads it")
	}
	got := tensors.MustCopyFlatData[float32](v.MustValue())[0]
	if want := float32(sc.lr(sc.steps)); got != want || sc.warmup != 1 {
		t.Errorf("Adam's learning rate after step %d is %g, the schedule's %g (warm-up %d)", sc.steps, got, want, sc.warmup)
	}
	for v := range store.IterVariables() {
		if v.Path() == "/optimizers/learning_rate" {
			t.Errorf("a learning-rate variable outside Adam's scope: %s", v.Path())
		}
	}
	ts, err := netTensors(store, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 14 {
		var names []string
		for _, x := range ts {
			names = append(names, x.Name)
		}
		t.Errorf("saved tensors %v, want the 14 weights and biases of the 7 layers", names)
	}
}
