package viz

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Grid is a regular grid of NX×NY cells over Bounds, on which a 2D density
// is evaluated. Cell (i, j) is column i (x) and row j (y, counted from
// YMin upward); its value is stored at index j*NX+i.
type Grid struct {
	Bounds
	NX, NY int
}

// NewGrid returns a grid over b with res cells along its longer side and
// square cells (as near as whole cells allow).
func NewGrid(b Bounds, res int) Grid {
	wx, wy := b.XMax-b.XMin, b.YMax-b.YMin
	g := Grid{Bounds: b, NX: res, NY: res}
	if wx > wy && wx > 0 {
		g.NY = max(1, int(math.Round(float64(res)*wy/wx)))
	} else if wy > wx && wy > 0 {
		g.NX = max(1, int(math.Round(float64(res)*wx/wy)))
	}
	return g
}

func (g Grid) validate() error {
	if err := g.Bounds.validate(); err != nil {
		return fmt.Errorf("grid: %w", err)
	}
	if g.NX < 1 || g.NY < 1 || g.NX > 4096 || g.NY > 4096 {
		return fmt.Errorf("grid of %dx%d cells: each side must be in [1, 4096]", g.NX, g.NY)
	}
	return nil
}

// At returns the centre of cell (i, j).
func (g Grid) At(i, j int) (x, y float64) {
	x = g.XMin + (float64(i)+0.5)*(g.XMax-g.XMin)/float64(g.NX)
	y = g.YMin + (float64(j)+0.5)*(g.YMax-g.YMin)/float64(g.NY)
	return x, y
}

// Points returns the centres of all cells interleaved as x, y in the
// grid's storage order, ready to be fed to a model as one batch of shape
// [NX*NY, 2]; the model's log-densities then go to DensityGrid unchanged.
func (g Grid) Points() []float32 {
	pts := make([]float32, 0, 2*g.NX*g.NY)
	for j := range g.NY {
		for i := range g.NX {
			x, y := g.At(i, j)
			pts = append(pts, float32(x), float32(y))
		}
	}
	return pts
}

// Eval evaluates f at every cell centre, in storage order.
func (g Grid) Eval(f func(x, y float64) float64) []float64 {
	v := make([]float64, 0, g.NX*g.NY)
	for j := range g.NY {
		for i := range g.NX {
			v = append(v, f(g.At(i, j)))
		}
	}
	return v
}

// DensityOptions controls Density and DensityGrid.
type DensityOptions struct {
	Title string
	// Width and Height of the image in pixels; 0 means 640 and 600.
	Width, Height int
	// LogScale colours cells by log p instead of p: useful to see the
	// tails. The colour range then spans LogRange nats below the maximum
	// (0 means 10).
	LogScale bool
	LogRange float64
	// Overlay points are drawn over the heat map, e.g. the training data.
	// A nil Color is white for the first series (it shows on the dark
	// colour map) and Palette[i] for series i > 0.
	Overlay []Series
	// FreeAspect lets the x and y axes have different scales.
	FreeAspect bool
}

// Density evaluates logp on g and writes the heat map of exp(logp) to the
// PNG file at path; see DensityGrid.
func Density(path string, g Grid, logp func(x, y float64) float64, opts DensityOptions) error {
	if logp == nil {
		return fmt.Errorf("viz.Density %s: nil log-density function", path)
	}
	if err := g.validate(); err != nil {
		return fmt.Errorf("viz.Density %s: %w", path, err)
	}
	return DensityGrid(path, g, g.Eval(logp), opts)
}

// DensityGrid writes a heat map of exp(logp) over the grid g to the PNG file
// at path. logp holds log-densities in g's storage order (as returned by
// evaluating a model on g.Points()). Colours are relative to the largest
// value, so logp need not be normalised. -Inf means zero density. NaN cells
// are drawn grey and counted in the title; +Inf, or no finite value at all,
// is an error. The file is written atomically; on bad input nothing is
// created.
func DensityGrid[T float32 | float64](path string, g Grid, logp []T, opts DensityOptions) error {
	fig, err := prepareDensity(g, logp, opts)
	if err != nil {
		return fmt.Errorf("viz.DensityGrid %s: %w", path, err)
	}
	if err := writePNG(path, fig.encode); err != nil {
		return fmt.Errorf("viz.DensityGrid: %w", err)
	}
	return nil
}

// EncodeDensityGrid is DensityGrid writing PNG bytes to out.
func EncodeDensityGrid[T float32 | float64](out io.Writer, g Grid, logp []T, opts DensityOptions) error {
	fig, err := prepareDensity(g, logp, opts)
	if err != nil {
		return fmt.Errorf("viz.EncodeDensityGrid: %w", err)
	}
	return fig.encode(out)
}

type densityFigure struct {
	opts    DensityOptions
	width   int
	height  int
	grid    Grid
	img     *image.RGBA
	overlay *scatterFigure
	title   string
}

// nanCell is the colour of cells whose log-density is NaN.
var nanCell = color.RGBA{150, 150, 150, 255}

func prepareDensity[T float32 | float64](g Grid, logp []T, opts DensityOptions) (*densityFigure, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	if len(logp) != g.NX*g.NY {
		return nil, fmt.Errorf("len(logp)=%d, want NX*NY = %d*%d = %d", len(logp), g.NX, g.NY, g.NX*g.NY)
	}
	w, h, err := checkSize(opts.Width, opts.Height, 640, 600)
	if err != nil {
		return nil, err
	}
	logRange := opts.LogRange
	if logRange == 0 {
		logRange = 10
	}
	if !(logRange > 0) || math.IsInf(logRange, 0) {
		return nil, fmt.Errorf("DensityOptions.LogRange=%g must be positive and finite", opts.LogRange)
	}
	maxLog, nans := math.Inf(-1), 0
	for k, v := range logp {
		lv := float64(v)
		switch {
		case math.IsNaN(lv):
			nans++
		case math.IsInf(lv, 1):
			x, y := g.At(k%g.NX, k/g.NX)
			return nil, fmt.Errorf("log-density is +Inf at cell %d (x=%.4g, y=%.4g)", k, x, y)
		default:
			maxLog = math.Max(maxLog, lv)
		}
	}
	if math.IsInf(maxLog, -1) {
		return nil, fmt.Errorf("no finite log-density value among %d cells (%d NaN)", len(logp), nans)
	}
	lut := densityLUT()
	img := image.NewRGBA(image.Rect(0, 0, g.NX, g.NY))
	for k, v := range logp {
		i, j := k%g.NX, k/g.NX
		lv := float64(v)
		col := nanCell
		if !math.IsNaN(lv) {
			var t float64
			if opts.LogScale {
				t = 1 + (lv-maxLog)/logRange
			} else {
				t = math.Exp(lv - maxLog)
			}
			col = lut[int(math.Round(clamp01(t)*float64(len(lut)-1)))]
		}
		img.SetRGBA(i, g.NY-1-j, col) // image rows run top-down
	}
	fig := &densityFigure{opts: opts, width: w, height: h, grid: g, img: img, title: opts.Title}
	if nans > 0 {
		fig.title = countNote(opts.Title, fmt.Sprintf("%d NaN cells in grey", nans))
	}
	if len(opts.Overlay) > 0 {
		b := g.Bounds
		overlay := slices.Clone(opts.Overlay)
		if overlay[0].Color == nil {
			overlay[0].Color = color.White
		}
		fig.overlay, err = prepareScatter(ScatterOptions{Limits: &b}, []Panel{{Series: overlay}})
		if err != nil {
			return nil, fmt.Errorf("DensityOptions.Overlay: %w", err)
		}
	}
	return fig, nil
}

var (
	lutOnce sync.Once
	lut     []color.RGBA
	lutErr  error
)

// densityLUT is a 256-entry perceptually ordered colour map, dark for low
// density and bright for high (Moreland's extended black-body map).
func densityLUT() []color.RGBA {
	lutOnce.Do(func() {
		cm := moreland.ExtendedBlackBody()
		cm.SetMin(0)
		cm.SetMax(1)
		lut = make([]color.RGBA, 256)
		for i := range lut {
			c, err := cm.At(float64(i) / 255)
			if err != nil {
				lutErr = err
				c = color.Black
			}
			r, g, b, _ := c.RGBA()
			lut[i] = color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
		}
	})
	return lut
}

func (fig *densityFigure) encode(out io.Writer) error {
	if lutErr != nil {
		return fmt.Errorf("colour map: %w", lutErr)
	}
	return render(out, fig.width, fig.height, fig.draw)
}

func (fig *densityFigure) draw(dc draw.Canvas) error {
	p := newPlot(fig.title, "", "")
	p.Add(plotter.NewImage(fig.img, fig.grid.XMin, fig.grid.YMin, fig.grid.XMax, fig.grid.YMax))
	b := fig.grid.Bounds
	setLimits(p, b)
	p.X.Padding, p.Y.Padding = 0, 0
	dc.Min.X += pixels(6)
	dc.Max.X -= pixels(14)
	dc.Min.Y += pixels(6)
	dc.Max.Y -= pixels(6)
	if !fig.opts.FreeAspect {
		// Shrink the drawing area (not the limits) so cells stay square
		// and the heat map fills the axes.
		for range 2 {
			da := p.DataCanvas(dc)
			w, h := float64(da.Max.X-da.Min.X), float64(da.Max.Y-da.Min.Y)
			want := (b.XMax - b.XMin) / (b.YMax - b.YMin) // width/height
			if w/h > want {
				cut := (w - h*want) / 2
				dc.Min.X += vg.Length(cut)
				dc.Max.X -= vg.Length(cut)
			} else {
				cut := (h - w/want) / 2
				dc.Min.Y += vg.Length(cut)
				dc.Max.Y -= vg.Length(cut)
			}
		}
	}
	if fig.overlay != nil {
		var legend legendPlotter
		for _, s := range fig.overlay.panels[0] {
			p.Add(pointsPlotter{xy: s.xy, color: withAlpha(s.color, fig.overlay.opacity), radius: pixels(fig.overlay.radius)})
			if s.name != "" || s.dropped > 0 {
				legend.entries = append(legend.entries, legendEntry{
					name:  countNote(s.name, nonzero(s.dropped, "%d non-finite dropped")),
					color: s.color,
				})
			}
		}
		p.Add(legend)
	}
	p.Draw(dc)
	return nil
}
