package viz

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	xfont "golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot/font"
)

// GridOptions controls the layout of ImageGrid.
type GridOptions struct {
	// Cols is the number of images per row; 0 means ceil(sqrt(n)). It is
	// capped at n.
	Cols int
	// Scale is the integer upscaling of each image pixel (nearest
	// neighbour). 0 picks the smallest factor that makes a tile at least
	// 64 pixels on its longer side, at most 8: 28x28 becomes 84x84, 8x8
	// becomes 64x64, 64x64 stays as is.
	Scale int
	// Pad is the gap in pixels between tiles and around the grid.
	// 0 means 2; a negative value means no gap.
	Pad int
	// RowLabels, when non-empty, are drawn left of each row on a white
	// margin (for example class names, one row per class). There may be
	// fewer labels than rows, never more.
	RowLabels []string
	// Title, when non-empty, is drawn centred above the grid.
	Title string
}

// Colours of the grid's furniture.
var (
	gridBackground = color.RGBA{255, 255, 255, 255}
	// nanColor marks pixels whose value is NaN, so a diverged sampler is
	// visible at a glance instead of being clamped into plausible grey.
	nanColor = color.RGBA{255, 0, 255, 255}
)

// Font sizes in pixels for grid text.
const (
	labelPx = 14
	titlePx = 16
	textPad = 6 // pixels of white around text
)

// gridLayout is where every part of an image grid goes, in pixels.
type gridLayout struct {
	n, h, w, c   int
	cols, rows   int
	scale, pad   int
	tileW, tileH int
	left, top    int // size of the label margin and the title band
	width        int // total image size
	height       int
}

// tileOrigin returns the top-left pixel of tile k (row-major).
func (l gridLayout) tileOrigin(k int) (x, y int) {
	r, col := k/l.cols, k%l.cols
	return l.left + l.pad + col*(l.tileW+l.pad), l.top + l.pad + r*(l.tileH+l.pad)
}

func validateImages(images []float32, n, h, w, c int) error {
	switch {
	case n <= 0:
		return fmt.Errorf("image grid needs at least one image, got n=%d", n)
	case h <= 0 || w <= 0:
		return fmt.Errorf("image size %dx%d must be positive", h, w)
	case c != 1 && c != 3:
		return fmt.Errorf("image grid supports 1 (grey) or 3 (RGB) channels, got c=%d", c)
	}
	want := int64(n) * int64(h) * int64(w) * int64(c)
	if int64(len(images)) != want {
		return fmt.Errorf("image grid: len(images)=%d, want n*h*w*c = %d*%d*%d*%d = %d", len(images), n, h, w, c, want)
	}
	return nil
}

func layoutGrid(n, h, w, c int, opts GridOptions, label, title xfont.Face) (gridLayout, error) {
	l := gridLayout{n: n, h: h, w: w, c: c}
	l.cols = opts.Cols
	if l.cols < 0 {
		return l, fmt.Errorf("GridOptions.Cols=%d must not be negative", opts.Cols)
	}
	if l.cols == 0 {
		l.cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	l.cols = min(l.cols, n)
	l.rows = (n + l.cols - 1) / l.cols
	if len(opts.RowLabels) > l.rows {
		return l, fmt.Errorf("%d row labels for %d rows (n=%d, %d per row)", len(opts.RowLabels), l.rows, n, l.cols)
	}
	l.scale = opts.Scale
	switch {
	case l.scale < 0:
		return l, fmt.Errorf("GridOptions.Scale=%d must not be negative", opts.Scale)
	case l.scale == 0:
		l.scale = min(8, max(1, (64+max(h, w)-1)/max(h, w)))
	case l.scale > 64:
		return l, fmt.Errorf("GridOptions.Scale=%d is larger than 64", opts.Scale)
	}
	switch {
	case opts.Pad == 0:
		l.pad = 2
	case opts.Pad > 0:
		l.pad = opts.Pad
	}
	if l.pad > 256 {
		return l, fmt.Errorf("GridOptions.Pad=%d is larger than 256", opts.Pad)
	}
	l.tileW, l.tileH = w*l.scale, h*l.scale
	for _, s := range opts.RowLabels {
		if s != "" {
			l.left = max(l.left, textWidth(label, s)+2*textPad)
		}
	}
	if opts.Title != "" {
		l.top = lineHeight(title) + 2*textPad
	}
	gridW := int64(l.left) + int64(l.pad) + int64(l.cols)*int64(l.tileW+l.pad)
	gridH := int64(l.top) + int64(l.pad) + int64(l.rows)*int64(l.tileH+l.pad)
	if opts.Title != "" {
		gridW = max(gridW, int64(textWidth(title, opts.Title)+2*textPad))
	}
	if gridW > maxSide || gridH > maxSide || gridW*gridH > maxPixels {
		return l, fmt.Errorf("image grid would be %dx%d pixels, over the limit of %d per side and %d in all; lower Scale or n",
			gridW, gridH, maxSide, maxPixels)
	}
	l.width, l.height = int(gridW), int(gridH)
	return l, nil
}

// GridImage lays out n images of h×w pixels with c channels as a grid and
// returns it as an RGBA image. images holds n*h*w*c values in NHWC order
// with intensities in [0, 1]; values outside are clamped and NaN pixels are
// drawn magenta (#ff00ff) so that they cannot pass for real data.
func GridImage(images []float32, n, h, w, c int, opts GridOptions) (*image.RGBA, error) {
	if err := validateImages(images, n, h, w, c); err != nil {
		return nil, err
	}
	labelFace, titleFace, err := gridFaces()
	if err != nil {
		return nil, err
	}
	defer labelFace.Close()
	defer titleFace.Close()
	l, err := layoutGrid(n, h, w, c, opts, labelFace, titleFace)
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, l.width, l.height))
	fillRect(img, img.Bounds(), gridBackground)
	for k := range n {
		x0, y0 := l.tileOrigin(k)
		drawTile(img, images[k*h*w*c:(k+1)*h*w*c], l, x0, y0)
	}
	for r, s := range opts.RowLabels {
		if s == "" {
			continue
		}
		_, y0 := l.tileOrigin(r * l.cols)
		drawText(img, labelFace, s, textPad, y0+l.tileH/2, false)
	}
	if opts.Title != "" {
		drawText(img, titleFace, opts.Title, l.width/2, l.top/2, true)
	}
	return img, nil
}

// EncodeImageGrid writes the grid of GridImage to out as PNG.
func EncodeImageGrid(out io.Writer, images []float32, n, h, w, c int, opts GridOptions) error {
	img, err := GridImage(images, n, h, w, c, opts)
	if err != nil {
		return err
	}
	if err := png.Encode(out, img); err != nil {
		return fmt.Errorf("encoding image grid: %w", err)
	}
	return nil
}

// ImageGrid writes the grid of GridImage to the PNG file at path. The file
// is written atomically; on bad input nothing is created.
func ImageGrid(path string, images []float32, n, h, w, c int, opts GridOptions) error {
	// Validate before touching the file system.
	if err := validateImages(images, n, h, w, c); err != nil {
		return fmt.Errorf("viz.ImageGrid %s: %w", path, err)
	}
	err := writePNG(path, func(out io.Writer) error {
		return EncodeImageGrid(out, images, n, h, w, c, opts)
	})
	if err != nil {
		return fmt.Errorf("viz.ImageGrid: %w", err)
	}
	return nil
}

// drawTile copies one image into img at (x0, y0), upscaled by l.scale.
func drawTile(img *image.RGBA, src []float32, l gridLayout, x0, y0 int) {
	for y := range l.h {
		for x := range l.w {
			px := src[(y*l.w+x)*l.c:]
			var col color.RGBA
			if l.c == 1 {
				g, ok := toByte(px[0])
				col = color.RGBA{g, g, g, 255}
				if !ok {
					col = nanColor
				}
			} else {
				r, okR := toByte(px[0])
				g, okG := toByte(px[1])
				b, okB := toByte(px[2])
				col = color.RGBA{r, g, b, 255}
				if !okR || !okG || !okB {
					col = nanColor
				}
			}
			fillRect(img, image.Rect(x0+x*l.scale, y0+y*l.scale, x0+(x+1)*l.scale, y0+(y+1)*l.scale), col)
		}
	}
}

// toByte maps [0, 1] to [0, 255], clamping; ok is false for NaN.
func toByte(v float32) (b uint8, ok bool) {
	switch {
	case v != v:
		return 0, false
	case v <= 0:
		return 0, true
	case v >= 1:
		return 255, true
	}
	return uint8(v*255 + 0.5), true
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			row[i], row[i+1], row[i+2], row[i+3] = c.R, c.G, c.B, c.A
		}
	}
}

// gridFaces returns fresh label and title faces (Liberation Sans, the font
// gonum/plot embeds). Faces are not safe for concurrent use, so each call
// makes its own.
func gridFaces() (label, title xfont.Face, err error) {
	defer func() {
		if r := recover(); r != nil {
			label, title, err = nil, nil, fmt.Errorf("loading font: %v", r)
		}
	}()
	mk := func(px float64) (xfont.Face, error) {
		f := font.DefaultCache.Lookup(sansFont(0), 0)
		if f.Face == nil {
			return nil, errors.New("no font available in gonum/plot's font cache")
		}
		f.Font.Size = font.Length(px)
		return f.FontFace(72), nil // at 72 dpi one point is one pixel
	}
	if label, err = mk(labelPx); err != nil {
		return nil, nil, err
	}
	if title, err = mk(titlePx); err != nil {
		label.Close()
		return nil, nil, err
	}
	return label, title, nil
}

func textWidth(f xfont.Face, s string) int {
	return xfont.MeasureString(f, s).Ceil()
}

func lineHeight(f xfont.Face) int {
	m := f.Metrics()
	return (m.Ascent + m.Descent).Ceil()
}

// drawText draws s in black with its vertical centre at y; x is its left
// edge, or its centre when centred is true.
func drawText(img *image.RGBA, f xfont.Face, s string, x, y int, centred bool) {
	if centred {
		x -= textWidth(f, s) / 2
	}
	m := f.Metrics()
	baseline := y + (m.Ascent-m.Descent).Round()/2
	d := xfont.Drawer{
		Dst:  img,
		Src:  image.NewUniform(color.Black),
		Face: f,
		Dot:  fixed.P(x, baseline),
	}
	d.DrawString(s)
}
