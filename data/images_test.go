package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"genmod/internal/fsutil"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		t.Fatal(err)
	}
}

func grayImg(w, h int, v uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v
	}
	return g
}

func rgbImg(w, h int, c color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, c)
		}
	}
	return m
}

func TestImageFolderClasses(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "shirt", "b.png"), grayImg(4, 3, 51))
	writePNG(t, filepath.Join(dir, "shirt", "a.png"), grayImg(4, 3, 0))
	writePNG(t, filepath.Join(dir, "bag", "x.png"), grayImg(4, 3, 255))
	os.WriteFile(filepath.Join(dir, "bag", "README.txt"), []byte("ignored"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".cache"), 0o755)

	s, err := LoadImageFolder(dir, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Shape, []int{3, 4, 1}) || s.Len() != 3 {
		t.Fatalf("shape %v len %d", s.Shape, s.Len())
	}
	if !reflect.DeepEqual(s.ClassNames, []string{"bag", "shirt"}) || !reflect.DeepEqual(s.Y, []int32{0, 1, 1}) {
		t.Errorf("classes %v labels %v", s.ClassNames, s.Y)
	}
	// Sorted order: bag/x (255), shirt/a (0), shirt/b (51).
	if s.Example(0)[0] != 1 || s.Example(1)[0] != 0 || s.Example(2)[5] != 0.2 {
		t.Errorf("pixel values %v %v %v", s.Example(0)[0], s.Example(1)[0], s.Example(2)[5])
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestImageFolderColourAndResize(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "red.png"), rgbImg(8, 8, color.RGBA{255, 0, 0, 255}))
	writePNG(t, filepath.Join(dir, "gray.png"), grayImg(16, 10, 128))
	f, _ := os.Create(filepath.Join(dir, "photo.JPG"))
	jpeg.Encode(f, rgbImg(8, 8, color.RGBA{0, 0, 255, 255}), &jpeg.Options{Quality: 95})
	f.Close()

	tests := []struct {
		name  string
		opts  ImageOptions
		shape []int
	}{
		{"rgb resized", ImageOptions{Size: 6}, []int{6, 6, 3}},
		{"gray resized", ImageOptions{Size: 5, Grayscale: true}, []int{5, 5, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadImageFolder(dir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Shape, tc.shape) || s.Len() != 3 || s.Y != nil {
				t.Fatalf("shape %v len %d labels %v", s.Shape, s.Len(), s.Y)
			}
			// Files sorted: gray.png, photo.JPG, red.png. A uniform image stays uniform.
			red := s.Example(2)
			if tc.shape[2] == 3 {
				if red[0] != 1 || red[1] != 0 || red[2] != 0 {
					t.Errorf("red pixel = %v", red[:3])
				}
				if g := s.Example(0); g[0] != g[1] || g[1] != g[2] || g[0] != 128.0/255 {
					t.Errorf("gray pixel = %v", g[:3])
				}
			} else if want := float32(76) / 255; red[0] != want { // luma of pure red
				t.Errorf("red as gray = %v, want %v", red[0], want)
			}
		})
	}

	// Without a size, differing sizes are an error naming both files.
	_, err := LoadImageFolder(dir, ImageOptions{})
	if err == nil || !strings.Contains(err.Error(), "gray.png is 16x10") || !strings.Contains(err.Error(), "8x8") {
		t.Errorf("mismatched sizes: %v", err)
	}
}

func TestImageFolderErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"empty", func(string) {}, "no PNG or JPEG images"},
		{"only text", func(dir string) { os.WriteFile(filepath.Join(dir, "a.txt"), nil, 0o644) }, "no PNG or JPEG images"},
		{"corrupt", func(dir string) {
			writePNG(t, filepath.Join(dir, "a.png"), grayImg(2, 2, 0))
			os.WriteFile(filepath.Join(dir, "b.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
		}, "b.png"},
		{"mixed layout", func(dir string) {
			writePNG(t, filepath.Join(dir, "a.png"), grayImg(2, 2, 0))
			writePNG(t, filepath.Join(dir, "c", "b.png"), grayImg(2, 2, 0))
		}, "both images"},
		{"empty class", func(dir string) {
			writePNG(t, filepath.Join(dir, "c1", "b.png"), grayImg(2, 2, 0))
			os.MkdirAll(filepath.Join(dir, "c2"), 0o755)
		}, `class folder "c2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			_, err := LoadImageFolder(dir, ImageOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("LoadImageFolder() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadImageFolder(filepath.Join(t.TempDir(), "nope"), ImageOptions{}); err == nil {
		t.Error("missing folder accepted")
	}
}

func TestResizeAndGrayscale(t *testing.T) {
	s := &Set{Name: "rgb", Shape: []int{4, 4, 3}, X: make([]float32, 2*48), Y: []int32{0, 1}, ClassNames: []string{"a", "b"}}
	for i := range s.X {
		s.X[i] = float32((i%3)*100) / 255 // r=0, g=100, b=200 everywhere
	}
	r, err := ResizeImages(s, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Shape, []int{7, 7, 3}) || r.Len() != 2 || r.Y[1] != 1 {
		t.Fatalf("resized %v %d", r.Shape, r.Len())
	}
	for p := 0; p < 49; p++ {
		for c := 0; c < 3; c++ {
			if got, want := r.Example(1)[3*p+c], float32(c*100)/255; got != want {
				t.Fatalf("pixel %d channel %d = %v, want %v (uniform image)", p, c, got, want)
			}
		}
	}
	g, err := ToGrayscale(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := float32(luma(0, 100, 200)) / 255; !reflect.DeepEqual(g.Shape, []int{7, 7, 1}) || g.X[0] != want {
		t.Errorf("gray %v %v, want %v", g.Shape, g.X[0], want)
	}
	if _, err := ResizeImages(&Set{Shape: []int{2}, X: []float32{1, 2}}, 4); err == nil {
		t.Error("resizing 2D data succeeded")
	}
	img, err := ImageFromExample(g.Example(0), g.Shape)
	if err != nil || img.Bounds().Dx() != 7 {
		t.Errorf("ImageFromExample: %v", err)
	}
}
