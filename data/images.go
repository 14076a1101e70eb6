package data

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // register JPEG decoding
	_ "image/png"  // register PNG decoding
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/draw"
)

// ImageOptions configures LoadImageFolder.
type ImageOptions struct {
	// Size, when > 0, resizes every image to Size x Size (Catmull-Rom,
	// aspect ratio not kept). When 0 all images must have the same size.
	Size int
	// Grayscale forces one channel (luma, ITU-R 601 weights). Otherwise the
	// set has one channel when every image is grayscale and three (RGB) when
	// any image has colour.
	Grayscale bool
}

// maxImagePixels bounds the size of one decoded image (a decompression bomb
// guard): 64 megapixels.
const maxImagePixels = 1 << 26

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// LoadImageFolder reads the PNG and JPEG files of dir into a Set with images
// in [0, 1]. If dir has sub-folders holding images, each sub-folder is a
// class: labels follow the sorted folder names, which become ClassNames;
// otherwise the images directly in dir form an unlabeled set. Other files
// and hidden entries are ignored. Transparent pixels are composited over
// black. Files are read in sorted order, so the result is deterministic.
func LoadImageFolder(dir string, opts ImageOptions) (*Set, error) {
	if opts.Size < 0 {
		return nil, fmt.Errorf("images:%s: negative image size %d", dir, opts.Size)
	}
	top, subdirs, err := listImages(dir)
	if err != nil {
		return nil, fmt.Errorf("images:%s: %w", dir, err)
	}
	var files []string
	var labels []int32
	var classes, empty []string
	for _, sd := range subdirs {
		imgs, _, err := listImages(filepath.Join(dir, sd))
		if err != nil {
			return nil, fmt.Errorf("images:%s: %w", dir, err)
		}
		if len(imgs) == 0 {
			empty = append(empty, sd)
			continue
		}
		for _, f := range imgs {
			files = append(files, filepath.Join(dir, sd, f))
			labels = append(labels, int32(len(classes)))
		}
		classes = append(classes, sd)
	}
	switch {
	case len(classes) > 0 && len(top) > 0:
		return nil, fmt.Errorf("images:%s: holds both images (%s) and class folders (%s); use one layout", dir, top[0], classes[0])
	case len(classes) > 0 && len(empty) > 0:
		return nil, fmt.Errorf("images:%s: class folder %q holds no PNG or JPEG images (nested folders are not read)", dir, empty[0])
	case len(classes) == 0 && len(top) == 0:
		return nil, fmt.Errorf("images:%s: no PNG or JPEG images found (looked for *.png, *.jpg, *.jpeg directly in the folder or in one sub-folder per class)", dir)
	case len(classes) == 0:
		for _, f := range top {
			files = append(files, filepath.Join(dir, f))
		}
	}

	type decoded struct {
		rgb  []uint8 // 3 bytes per pixel
		gray bool
	}
	imgs := make([]decoded, len(files))
	var w, h int
	allGray := true
	for i, path := range files {
		img, err := decodeImageFile(path)
		if err != nil {
			return nil, fmt.Errorf("images:%s: %w", dir, err)
		}
		b := img.Bounds()
		if opts.Size > 0 {
			w, h = opts.Size, opts.Size
		} else if i == 0 {
			w, h = b.Dx(), b.Dy()
		} else if b.Dx() != w || b.Dy() != h {
			return nil, fmt.Errorf("images:%s: %s is %dx%d but %s is %dx%d; set an image size (--image-size) to resize them all", dir, path, b.Dx(), b.Dy(), files[0], w, h)
		}
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		if b.Dx() == w && b.Dy() == h {
			draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		} else {
			draw.CatmullRom.Scale(rgba, rgba.Bounds(), img, b, draw.Src, nil)
		}
		g := isGray(img)
		allGray = allGray && g
		imgs[i] = decoded{rgb: rgbBytes(rgba), gray: g}
	}
	c := 3
	if opts.Grayscale || allGray {
		c = 1
	}
	s := &Set{Name: "images:" + dir, Shape: []int{h, w, c}, X: make([]float32, len(files)*h*w*c)}
	for i, im := range imgs {
		x := s.X[i*h*w*c : (i+1)*h*w*c]
		for p := 0; p < h*w; p++ {
			r, g, b := im.rgb[3*p], im.rgb[3*p+1], im.rgb[3*p+2]
			if c == 1 {
				x[p] = float32(luma(r, g, b)) / 255
			} else {
				x[3*p], x[3*p+1], x[3*p+2] = float32(r)/255, float32(g)/255, float32(b)/255
			}
		}
	}
	if len(classes) > 0 {
		s.Y, s.ClassNames = labels, classes
	}
	return s, nil
}

// listImages returns the image files directly in dir and its non-hidden
// sub-folders, both sorted.
func listImages(dir string) (images, subdirs []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if e.IsDir() {
			subdirs = append(subdirs, name)
		} else if imageExts[strings.ToLower(filepath.Ext(name))] {
			images = append(images, name)
		}
	}
	sort.Strings(images)
	sort.Strings(subdirs)
	return images, subdirs, nil
}

func decodeImageFile(path string) (image.Image, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("decoding %s: image size %dx%d is empty or too large", path, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return img, nil
}

// isGray reports whether img can only hold gray values.
func isGray(img image.Image) bool {
	switch m := img.(type) {
	case *image.Gray, *image.Gray16:
		return true
	case *image.Paletted:
		for _, c := range m.Palette {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return false
			}
		}
		return true
	}
	return false
}

func rgbBytes(m *image.RGBA) []uint8 {
	b := m.Bounds()
	out := make([]uint8, 0, 3*b.Dx()*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
		for x := 0; x < b.Dx(); x++ {
			out = append(out, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
	return out
}

// luma is Go's color.GrayModel conversion (ITU-R 601 weights) on 8-bit values;
// it maps r = g = b = v to v exactly.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// ResizeImages returns a copy of the image set s with every image resized to
// size x size (Catmull-Rom) and re-quantized to 8 bits. Images must have 1
// or 3 channels.
func ResizeImages(s *Set, size int) (*Set, error) {
	if !s.IsImage() {
		return nil, fmt.Errorf("resizing %q: shape %v is not an image shape [H, W, C]", s.Name, s.Shape)
	}
	h, w, c := s.Shape[0], s.Shape[1], s.Shape[2]
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("resizing %q: %d channels (want 1 or 3)", s.Name, c)
	}
	if size <= 0 {
		return nil, fmt.Errorf("resizing %q: size %d must be positive", s.Name, size)
	}
	out := &Set{Name: s.Name, Shape: []int{size, size, c}, Y: s.Y, ClassNames: s.ClassNames}
	n := s.Len()
	out.X = make([]float32, n*size*size*c)
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < n; i++ {
		x := s.Example(i)
		for p := 0; p < h*w; p++ {
			pix := src.Pix[4*p : 4*p+4]
			if c == 1 {
				v := to8(x[p])
				pix[0], pix[1], pix[2] = v, v, v
			} else {
				pix[0], pix[1], pix[2] = to8(x[3*p]), to8(x[3*p+1]), to8(x[3*p+2])
			}
			pix[3] = 255
		}
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		y := out.X[i*size*size*c : (i+1)*size*size*c]
		for p := 0; p < size*size; p++ {
			pix := dst.Pix[4*p : 4*p+4]
			if c == 1 {
				y[p] = float32(pix[0]) / 255
			} else {
				y[3*p], y[3*p+1], y[3*p+2] = float32(pix[0])/255, float32(pix[1])/255, float32(pix[2])/255
			}
		}
	}
	return out, nil
}

// ToGrayscale returns s with one channel: an RGB image set is converted with
// luma weights; a set that already has one channel is returned as is.
func ToGrayscale(s *Set) (*Set, error) {
	if !s.IsImage() {
		return nil, fmt.Errorf("grayscale %q: shape %v is not an image shape [H, W, C]", s.Name, s.Shape)
	}
	h, w, c := s.Shape[0], s.Shape[1], s.Shape[2]
	switch c {
	case 1:
		return s, nil
	case 3:
	default:
		return nil, fmt.Errorf("grayscale %q: %d channels (want 1 or 3)", s.Name, c)
	}
	out := &Set{Name: s.Name, Shape: []int{h, w, 1}, Y: s.Y, ClassNames: s.ClassNames, X: make([]float32, s.Len()*h*w)}
	for p := range out.X {
		out.X[p] = float32(luma(to8(s.X[3*p]), to8(s.X[3*p+1]), to8(s.X[3*p+2]))) / 255
	}
	return out, nil
}

// to8 quantizes a value in [0, 1] to an 8-bit level.
func to8(v float32) uint8 {
	return uint8(math.Round(float64(clamp01(v)) * 255))
}

// ImageFromExample converts one image example (values in [0, 1], shape
// [H, W, C] with C = 1 or 3) to an image.Image, for writing PNGs.
func ImageFromExample(x []float32, shape []int) (image.Image, error) {
	if len(shape) != 3 || shapeProd(shape) != len(x) || (shape[2] != 1 && shape[2] != 3) {
		return nil, fmt.Errorf("image from example: shape %v does not fit %d values with 1 or 3 channels", shape, len(x))
	}
	h, w, c := shape[0], shape[1], shape[2]
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for p := range g.Pix {
			g.Pix[p] = to8(x[p])
		}
		return g, nil
	}
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for p := 0; p < h*w; p++ {
		m.Pix[4*p], m.Pix[4*p+1], m.Pix[4*p+2], m.Pix[4*p+3] = to8(x[3*p]), to8(x[3*p+1]), to8(x[3*p+2]), 255
	}
	return m, nil
}
