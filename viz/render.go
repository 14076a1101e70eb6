package viz

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"genmod/internal/fsutil"
)

// dpi is the resolution plots are rasterised at. Font sizes are given in
// points (1/72 inch), so at 96 dpi a 12 pt label is 16 pixels tall.
const dpi = 96

// Limits on the pixel size of any figure this package writes.
const (
	minSide   = 32
	maxSide   = 16384
	maxPixels = 100 << 20
)

// Bounds is an axis-aligned rectangle in data coordinates.
type Bounds struct {
	XMin, XMax, YMin, YMax float64
}

func (b Bounds) validate() error {
	for _, v := range [...]float64{b.XMin, b.XMax, b.YMin, b.YMax} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bounds %+v are not finite", b)
		}
	}
	if !(b.XMin < b.XMax) || !(b.YMin < b.YMax) {
		return fmt.Errorf("bounds %+v are empty (need XMin < XMax and YMin < YMax)", b)
	}
	return nil
}

// Palette is the colour cycle given to series that leave Color nil: series i
// gets Palette[i%len(Palette)]. The first two (blue, orange) are the usual
// "data" and "samples" pair.
var Palette = []color.RGBA{
	{31, 119, 180, 255},  // blue
	{255, 127, 14, 255},  // orange
	{44, 160, 44, 255},   // green
	{214, 39, 40, 255},   // red
	{148, 103, 189, 255}, // purple
	{140, 86, 75, 255},   // brown
	{227, 119, 194, 255}, // pink
	{127, 127, 127, 255}, // grey
	{188, 189, 34, 255},  // olive
	{23, 190, 207, 255},  // cyan
}

func seriesColor(c color.Color, i int) color.RGBA {
	if c == nil {
		return Palette[i%len(Palette)]
	}
	r, g, b, a := c.RGBA()
	if a == 0 {
		return color.RGBA{}
	}
	// Un-premultiply: we re-apply our own opacity later.
	return color.RGBA{
		R: uint8(r * 255 / a),
		G: uint8(g * 255 / a),
		B: uint8(b * 255 / a),
		A: 255,
	}
}

// withAlpha returns c at opacity alpha.
func withAlpha(c color.RGBA, alpha float64) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: uint8(math.Round(255 * clamp01(alpha)))}
}

func clamp01(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// checkSize validates a figure size, substituting defaults for zeros.
func checkSize(w, h, defW, defH int) (int, int, error) {
	if w == 0 {
		w = defW
	}
	if h == 0 {
		h = defH
	}
	if w < minSide || h < minSide || w > maxSide || h > maxSide {
		return 0, 0, fmt.Errorf("figure size %dx%d outside [%d, %d] pixels per side", w, h, minSide, maxSide)
	}
	return w, h, nil
}

// pixels converts a length in pixels into plot units (points).
func pixels(px float64) vg.Length { return vg.Length(px * 72 / dpi) }

// sansFont returns the Liberation Sans font description at size points.
func sansFont(size vg.Length) font.Font {
	return font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, size)
}

func textStyle(size vg.Length) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    sansFont(size),
		Handler: plot.DefaultTextHandler,
	}
}

// newPlot returns a plot with sans-serif text, a light grid and no default
// legend (this package draws its own legend, see legendPlotter).
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sansFont(13)
	p.Title.Padding = pixels(6)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = sansFont(11)
		ax.Tick.Label.Font = sansFont(10)
	}
	g := plotter.NewGrid()
	g.Horizontal.Color = color.Gray{Y: 225}
	g.Vertical.Color = color.Gray{Y: 225}
	p.Add(g)
	return p
}

// newCanvas returns an image canvas of exactly w×h pixels with a white
// background.
func newCanvas(w, h int) *vgimg.Canvas {
	return vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, w, h))), vgimg.UseDPI(dpi))
}

// render runs draw on a fresh w×h canvas and encodes the result as PNG. A
// panic inside the plotting library is turned into an error: callers of this
// package never see one.
func render(out io.Writer, w, h int, drawFn func(dc draw.Canvas) error) (err error) {
	img, err := rasterize(w, h, drawFn)
	if err != nil {
		return err
	}
	if err := png.Encode(out, img); err != nil {
		return fmt.Errorf("encoding PNG: %w", err)
	}
	return nil
}

func rasterize(w, h int, drawFn func(dc draw.Canvas) error) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("drawing failed: %v", r)
		}
	}()
	c := newCanvas(w, h)
	if err := drawFn(draw.New(c)); err != nil {
		return nil, err
	}
	return c.Image(), nil
}

// writePNG writes a figure to path atomically, after checking the input with
// encode's own validation: on any error nothing is left at path.
func writePNG(path string, encode func(w io.Writer) error) error {
	if path == "" {
		return errors.New("empty output path")
	}
	return fsutil.WriteFileAtomic(path, encode)
}

// drawFigureTitle draws a centred title at the top of dc and returns the
// canvas below it. An empty title leaves dc unchanged.
func drawFigureTitle(dc draw.Canvas, title string) draw.Canvas {
	if title == "" {
		return dc
	}
	sty := textStyle(14)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YTop
	top := dc.Max.Y - pixels(6)
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: top}, title)
	dc.Max.Y = top - sty.Height(title) - pixels(4)
	return dc
}

// equalAspect widens the shorter side of b so that one data unit spans the
// same number of pixels on both axes of the data area da.
func equalAspect(b Bounds, da draw.Canvas) Bounds {
	w, h := float64(da.Max.X-da.Min.X), float64(da.Max.Y-da.Min.Y)
	if w <= 0 || h <= 0 {
		return b
	}
	ux, uy := (b.XMax-b.XMin)/w, (b.YMax-b.YMin)/h
	if ux > uy {
		half, mid := ux*h/2, (b.YMin+b.YMax)/2
		b.YMin, b.YMax = mid-half, mid+half
	} else {
		half, mid := uy*w/2, (b.XMin+b.XMax)/2
		b.XMin, b.XMax = mid-half, mid+half
	}
	return b
}

func setLimits(p *plot.Plot, b Bounds) {
	p.X.Min, p.X.Max = b.XMin, b.XMax
	p.Y.Min, p.Y.Max = b.YMin, b.YMax
}

// legendEntry is one line of a legend drawn by legendPlotter.
type legendEntry struct {
	name  string
	color color.RGBA
	line  bool // a short line instead of a dot
}

// legendPlotter draws a legend in the top-right corner of the data area, on
// a translucent white box so it stays readable over dense points. Add it to
// a plot last.
type legendPlotter struct {
	entries []legendEntry
	topLeft bool // place it in the top-left corner instead
}

// Legend geometry, in plot units.
var (
	legendIcon  = pixels(18)
	legendGap   = pixels(6)
	legendPad   = pixels(6)
	legendInset = pixels(6) // from the corner of the data area
)

func legendText() text.Style {
	sty := textStyle(10)
	sty.YAlign = draw.YCenter
	return sty
}

// size returns the extent of the legend box including its inset from the
// corner of the data area; zero when there are no entries.
func (l legendPlotter) size() (w, h vg.Length) {
	if len(l.entries) == 0 {
		return 0, 0
	}
	sty := legendText()
	var textW vg.Length
	for _, e := range l.entries {
		textW = max(textW, sty.Width(e.name))
	}
	w = legendPad + legendIcon + legendGap + textW + legendPad
	h = legendPad + legendLineHeight(sty)*vg.Length(len(l.entries)) + legendPad
	return w + legendInset, h + legendInset
}

func legendLineHeight(sty text.Style) vg.Length { return sty.Height("Ag") * 1.3 }

func (l legendPlotter) Plot(c draw.Canvas, _ *plot.Plot) {
	if len(l.entries) == 0 {
		return
	}
	sty := legendText()
	lineH := legendLineHeight(sty)
	boxW, boxH := l.size()
	boxW, boxH = boxW-legendInset, boxH-legendInset
	box := vg.Rectangle{
		Min: vg.Point{X: c.Max.X - legendInset - boxW, Y: c.Max.Y - legendInset - boxH},
		Max: vg.Point{X: c.Max.X - legendInset, Y: c.Max.Y - legendInset},
	}
	if l.topLeft {
		box.Min.X, box.Max.X = c.Min.X+legendInset, c.Min.X+legendInset+boxW
	}
	c.SetColor(color.NRGBA{255, 255, 255, 215})
	c.Fill(box.Path())
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 190}, Width: pixels(1)})
	c.Stroke(box.Path())
	for i, e := range l.entries {
		y := box.Max.Y - legendPad - lineH*(vg.Length(i)+0.5)
		x := box.Min.X + legendPad
		if e.line {
			c.StrokeLine2(draw.LineStyle{Color: e.color, Width: pixels(2.5)}, x, y, x+legendIcon, y)
		} else {
			c.SetColor(e.color)
			c.Fill(circlePath(vg.Point{X: x + legendIcon/2, Y: y}, pixels(4)))
		}
		c.FillText(sty, vg.Point{X: x + legendIcon + legendGap, Y: y}, e.name)
	}
}

func circlePath(pt vg.Point, r vg.Length) vg.Path {
	var p vg.Path
	p.Move(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Arc(pt, r, 0, 2*math.Pi)
	p.Close()
	return p
}

// countNote renders "(…)" notes such as "3 non-finite dropped" after name.
func countNote(name string, notes ...string) string {
	var s string
	for _, n := range notes {
		if n == "" {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += n
	}
	if s == "" {
		return name
	}
	if name == "" {
		return "(" + s + ")"
	}
	return name + " (" + s + ")"
}
