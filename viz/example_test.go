package viz_test

import (
	"fmt"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"

	"genmod/viz"
)

// A sample grid, a data-vs-samples scatter, a density and a loss curve,
// as a 2D model's training loop would write them.
func Example() {
	dir, err := os.MkdirTemp("", "viz-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Four 8x8 grey images, two rows with class labels.
	images := make([]float32, 4*8*8)
	for i := range images {
		images[i] = float32(i%64) / 63
	}
	grid := filepath.Join(dir, "samples.png")
	err = viz.ImageGrid(grid, images, 4, 8, 8, 1, viz.GridOptions{
		Cols: 2, RowLabels: []string{"zero", "one"}, Title: "epoch 1",
	})
	if err != nil {
		log.Fatal(err)
	}

	// Points on a circle against a noisy copy.
	var data, samples []float32
	for i := range 500 {
		t := 2 * math.Pi * float64(i) / 500
		data = append(data, float32(math.Cos(t)), float32(math.Sin(t)))
		samples = append(samples, float32(1.1*math.Cos(t)), float32(0.9*math.Sin(t)))
	}
	err = viz.Scatter(filepath.Join(dir, "scatter.png"), "data vs samples",
		viz.Series{Name: "data", XY: data}, viz.Series{Name: "samples", XY: samples})
	if err != nil {
		log.Fatal(err)
	}

	// A standard normal's density on a 100x100 grid.
	g := viz.NewGrid(viz.Bounds{XMin: -3, XMax: 3, YMin: -3, YMax: 3}, 100)
	logp := func(x, y float64) float64 { return -(x*x+y*y)/2 - math.Log(2*math.Pi) }
	if err := viz.Density(filepath.Join(dir, "density.png"), g, logp, viz.DensityOptions{Width: 400, Height: 400}); err != nil {
		log.Fatal(err)
	}

	// A loss curve.
	steps, loss := []float64{0, 100, 200, 300}, []float64{2.3, 1.1, 0.7, 0.6}
	err = viz.Curves(filepath.Join(dir, "loss.png"), viz.CurveOptions{XLabel: "step", YLabel: "loss", LogY: true},
		viz.CurveSeries{Name: "train", X: steps, Y: loss})
	if err != nil {
		log.Fatal(err)
	}

	for _, name := range []string{"samples.png", "density.png", "loss.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			log.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %dx%d\n", name, cfg.Width, cfg.Height)
	}
	// A wrong shape is an error, and no file is written.
	err = viz.ImageGrid(filepath.Join(dir, "bad.png"), images[:10], 4, 8, 8, 1, viz.GridOptions{})
	fmt.Println(err != nil)
	// Output:
	// samples.png: 174x164
	// density.png: 400x400
	// loss.png: 800x500
	// true
}
