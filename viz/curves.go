package viz

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// CurveSeries is one line of a Curves plot, e.g. training loss against step.
type CurveSeries struct {
	Name string
	X, Y []float64
	// Color is the line colour; nil takes the next colour of Palette.
	Color color.Color
}

// CurveOptions controls Curves. The zero value is a good default.
type CurveOptions struct {
	Title, XLabel, YLabel string
	// Width and Height of the image in pixels; 0 means 800 and 500.
	Width, Height int
	// LogY draws the y axis on a log scale. Points with y <= 0 cannot be
	// shown and are dropped (counted in the legend).
	LogY bool
	// Smooth is the window, in points, of a centred moving average drawn
	// over each series; the raw series is then drawn faintly beneath it.
	// 0 or 1 means no smoothing. With LogY the average is taken of log y.
	// The window is capped at a quarter of a series' points, so a sparse
	// series (an eval loss logged every few thousand steps) is drawn as is.
	Smooth int
}

// Curves writes a line plot of the series (loss curves and the like) to the
// PNG file at path. Points with a NaN or infinite coordinate are dropped and
// counted in the legend, so a diverged run still gets its plot. The file is
// written atomically; on bad input nothing is created.
func Curves(path string, opts CurveOptions, series ...CurveSeries) error {
	fig, err := prepareCurves(opts, series)
	if err != nil {
		return fmt.Errorf("viz.Curves %s: %w", path, err)
	}
	if err := writePNG(path, fig.encode); err != nil {
		return fmt.Errorf("viz.Curves: %w", err)
	}
	return nil
}

// EncodeCurves is Curves writing PNG bytes to out.
func EncodeCurves(out io.Writer, opts CurveOptions, series ...CurveSeries) error {
	fig, err := prepareCurves(opts, series)
	if err != nil {
		return fmt.Errorf("viz.EncodeCurves: %w", err)
	}
	return fig.encode(out)
}

type cleanCurve struct {
	name     string
	color    color.RGBA
	xy       plotter.XYs
	smooth   plotter.XYs
	dropped  int // non-finite
	nonPos   int // y <= 0 on a log axis
	sourceNo int
}

type curveFigure struct {
	opts          CurveOptions
	width, height int
	curves        []cleanCurve
	bounds        Bounds
}

func prepareCurves(opts CurveOptions, series []CurveSeries) (*curveFigure, error) {
	if len(series) == 0 {
		return nil, errors.New("no series to plot")
	}
	w, h, err := checkSize(opts.Width, opts.Height, 800, 500)
	if err != nil {
		return nil, err
	}
	if opts.Smooth < 0 {
		return nil, fmt.Errorf("CurveOptions.Smooth=%d must not be negative", opts.Smooth)
	}
	fig := &curveFigure{opts: opts, width: w, height: h}
	b := Bounds{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
	points := 0
	for si, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("series %d (%q): len(X)=%d != len(Y)=%d", si, s.Name, len(s.X), len(s.Y))
		}
		c := cleanCurve{name: s.Name, color: seriesColor(s.Color, si), sourceNo: si}
		for i := range s.X {
			x, y := s.X[i], s.Y[i]
			switch {
			case !finite(x) || !finite(y):
				c.dropped++
				continue
			case opts.LogY && y <= 0:
				c.nonPos++
				continue
			}
			c.xy = append(c.xy, plotter.XY{X: x, Y: y})
			b.XMin, b.XMax = math.Min(b.XMin, x), math.Max(b.XMax, x)
			b.YMin, b.YMax = math.Min(b.YMin, y), math.Max(b.YMax, y)
		}
		points += len(c.xy)
		if win := min(opts.Smooth, len(c.xy)/4); win > 1 {
			c.smooth = movingAverage(c.xy, win, opts.LogY)
		}
		fig.curves = append(fig.curves, c)
	}
	if points == 0 {
		why := "all empty or non-finite"
		if opts.LogY {
			why = "all empty, non-finite or <= 0 on the log axis"
		}
		return nil, fmt.Errorf("no plottable points in %d series (%s)", len(series), why)
	}
	if b.XMin == b.XMax {
		b.XMin, b.XMax = b.XMin-0.5, b.XMax+0.5
	}
	if b.YMin == b.YMax {
		if opts.LogY {
			b.YMin, b.YMax = b.YMin/2, b.YMax*2
		} else {
			d := math.Max(math.Abs(b.YMin)*0.1, 0.5)
			b.YMin, b.YMax = b.YMin-d, b.YMax+d
		}
	}
	fig.bounds = b
	return fig, nil
}

// movingAverage returns the centred moving average of xy over window points
// (shrinking at the ends), averaging log y when logY is set.
func movingAverage(xy plotter.XYs, window int, logY bool) plotter.XYs {
	f := func(y float64) float64 { return y }
	inv := f
	if logY {
		f, inv = math.Log, math.Exp
	}
	// Prefix sums make this O(n) for any window.
	prefix := make([]float64, len(xy)+1)
	for i, p := range xy {
		prefix[i+1] = prefix[i] + f(p.Y)
	}
	half := window / 2
	out := make(plotter.XYs, len(xy))
	for i := range xy {
		lo, hi := max(0, i-half), min(len(xy), i-half+window)
		out[i] = plotter.XY{X: xy[i].X, Y: inv((prefix[hi] - prefix[lo]) / float64(hi-lo))}
	}
	return out
}

func (fig *curveFigure) encode(out io.Writer) error {
	return render(out, fig.width, fig.height, fig.draw)
}

func (fig *curveFigure) draw(dc draw.Canvas) error {
	p := newPlot(fig.opts.Title, fig.opts.XLabel, fig.opts.YLabel)
	setLimits(p, fig.bounds)
	if fig.opts.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicker{}
	}
	var legend legendPlotter
	for _, c := range fig.curves {
		if len(c.xy) > 0 {
			raw := &plotter.Line{XYs: c.xy, LineStyle: draw.LineStyle{Color: c.color, Width: pixels(1.5)}}
			if c.smooth != nil {
				raw.LineStyle.Color = withAlpha(c.color, 0.3)
				raw.LineStyle.Width = pixels(1)
			}
			p.Add(raw)
			if c.smooth != nil {
				p.Add(&plotter.Line{XYs: c.smooth, LineStyle: draw.LineStyle{Color: c.color, Width: pixels(2)}})
			}
			if len(c.xy) == 1 {
				// A lone point makes no line: mark it.
				p.Add(pointsPlotter{xy: []float64{c.xy[0].X, c.xy[0].Y}, color: c.color, radius: pixels(3)})
			}
		}
		name := c.name
		if name == "" {
			name = fmt.Sprintf("series %d", c.sourceNo)
		}
		legend.entries = append(legend.entries, legendEntry{
			name: countNote(name,
				nonzero(c.dropped, "%d non-finite dropped"),
				nonzero(c.nonPos, "%d <= 0 dropped")),
			color: c.color,
			line:  true,
		})
	}
	if len(fig.curves) == 1 && fig.curves[0].name == "" && fig.curves[0].dropped == 0 && fig.curves[0].nonPos == 0 {
		legend.entries = nil
	}
	p.Add(legend)
	dc.Min.X += pixels(4)
	dc.Max.X -= pixels(16)
	dc.Min.Y += pixels(4)
	dc.Max.Y -= pixels(8)
	p.Draw(dc)
	return nil
}

// logTicker labels a log axis with mantissas 1, then 1-2-5, then 1..9 times
// powers of ten, taking the sparsest set that puts at least three labels on
// the axis (so a loss between 0.3 and 2 is not left with one label). Ranges
// too narrow for any of them get ordinary "nice" linear ticks.
type logTicker struct{}

func (logTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	all := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, labelled := range [][]float64{{1}, {1, 2, 5}, all} {
		var ticks []plot.Tick
		labels := 0
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			p := math.Pow(10, e)
			for _, m := range all {
				v := m * p
				if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
					continue
				}
				t := plot.Tick{Value: v}
				if slices.Contains(labelled, m) {
					t.Label = strconv.FormatFloat(v, 'g', 3, 64)
					labels++
				}
				ticks = append(ticks, t)
			}
		}
		if labels >= 3 {
			return ticks
		}
	}
	return plot.DefaultTicks{}.Ticks(lo, hi)
}
