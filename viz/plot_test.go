package viz

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// moons returns n points of the two-moons toy set with Gaussian noise.
func moons(n int, noise float64, rng *rand.Rand) []float32 {
	xy := make([]float32, 0, 2*n)
	for i := range n {
		t := math.Pi * rng.Float64()
		x, y := math.Cos(t), math.Sin(t)
		if i%2 == 1 {
			x, y = 1-x, 0.5-y
		}
		xy = append(xy, float32(x+noise*rng.NormFloat64()), float32(y+noise*rng.NormFloat64()))
	}
	return xy
}

// checkPNGSize decodes the PNG at path and checks it is w×h pixels; h == 0
// accepts any plausible height.
func checkPNGSize(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	img := decodePNG(t, path)
	b := img.Bounds()
	if h == 0 { // height chosen by the data's aspect
		if b.Dx() != w || b.Dy() < w/3 || b.Dy() > 2*w {
			t.Fatalf("%s is %dx%d, want width %d and a height in [%d, %d]", filepath.Base(path), b.Dx(), b.Dy(), w, w/3, 2*w)
		}
		return img
	}
	if b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %dx%d, want %dx%d", filepath.Base(path), b.Dx(), b.Dy(), w, h)
	}
	return img
}

// countNear counts pixels within tol (per channel) of c.
func countNear(img image.Image, c color.RGBA, tol int) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := rgbAt(img, x, y)
			if absDiff(p.R, c.R) <= tol && absDiff(p.G, c.G) <= tol && absDiff(p.B, c.B) <= tol {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestScatterSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := Series{Name: "data", XY: moons(1000, 0.05, rng)}
	samples := Series{Name: "samples", XY: moons(1000, 0.1, rng)}
	tests := []struct {
		name         string
		opts         ScatterOptions
		panels       []Panel
		wantW, wantH int
	}{
		{"one panel default", ScatterOptions{}, []Panel{{Title: "moons", Series: []Series{data, samples}}}, 560, 0},
		{"two panels default", ScatterOptions{Title: "step 1000"}, []Panel{{Title: "data", Series: []Series{data}}, {Title: "samples", Series: []Series{samples}}}, 1120, 0},
		{"requested size", ScatterOptions{Width: 300, Height: 200}, []Panel{{Series: []Series{data}}}, 300, 200},
		{"requested size, free aspect", ScatterOptions{Width: 700, Height: 300, FreeAspect: true}, []Panel{{Series: []Series{data}}}, 700, 300},
		{"free aspect default", ScatterOptions{FreeAspect: true}, []Panel{{Series: []Series{data}}}, 560, 600},
		{"fixed limits", ScatterOptions{Limits: &Bounds{-1, 1, -1, 1}}, []Panel{{Series: []Series{data}}}, 560, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.png")
			if err := ScatterPanels(path, tt.opts, tt.panels...); err != nil {
				t.Fatal(err)
			}
			img := checkPNGSize(t, path, tt.wantW, tt.wantH)
			// The points are drawn in (translucent) series colours.
			if k := countNear(img, Palette[0], 60); k < 200 {
				t.Errorf("only %d pixels near the first series colour", k)
			}
		})
	}
}

func TestScatterConvenience(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.png")
	xy := []float32{0, 0, 1, 1, 2, 0.5}
	if err := Scatter(path, "three points", Series{XY: xy, Color: color.RGBA{200, 0, 0, 255}}); err != nil {
		t.Fatal(err)
	}
	checkPNGSize(t, path, 560, 0)
}

func TestScatterNonFiniteAndOutliers(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	rng := rand.New(rand.NewPCG(3, 4))
	xy := moons(1000, 0.05, rng)
	xy = append(xy, nan, 0, 0, inf, 1e6, 1e6) // two non-finite, one far outlier
	fig, err := prepareScatter(ScatterOptions{}, []Panel{{Series: []Series{{Name: "samples", XY: xy}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := fig.panels[0][0]
	if s.dropped != 2 || len(s.xy) != 2*1001 {
		t.Errorf("dropped %d, kept %d points; want 2 and 1001", s.dropped, len(s.xy)/2)
	}
	if fig.limits.XMax > 10 || fig.limits.YMax > 10 {
		t.Errorf("limits %+v stretched to the outlier", fig.limits)
	}
	if fig.limits.XMin > -1 || fig.limits.XMax < 2 {
		t.Errorf("limits %+v do not cover the moons", fig.limits)
	}
	// All points non-finite still gives a plot (the legend says why it is empty).
	path := filepath.Join(t.TempDir(), "s.png")
	if err := Scatter(path, "diverged", Series{Name: "samples", XY: []float32{nan, nan, inf, 0}}); err != nil {
		t.Fatal(err)
	}
	checkPNGSize(t, path, 560, 0)
}

func TestEqualAspect(t *testing.T) {
	// A 200x100 data area: one unit must span the same length on both axes.
	for _, b := range []Bounds{{0, 1, 0, 1}, {-3, 3, 0, 1}, {0, 1, -10, 10}} {
		c := draw.Canvas{Rectangle: vg.Rectangle{Min: vg.Point{X: 10, Y: 20}, Max: vg.Point{X: 210, Y: 120}}}
		got := equalAspect(b, c)
		ux := (got.XMax - got.XMin) / 200
		uy := (got.YMax - got.YMin) / 100
		if math.Abs(ux-uy) > 1e-12 {
			t.Errorf("%+v -> %+v: %g vs %g units per point", b, got, ux, uy)
		}
		if got.XMin > b.XMin || got.XMax < b.XMax || got.YMin > b.YMin || got.YMax < b.YMax {
			t.Errorf("%+v -> %+v shrank a range", b, got)
		}
	}
}

func TestScatterBadInput(t *testing.T) {
	good := []Series{{XY: []float32{0, 0, 1, 1}}}
	tests := []struct {
		name    string
		opts    ScatterOptions
		panels  []Panel
		wantErr string
	}{
		{"no panels", ScatterOptions{}, nil, "no panels"},
		{"odd length", ScatterOptions{}, []Panel{{Series: []Series{{Name: "x", XY: []float32{1, 2, 3}}}}}, "odd"},
		{"tiny", ScatterOptions{Width: 5, Height: 5}, []Panel{{Series: good}}, "figure size"},
		{"empty limits", ScatterOptions{Limits: &Bounds{1, 1, 0, 1}}, []Panel{{Series: good}}, "empty"},
		{"nan limits", ScatterOptions{Limits: &Bounds{0, float64(math.NaN()), 0, 1}}, []Panel{{Series: good}}, "finite"},
		{"opacity", ScatterOptions{Opacity: 2}, []Panel{{Series: good}}, "Opacity"},
		{"radius", ScatterOptions{PointRadius: -1}, []Panel{{Series: good}}, "PointRadius"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := ScatterPanels(filepath.Join(dir, "s.png"), tt.opts, tt.panels...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			assertNoFiles(t, dir)
		})
	}
}

func gaussLogp(x, y float64) float64 { return -0.5*(x*x+y*y) - math.Log(2*math.Pi) }

func TestDensity(t *testing.T) {
	g := NewGrid(Bounds{-4, 4, -3, 3}, 80)
	if g.NX != 80 || g.NY != 60 {
		t.Fatalf("NewGrid: %dx%d cells, want 80x60", g.NX, g.NY)
	}
	path := filepath.Join(t.TempDir(), "d.png")
	if err := Density(path, g, gaussLogp, DensityOptions{Title: "N(0, I)", Width: 500, Height: 400}); err != nil {
		t.Fatal(err)
	}
	checkPNGSize(t, path, 500, 400)

	// The cell colours: brightest at the mode, darkest at the corners.
	fig, err := prepareDensity(g, g.Eval(gaussLogp), DensityOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lut := densityLUT()
	// Image rows run top-down; the mode is the middle of the grid.
	if c := fig.img.RGBAAt(40, 30); c != lut[len(lut)-1] {
		t.Errorf("mode cell %v, want the top colour %v", c, lut[len(lut)-1])
	}
	if c := fig.img.RGBAAt(0, 0); c != lut[0] {
		t.Errorf("corner cell %v, want the bottom colour %v", c, lut[0])
	}
	// An off-centre mode lands in the right cell: (x=2, y=1.5) is column
	// 60 and, counting rows from the top, row 60-1-45 = 14.
	shifted := func(x, y float64) float64 { return gaussLogp(x-2, y-1.5) }
	fig, err = prepareDensity(g, g.Eval(shifted), DensityOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Centroid of the cells drawn in the top colour.
	var sx, sy, k float64
	for y := range g.NY {
		for x := range g.NX {
			if fig.img.RGBAAt(x, y) == lut[len(lut)-1] {
				sx, sy, k = sx+float64(x), sy+float64(y), k+1
			}
		}
	}
	if k == 0 || math.Abs(sx/k-59.5) > 0.5 || math.Abs(sy/k-14.5) > 0.5 {
		t.Errorf("%g top-colour cells centred at (%g, %g), want (59.5, 14.5)", k, sx/k, sy/k)
	}
}

func TestGridPointsOrder(t *testing.T) {
	g := Grid{Bounds: Bounds{0, 2, 0, 3}, NX: 2, NY: 3}
	want := []float32{0.5, 0.5, 1.5, 0.5, 0.5, 1.5, 1.5, 1.5, 0.5, 2.5, 1.5, 2.5}
	got := g.Points()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Points() = %v, want %v", got, want)
		}
	}
	ev := g.Eval(func(x, y float64) float64 { return 10*y + x })
	for k, v := range ev {
		if v != float64(10*want[2*k+1]+want[2*k]) {
			t.Fatalf("Eval()[%d] = %g, not at Points()[%d]", k, v, k)
		}
	}
}

func TestDensityGridFloat32AndNaN(t *testing.T) {
	g := Grid{Bounds: Bounds{-1, 1, -1, 1}, NX: 4, NY: 4}
	logp := make([]float32, 16)
	logp[5] = float32(math.NaN())
	logp[6] = float32(math.Inf(-1))
	fig, err := prepareDensity(g, logp, DensityOptions{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fig.title, "1 NaN cells") {
		t.Errorf("title %q does not report the NaN cell", fig.title)
	}
	// Cell 5 is (i=1, j=1) -> image (1, 2); cell 6 is (2, 1) -> image (2, 2).
	if c := fig.img.RGBAAt(1, 2); c != nanCell {
		t.Errorf("NaN cell drawn %v, want %v", c, nanCell)
	}
	if c := fig.img.RGBAAt(2, 2); c != densityLUT()[0] {
		t.Errorf("-Inf cell drawn %v, want the zero-density colour", c)
	}
	var buf bytes.Buffer
	if err := EncodeDensityGrid(&buf, g, logp, DensityOptions{Overlay: []Series{{Name: "data", XY: []float32{0, 0, 0.5, 0.5}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
}

func TestDensityBadInput(t *testing.T) {
	g := Grid{Bounds: Bounds{-1, 1, -1, 1}, NX: 2, NY: 2}
	inf := math.Inf(1)
	nan := math.NaN()
	tests := []struct {
		name    string
		g       Grid
		logp    []float64
		opts    DensityOptions
		wantErr string
	}{
		{"wrong length", g, []float64{0, 0, 0}, DensityOptions{}, "len(logp)=3"},
		{"+Inf", g, []float64{0, inf, 0, 0}, DensityOptions{}, "+Inf at cell 1"},
		{"all NaN", g, []float64{nan, nan, nan, nan}, DensityOptions{}, "no finite"},
		{"empty bounds", Grid{Bounds: Bounds{1, 0, 0, 1}, NX: 2, NY: 2}, []float64{0, 0, 0, 0}, DensityOptions{}, "empty"},
		{"no cells", Grid{Bounds: Bounds{0, 1, 0, 1}}, nil, DensityOptions{}, "cells"},
		{"log range", g, []float64{0, 0, 0, 0}, DensityOptions{LogRange: -1}, "LogRange"},
		{"bad overlay", g, []float64{0, 0, 0, 0}, DensityOptions{Overlay: []Series{{XY: []float32{1}}}}, "Overlay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := DensityGrid(filepath.Join(dir, "d.png"), tt.g, tt.logp, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			assertNoFiles(t, dir)
		})
	}
	dir := t.TempDir()
	if err := Density(filepath.Join(dir, "d.png"), g, nil, DensityOptions{}); err == nil {
		t.Error("nil logp function: no error")
	}
	assertNoFiles(t, dir)
}

func lossCurve(n int, rng *rand.Rand) (xs, ys []float64) {
	for i := range n {
		xs = append(xs, float64(i*10))
		ys = append(ys, 2*math.Exp(-float64(i)/80)+0.3+0.15*rng.NormFloat64()*math.Exp(-float64(i)/200))
	}
	return xs, ys
}

func TestCurves(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, y := lossCurve(400, rng)
	ex, ey := []float64{0, 1000, 2000, 3000}, []float64{2.1, 0.9, 0.6, 0.55}
	tests := []struct {
		name         string
		opts         CurveOptions
		wantW, wantH int
	}{
		{"default", CurveOptions{Title: "loss", XLabel: "step", YLabel: "loss"}, 800, 500},
		{"log smooth sized", CurveOptions{LogY: true, Smooth: 25, Width: 640, Height: 360}, 640, 360},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.png")
			err := Curves(path, tt.opts, CurveSeries{Name: "train", X: x, Y: y}, CurveSeries{Name: "eval", X: ex, Y: ey})
			if err != nil {
				t.Fatal(err)
			}
			img := checkPNGSize(t, path, tt.wantW, tt.wantH)
			if k := countNear(img, Palette[0], 40); k < 100 {
				t.Errorf("only %d pixels of the train curve's colour", k)
			}
		})
	}
}

func TestCurvesDropsAndCounts(t *testing.T) {
	nan := math.NaN()
	s := CurveSeries{Name: "loss", X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, nan, 0, -1, math.Inf(1)}}
	fig, err := prepareCurves(CurveOptions{LogY: true}, []CurveSeries{s})
	if err != nil {
		t.Fatal(err)
	}
	c := fig.curves[0]
	if len(c.xy) != 1 || c.dropped != 2 || c.nonPos != 2 {
		t.Errorf("kept %d, non-finite %d, non-positive %d; want 1, 2, 2", len(c.xy), c.dropped, c.nonPos)
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := Curves(path, CurveOptions{LogY: true}, s); err != nil {
		t.Fatal(err)
	}
	checkPNGSize(t, path, 800, 500)
}

func TestCurvesBadInput(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name    string
		opts    CurveOptions
		series  []CurveSeries
		wantErr string
	}{
		{"none", CurveOptions{}, nil, "no series"},
		{"length mismatch", CurveOptions{}, []CurveSeries{{Name: "a", X: []float64{1, 2}, Y: []float64{1}}}, "len(X)=2 != len(Y)=1"},
		{"all NaN", CurveOptions{}, []CurveSeries{{X: []float64{1, 2}, Y: []float64{nan, nan}}}, "no plottable"},
		{"empty", CurveOptions{}, []CurveSeries{{}}, "no plottable"},
		{"all <= 0 on log", CurveOptions{LogY: true}, []CurveSeries{{X: []float64{1}, Y: []float64{0}}}, "log axis"},
		{"negative smooth", CurveOptions{Smooth: -3}, []CurveSeries{{X: []float64{1}, Y: []float64{1}}}, "Smooth"},
		{"huge", CurveOptions{Width: 1 << 20}, []CurveSeries{{X: []float64{1}, Y: []float64{1}}}, "figure size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Curves(filepath.Join(dir, "c.png"), tt.opts, tt.series...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			assertNoFiles(t, dir)
		})
	}
}

func TestMovingAverage(t *testing.T) {
	mk := func(ys ...float64) []float64 { return ys }
	tests := []struct {
		name   string
		y      []float64
		window int
		logY   bool
		want   []float64
	}{
		{"window 3", mk(0, 3, 6, 9), 3, false, mk(1.5, 3, 6, 7.5)},
		{"constant", mk(2, 2, 2, 2, 2), 4, false, mk(2, 2, 2, 2, 2)},
		{"window larger than series", mk(1, 2, 3), 99, false, mk(2, 2, 2)},
		{"geometric in log", mk(1, 100, 10000), 3, true, mk(10, 100, 1000)},
		{"even window", mk(0, 2, 4, 6), 2, false, mk(0, 1, 3, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts := make(plotter.XYs, len(tt.y))
			for i, v := range tt.y {
				pts[i] = plotter.XY{X: float64(i), Y: v}
			}
			got := movingAverage(pts, tt.window, tt.logY)
			for i := range tt.want {
				if math.Abs(got[i].Y-tt.want[i]) > 1e-9 || got[i].X != float64(i) {
					t.Fatalf("got %v, want y = %v", got, tt.want)
				}
			}
		})
	}
}

func TestLogTicker(t *testing.T) {
	for _, r := range [][2]float64{{0.3, 2.5}, {0.01, 10}, {1e-4, 3}, {1.01, 1.2}, {0.25, 2.3}} {
		labelled := 0
		for _, tk := range (logTicker{}).Ticks(r[0], r[1]) {
			if tk.Label != "" && tk.Value >= r[0] && tk.Value <= r[1] {
				labelled++
			}
			if tk.Value <= 0 {
				t.Errorf("range %v: tick at %g on a log axis", r, tk.Value)
			}
		}
		if labelled < 3 {
			t.Errorf("range %v: %d labelled ticks, want at least 3", r, labelled)
		}
	}
}

// TestWriteSamples writes example figures to $VIZ_SAMPLES for a person to
// look at; it is skipped unless that variable is set.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("VIZ_SAMPLES")
	if dir == "" {
		t.Skip("set VIZ_SAMPLES=dir to write sample figures")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	data := Series{Name: "data", XY: moons(3000, 0.06, rng)}
	samples := Series{Name: "samples", XY: append(moons(3000, 0.12, rng), float32(math.NaN()), 0, 40, 40)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(Scatter(filepath.Join(dir, "scatter.png"), "two moons: data vs samples", data, samples))
	must(ScatterPanels(filepath.Join(dir, "panels.png"), ScatterOptions{Title: "step 5000"},
		Panel{Title: "data", Series: []Series{data}}, Panel{Title: "samples", Series: []Series{samples}}))

	// A labelled grid: one row per class, blobs whose size grows along the row.
	const n, h, w, cols = 40, 28, 28, 10
	imgs := make([]float32, 0, n*h*w)
	for k := range n {
		r := 3 + float64(k%cols)
		cx, cy := 14+4*float64(k/cols)-6, 14.0
		for y := range h {
			for x := range w {
				d := math.Hypot(float64(x)-cx, float64(y)-cy)
				imgs = append(imgs, float32(math.Exp(-d*d/(2*r*r))))
			}
		}
	}
	must(ImageGrid(filepath.Join(dir, "grid.png"), imgs, n, h, w, 1, GridOptions{
		Cols: cols, Title: "class-conditional samples, epoch 12",
		RowLabels: []string{"T-shirt/top", "Trouser", "Pullover", "Ankle boot"},
	}))
	mix := func(x, y float64) float64 {
		a := gaussLogp((x-1.5)/0.5, (y-0.5)/0.5) - 2*math.Log(0.5)
		b := gaussLogp((x+1)/0.7, (y+0.8)/0.4) - math.Log(0.7*0.4)
		m := math.Max(a, b)
		return m + math.Log(0.5*math.Exp(a-m)+0.5*math.Exp(b-m))
	}
	g := NewGrid(Bounds{-3, 3, -2.5, 2.5}, 200)
	must(Density(filepath.Join(dir, "density.png"), g, mix, DensityOptions{Title: "flow density"}))
	must(Density(filepath.Join(dir, "density_log.png"), g, mix, DensityOptions{Title: "flow log-density", LogScale: true,
		Overlay: []Series{{Name: "data", XY: moons(300, 0.05, rng)}}}))
	x, y := lossCurve(2000, rng)
	ex, ey := []float64{0, 5000, 10000, 15000, 19990}, []float64{2.2, 0.45, 0.33, 0.31, 0.3}
	must(Curves(filepath.Join(dir, "curves.png"), CurveOptions{Title: "training", XLabel: "step", YLabel: "loss", Smooth: 50},
		CurveSeries{Name: "train", X: x, Y: y}, CurveSeries{Name: "eval", X: ex, Y: ey}))
	must(Curves(filepath.Join(dir, "curves_log.png"), CurveOptions{Title: "training (log)", XLabel: "step", YLabel: "loss", LogY: true, Smooth: 50},
		CurveSeries{Name: "train", X: x, Y: y}, CurveSeries{Name: "eval", X: ex, Y: ey}))
}

func TestScatterPanelColours(t *testing.T) {
	pts := []float32{0, 0, 1, 1}
	red := color.RGBA{255, 0, 0, 255}
	fig, err := prepareScatter(ScatterOptions{}, []Panel{
		{Title: "data", Series: []Series{{Name: "data", XY: pts}}},
		{Title: "samples", Series: []Series{{Name: "samples", XY: pts}}},
		{Title: "both", Series: []Series{{Name: "data", XY: pts}, {Name: "samples", XY: pts}, {Name: "mine", XY: pts, Color: red}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]color.RGBA{{Palette[0]}, {Palette[1]}, {Palette[0], Palette[1], red}}
	for i, panel := range fig.panels {
		for j, s := range panel {
			if s.color != want[i][j] {
				t.Errorf("panel %d series %q: colour %v, want %v", i, s.name, s.color, want[i][j])
			}
		}
	}
}
