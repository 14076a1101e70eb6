package viz

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// constImages returns n images of h×w×c where every value of image k is
// val(k, channel).
func constImages(n, h, w, c int, val func(k, ch int) float32) []float32 {
	out := make([]float32, 0, n*h*w*c)
	for k := range n {
		for range h * w {
			for ch := range c {
				out = append(out, val(k, ch))
			}
		}
	}
	return out
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return img
}

func rgbAt(img image.Image, x, y int) color.RGBA {
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func TestImageGridTiles(t *testing.T) {
	tests := []struct {
		name       string
		n, h, w, c int
		opts       GridOptions
		wantW      int
		wantH      int
		val        func(k, ch int) float32
	}{
		{
			name: "gray 3 cols", n: 6, h: 4, w: 5, c: 1,
			opts:  GridOptions{Cols: 3, Scale: 2, Pad: 1},
			wantW: 1 + 3*(10+1), wantH: 1 + 2*(8+1),
			val: func(k, _ int) float32 { return float32(k) / 10 },
		},
		{
			name: "rgb auto cols, partial last row", n: 5, h: 3, w: 3, c: 3,
			opts:  GridOptions{Scale: 4, Pad: -1},
			wantW: 3 * 12, wantH: 2 * 12,
			val: func(k, ch int) float32 { return []float32{float32(k) / 8, 0.5, 1 - float32(k)/8}[ch] },
		},
		{
			name: "default pad and auto scale for 28x28", n: 4, h: 28, w: 28, c: 1,
			opts:  GridOptions{},
			wantW: 2 + 2*(84+2), wantH: 2 + 2*(84+2),
			val: func(k, _ int) float32 { return 0.25 * float32(k) },
		},
		{
			name: "cols capped at n", n: 2, h: 2, w: 2, c: 1,
			opts:  GridOptions{Cols: 10, Scale: 3, Pad: 2},
			wantW: 2 + 2*(6+2), wantH: 2 + 6 + 2,
			val: func(k, _ int) float32 { return 1 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "grid.png")
			images := constImages(tt.n, tt.h, tt.w, tt.c, tt.val)
			if err := ImageGrid(path, images, tt.n, tt.h, tt.w, tt.c, tt.opts); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path)
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			l, err := layoutGrid(tt.n, tt.h, tt.w, tt.c, tt.opts, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tt.n {
				x0, y0 := l.tileOrigin(k)
				got := rgbAt(img, x0+l.tileW/2, y0+l.tileH/2)
				var want color.RGBA
				if tt.c == 1 {
					g, _ := toByte(tt.val(k, 0))
					want = color.RGBA{g, g, g, 255}
				} else {
					r, _ := toByte(tt.val(k, 0))
					g, _ := toByte(tt.val(k, 1))
					b, _ := toByte(tt.val(k, 2))
					want = color.RGBA{r, g, b, 255}
				}
				if got != want {
					t.Errorf("tile %d centre = %v, want %v", k, got, want)
				}
				// Tile corners too: the tile covers exactly tileW×tileH.
				if c := rgbAt(img, x0, y0); c != want {
					t.Errorf("tile %d top-left = %v, want %v", k, c, want)
				}
				if c := rgbAt(img, x0+l.tileW-1, y0+l.tileH-1); c != want {
					t.Errorf("tile %d bottom-right = %v, want %v", k, c, want)
				}
			}
			// Empty slots of a partial last row stay white.
			if tt.n%l.cols != 0 {
				x0, y0 := l.tileOrigin(tt.n)
				if c := rgbAt(img, x0+l.tileW/2, y0+l.tileH/2); c != gridBackground {
					t.Errorf("empty slot = %v, want background", c)
				}
			}
		})
	}
}

func TestImageGridAutoScale(t *testing.T) {
	for _, tt := range []struct{ h, w, want int }{
		{28, 28, 3}, {8, 8, 8}, {32, 32, 2}, {64, 64, 1}, {100, 30, 1}, {1, 1, 8}, {20, 40, 2},
	} {
		l, err := layoutGrid(1, tt.h, tt.w, 1, GridOptions{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.scale != tt.want {
			t.Errorf("%dx%d: scale %d, want %d", tt.h, tt.w, l.scale, tt.want)
		}
	}
}

func TestImageGridClampAndNaN(t *testing.T) {
	images := []float32{-0.5, 2, float32(math.NaN()), 0.5}
	img, err := GridImage(images, 4, 1, 1, 1, GridOptions{Cols: 4, Scale: 1, Pad: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := []color.RGBA{{0, 0, 0, 255}, {255, 255, 255, 255}, nanColor, {128, 128, 128, 255}}
	for i, w := range want {
		if got := img.RGBAAt(i, 0); got != w {
			t.Errorf("pixel %d (value %v) = %v, want %v", i, images[i], got, w)
		}
	}
}

// nonWhite counts pixels in r that are not white.
func nonWhite(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if rgbAt(img, x, y) != (color.RGBA{255, 255, 255, 255}) {
				n++
			}
		}
	}
	return n
}

func TestImageGridLabelsAndTitle(t *testing.T) {
	const n, h, w = 6, 8, 8
	images := constImages(n, h, w, 1, func(k, _ int) float32 { return 0.2 })
	plain, err := GridImage(images, n, h, w, 1, GridOptions{Cols: 3})
	if err != nil {
		t.Fatal(err)
	}
	opts := GridOptions{Cols: 3, RowLabels: []string{"T-shirt", "Sneaker"}, Title: "epoch 3"}
	labelled, err := GridImage(images, n, h, w, 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	labelFace, titleFace, err := gridFaces()
	if err != nil {
		t.Fatal(err)
	}
	l, err := layoutGrid(n, h, w, 1, opts, labelFace, titleFace)
	if err != nil {
		t.Fatal(err)
	}
	if l.left <= 0 || l.top <= 0 {
		t.Fatalf("label margin %d, title band %d: want both > 0", l.left, l.top)
	}
	pb, lb := plain.Bounds(), labelled.Bounds()
	if lb.Dx() != pb.Dx()+l.left || lb.Dy() != pb.Dy()+l.top {
		t.Errorf("labelled grid %v, plain %v: want it larger by the margin %d x %d", lb, pb, l.left, l.top)
	}
	// Each labelled row has dark text pixels in the margin beside it.
	for r := range 2 {
		_, y0 := l.tileOrigin(r * l.cols)
		if k := nonWhite(labelled, image.Rect(0, y0, l.left, y0+l.tileH)); k < 20 {
			t.Errorf("row %d: %d non-white pixels in the label margin, want text", r, k)
		}
	}
	if k := nonWhite(labelled, image.Rect(0, 0, lb.Dx(), l.top)); k < 20 {
		t.Errorf("title band has %d non-white pixels, want text", k)
	}
	// Tiles moved by the margin and still hold their values.
	x0, y0 := l.tileOrigin(4)
	if c := labelled.RGBAAt(x0+1, y0+1); c != (color.RGBA{51, 51, 51, 255}) {
		t.Errorf("tile 4 pixel = %v after adding labels", c)
	}
}

func TestImageGridBadInput(t *testing.T) {
	ok := constImages(4, 2, 2, 1, func(int, int) float32 { return 0 })
	tests := []struct {
		name       string
		images     []float32
		n, h, w, c int
		opts       GridOptions
		wantErr    string
	}{
		{"short slice", ok[:15], 4, 2, 2, 1, GridOptions{}, "len(images)=15"},
		{"two channels", ok, 2, 2, 2, 2, GridOptions{}, "c=2"},
		{"no images", nil, 0, 2, 2, 1, GridOptions{}, "n=0"},
		{"zero height", ok, 4, 0, 2, 1, GridOptions{}, "positive"},
		{"too many labels", ok, 4, 2, 2, 1, GridOptions{Cols: 2, RowLabels: []string{"a", "b", "c"}}, "3 row labels for 2 rows"},
		{"negative cols", ok, 4, 2, 2, 1, GridOptions{Cols: -1}, "Cols"},
		{"negative scale", ok, 4, 2, 2, 1, GridOptions{Scale: -2}, "Scale"},
		{"too large", make([]float32, 300*300), 1, 300, 300, 1, GridOptions{Scale: 64}, "over the limit"},
		{"scale over 64", ok, 4, 2, 2, 1, GridOptions{Scale: 65}, "Scale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "grid.png")
			err := ImageGrid(path, tt.images, tt.n, tt.h, tt.w, tt.c, tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			assertNoFiles(t, filepath.Dir(path))
		})
	}
}

// assertNoFiles checks dir is empty: no output and no temporary file left.
func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("file %s left behind", e.Name())
	}
}

func TestImageGridKeepsOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ImageGrid(path, []float32{1, 2}, 1, 1, 1, 1, GridOptions{}); err == nil {
		t.Fatal("no error for a wrong-length slice")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("existing file changed to %q", b)
	}
}

func TestEncodeImageGrid(t *testing.T) {
	var buf bytes.Buffer
	if err := EncodeImageGrid(&buf, []float32{0, 1}, 2, 1, 1, 1, GridOptions{Scale: 1, Pad: -1}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 2 || b.Dy() != 1 {
		t.Errorf("size %v, want 2x1", b)
	}
}
