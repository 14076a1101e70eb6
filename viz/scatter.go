package viz

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one set of 2D points.
type Series struct {
	// Name is shown in the legend; unnamed series get no legend entry.
	Name string
	// XY holds the points interleaved: x0, y0, x1, y1, ... Its length must
	// be even. Points with a NaN or infinite coordinate are skipped and
	// counted in the legend ("12 non-finite dropped").
	XY []float32
	// Color is the point colour; nil takes the next colour of Palette.
	// Its alpha is ignored: see ScatterOptions.Opacity.
	Color color.Color
}

// Panel is one scatter plot of a figure.
type Panel struct {
	Title  string
	Series []Series
}

// ScatterOptions controls ScatterPanels. The zero value is a good default.
type ScatterOptions struct {
	// Title is drawn above all panels.
	Title string
	// Width and Height are the size of the whole image in pixels. Width 0
	// means 560 per panel. Height 0 means 600 with FreeAspect, and otherwise
	// a height that fits the shape of the limits (so equal aspect leaves no
	// wide empty bands), between about half and 1.6 times the panel width.
	Width, Height int
	// Limits fixes the axis ranges of every panel. nil fits the points of
	// all panels together (a few far outliers are left outside the view and
	// counted in the legend as "k outside"). Either way, with equal aspect
	// the shorter range is widened to fill the panel.
	Limits *Bounds
	// PointRadius is the point radius in pixels; 0 picks one from the
	// number of points (2.5 for a few hundred, 1.5 for several thousand).
	PointRadius float64
	// Opacity of the points in (0, 1]; 0 picks one from the number of
	// points, so that dense regions read darker.
	Opacity float64
	// FreeAspect lets the x and y axes have different scales. By default
	// one unit is the same length on both axes.
	FreeAspect bool
}

// Scatter writes a single scatter plot of the series to the PNG file at
// path, with default options: overlay data and samples by passing both.
func Scatter(path, title string, series ...Series) error {
	return ScatterPanels(path, ScatterOptions{}, Panel{Title: title, Series: series})
}

// ScatterPanels writes scatter plots side by side (for example "data" and
// "samples") to the PNG file at path. All panels share the same axis limits.
// The file is written atomically; on bad input nothing is created.
func ScatterPanels(path string, opts ScatterOptions, panels ...Panel) error {
	fig, err := prepareScatter(opts, panels)
	if err != nil {
		return fmt.Errorf("viz.ScatterPanels %s: %w", path, err)
	}
	if err := writePNG(path, fig.encode); err != nil {
		return fmt.Errorf("viz.ScatterPanels: %w", err)
	}
	return nil
}

// EncodeScatterPanels is ScatterPanels writing PNG bytes to out.
func EncodeScatterPanels(out io.Writer, opts ScatterOptions, panels ...Panel) error {
	fig, err := prepareScatter(opts, panels)
	if err != nil {
		return fmt.Errorf("viz.EncodeScatterPanels: %w", err)
	}
	return fig.encode(out)
}

// cleanSeries is a series with its non-finite points removed.
type cleanSeries struct {
	name     string
	color    color.RGBA
	xy       []float64
	dropped  int  // non-finite points
	inLegend bool // named, or some points dropped or outside the limits
}

type scatterFigure struct {
	opts    ScatterOptions
	width   int
	height  int
	radius  float64
	opacity float64
	limits  Bounds
	titles  []string
	panels  [][]cleanSeries
}

func prepareScatter(opts ScatterOptions, panels []Panel) (*scatterFigure, error) {
	if len(panels) == 0 {
		return nil, errors.New("no panels to plot")
	}
	if len(panels) > 16 {
		return nil, fmt.Errorf("%d panels is more than 16", len(panels))
	}
	// Validate the size now; defaults are settled once the limits are known.
	if _, _, err := checkSize(opts.Width, opts.Height, 560, 600); err != nil {
		return nil, err
	}
	fig := &scatterFigure{opts: opts}
	if opts.Limits != nil {
		if err := opts.Limits.validate(); err != nil {
			return nil, fmt.Errorf("ScatterOptions.Limits: %w", err)
		}
	}
	if math.IsNaN(opts.PointRadius) || opts.PointRadius < 0 || opts.PointRadius > 50 {
		return nil, fmt.Errorf("ScatterOptions.PointRadius=%g outside [0, 50]", opts.PointRadius)
	}
	if math.IsNaN(opts.Opacity) || opts.Opacity < 0 || opts.Opacity > 1 {
		return nil, fmt.Errorf("ScatterOptions.Opacity=%g outside [0, 1]", opts.Opacity)
	}
	var xs, ys []float64 // all finite points, for automatic limits
	total := 0
	// Colours cycle over the series of all panels, and a name seen in an
	// earlier panel keeps its colour: "data" | "samples" panels come out
	// blue and orange, like the same two series overlaid.
	colorOf := map[string]color.RGBA{}
	next := 0
	for pi, p := range panels {
		fig.titles = append(fig.titles, p.Title)
		var cs []cleanSeries
		for si, s := range p.Series {
			if len(s.XY)%2 != 0 {
				return nil, fmt.Errorf("panel %d series %d (%q): len(XY)=%d is odd; want interleaved x,y pairs",
					pi, si, s.Name, len(s.XY))
			}
			col, seen := colorOf[s.Name]
			if s.Color != nil || !seen || s.Name == "" {
				col = seriesColor(s.Color, next)
				next++
				if s.Name != "" && !seen {
					colorOf[s.Name] = col
				}
			}
			c := cleanSeries{name: s.Name, color: col}
			c.xy = make([]float64, 0, len(s.XY))
			for i := 0; i < len(s.XY); i += 2 {
				x, y := float64(s.XY[i]), float64(s.XY[i+1])
				if !finite(x) || !finite(y) {
					c.dropped++
					continue
				}
				c.xy = append(c.xy, x, y)
				xs, ys = append(xs, x), append(ys, y)
			}
			total += len(s.XY) / 2
			cs = append(cs, c)
		}
		fig.panels = append(fig.panels, cs)
	}
	if opts.Limits != nil {
		fig.limits = *opts.Limits
	} else {
		fig.limits = autoLimits(xs, ys)
	}
	maxEntries := 0
	for _, panel := range fig.panels {
		k := 0
		for i := range panel {
			s := &panel[i]
			s.inLegend = s.name != "" || s.dropped > 0 || s.outsideOf(fig.limits) > 0
			if s.inLegend {
				k++
			}
		}
		maxEntries = max(maxEntries, k)
	}
	fig.width, fig.height = opts.Width, opts.Height
	if fig.width == 0 {
		fig.width = 560 * len(panels)
	}
	if fig.height == 0 {
		fig.height = 600
		if !opts.FreeAspect {
			// Fit the figure to the data's shape so equal aspect does not
			// leave wide empty bands: the data area of a panel is about
			// width/panels - 80 pixels wide, and axes and titles take
			// about 110 pixels of height.
			aspect := (fig.limits.YMax - fig.limits.YMin) / (fig.limits.XMax - fig.limits.XMin)
			aspect = math.Max(0.5, math.Min(1.6, aspect))
			dataW := float64(fig.width)/float64(len(panels)) - 80
			fig.height = int(math.Round(dataW*aspect + 110))
			if maxEntries > 0 {
				fig.height += 24 + 23*maxEntries // the legend's band
			}
			if opts.Title != "" {
				fig.height += 30
			}
		}
	}
	if _, _, err := checkSize(fig.width, fig.height, 0, 0); err != nil {
		return nil, err
	}
	perPanel := float64(total) / float64(len(panels))
	fig.radius = opts.PointRadius
	if fig.radius == 0 {
		// 2.5 px up to ~300 points, shrinking to 1.2 px at ~20k.
		fig.radius = math.Max(1.2, math.Min(2.5, 2.5-0.75*math.Log10(math.Max(perPanel, 1)/300)))
	}
	fig.opacity = opts.Opacity
	if fig.opacity == 0 {
		fig.opacity = math.Max(0.15, math.Min(0.8, 0.8-0.3*math.Log10(math.Max(perPanel, 1)/300)))
	}
	return fig, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// autoLimits fits the bulk of the points: the range is that of all points
// unless some lie far (more than a quarter of the central 99.6% range)
// beyond it, in which case those are left outside. A 5% margin is added.
func autoLimits(xs, ys []float64) Bounds {
	if len(xs) == 0 {
		return Bounds{-1, 1, -1, 1}
	}
	lo, hi := robustRange(xs)
	b := Bounds{XMin: lo, XMax: hi}
	b.YMin, b.YMax = robustRange(ys)
	return b
}

func robustRange(v []float64) (lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 { return s[int(math.Round(p*float64(len(s)-1)))] }
	qlo, qhi := q(0.002), q(0.998)
	span := qhi - qlo
	lo = math.Max(s[0], qlo-0.25*span)
	hi = math.Min(s[len(s)-1], qhi+0.25*span)
	span = hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(lo), 1) * 0.2
	}
	return lo - 0.05*span, hi + 0.05*span
}

func (fig *scatterFigure) encode(out io.Writer) error {
	return render(out, fig.width, fig.height, fig.draw)
}

// outside counts the points of s outside b.
func (s cleanSeries) outsideOf(b Bounds) int {
	k := 0
	for j := 0; j < len(s.xy); j += 2 {
		if s.xy[j] < b.XMin || s.xy[j] > b.XMax || s.xy[j+1] < b.YMin || s.xy[j+1] > b.YMax {
			k++
		}
	}
	return k
}

// legends returns each panel's legend with the counts of points outside
// lim. Which series get an entry is settled by prepareScatter, so the
// legend's height does not depend on lim.
func (fig *scatterFigure) legends(lim Bounds) []legendPlotter {
	out := make([]legendPlotter, len(fig.panels))
	for i, panel := range fig.panels {
		for si, s := range panel {
			if !s.inLegend {
				continue
			}
			name := countNote(s.name,
				nonzero(s.dropped, "%d non-finite dropped"),
				nonzero(s.outsideOf(lim), "%d outside"))
			if name == "" {
				name = fmt.Sprintf("series %d", si)
			}
			out[i].entries = append(out[i].entries, legendEntry{name: name, color: s.color})
		}
	}
	return out
}

func (fig *scatterFigure) draw(dc draw.Canvas) error {
	dc = drawFigureTitle(dc, fig.opts.Title)
	n := len(fig.panels)
	plots := make([][]*plot.Plot, 1)
	for _, title := range fig.titles {
		p := newPlot(title, "", "")
		setLimits(p, fig.limits)
		plots[0] = append(plots[0], p)
	}
	tiles := draw.Tiles{
		Rows: 1, Cols: n,
		PadX: pixels(16), PadTop: pixels(6), PadBottom: pixels(6), PadLeft: pixels(6), PadRight: pixels(12),
	}
	var legendH vg.Length
	for _, l := range fig.legends(fig.limits) {
		_, h := l.size()
		legendH = max(legendH, h)
	}
	limits := fig.limits
	// The legend gets a band of its own at the top of the axes (raising
	// YMax), so it never hides points. Tick labels depend on the limits and
	// the data area on the tick labels: two rounds settle it.
	for range 2 {
		if legendH == 0 && fig.opts.FreeAspect {
			break
		}
		da := plots[0][0].DataCanvas(plot.Align(plots, tiles, dc)[0][0])
		limits = fig.limits
		if h := float64(da.Max.Y - da.Min.Y); legendH > 0 && h > 0 {
			f := math.Min(0.5, float64(legendH)/h)
			limits.YMax += (limits.YMax - limits.YMin) * f / (1 - f)
		}
		if !fig.opts.FreeAspect {
			limits = equalAspect(limits, da)
		}
		for _, p := range plots[0] {
			setLimits(p, limits)
		}
	}
	canvases := plot.Align(plots, tiles, dc)
	legends := fig.legends(limits)
	for i, p := range plots[0] {
		for _, s := range fig.panels[i] {
			p.Add(pointsPlotter{xy: s.xy, color: withAlpha(s.color, fig.opacity), radius: pixels(fig.radius)})
		}
		p.Add(legends[i])
		p.Draw(canvases[0][i])
	}
	return nil
}

func nonzero(k int, format string) string {
	if k == 0 {
		return ""
	}
	return fmt.Sprintf(format, k)
}

// pointsPlotter draws filled dots, skipping those outside the data area.
type pointsPlotter struct {
	xy     []float64
	color  color.Color
	radius vg.Length
}

func (pp pointsPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	c.SetColor(pp.color)
	for i := 0; i < len(pp.xy); i += 2 {
		pt := vg.Point{X: trX(pp.xy[i]), Y: trY(pp.xy[i+1])}
		if !c.Contains(pt) {
			continue
		}
		c.Fill(circlePath(pt, pp.radius))
	}
}
