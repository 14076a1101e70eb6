package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"genmod/internal/fsutil"
)

// IDX is an array read from an IDX file, the format of MNIST and
// Fashion-MNIST: a magic number 00 00 <type> <ndims>, ndims big-endian
// uint32 dimensions, then the data in C order. Only the unsigned-byte type
// (0x08), the one those data sets use, is supported.
type IDX struct {
	Dims []int
	Data []uint8
}

const (
	idxUbyte   = 0x08
	idxMaxDims = 16
	// idxMaxBytes bounds the size a header may claim (256 GiB); the data is
	// read as it arrives anyway, this only keeps the arithmetic safe.
	idxMaxBytes = 1 << 38
)

var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
	0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX reads an IDX file, raw or gzipped (detected by its magic bytes).
// It checks the header and that the file holds exactly the data the header
// promises; a header claiming more data than the file holds is an error
// raised before the data is allocated.
func ReadIDX(path string) (*IDX, error) {
	r, size, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return nil, fmt.Errorf("reading IDX file: %w", err)
	}
	defer closeFn()
	return decodeIDX(r, size, path)
}

// DecodeIDX reads IDX data, raw or gzipped, from r; name is used in errors.
func DecodeIDX(r io.Reader, name string) (*IDX, error) {
	rr, _, err := maybeGunzip(r)
	if err != nil {
		return nil, fmt.Errorf("IDX %s: %w", name, err)
	}
	return decodeIDX(rr, -1, name)
}

func decodeIDX(r io.Reader, size int64, name string) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("IDX %s: cannot read the 4-byte magic number: %w", name, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("IDX %s: bad magic number % x (want 00 00 <type> <ndims>); not an IDX file", name, magic)
	}
	if magic[2] != idxUbyte {
		tn, ok := idxTypeNames[magic[2]]
		if !ok {
			return nil, fmt.Errorf("IDX %s: unknown element type 0x%02x", name, magic[2])
		}
		return nil, fmt.Errorf("IDX %s: element type 0x%02x (%s) is not supported; only 0x08 (unsigned byte) is", name, magic[2], tn)
	}
	nd := int(magic[3])
	if nd < 1 || nd > idxMaxDims {
		return nil, fmt.Errorf("IDX %s: %d dimensions (want 1 to %d)", name, nd, idxMaxDims)
	}
	hdr := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("IDX %s: cannot read the %d dimensions: %w", name, nd, err)
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(hdr[4*i:]))
		if d == 0 {
			return nil, fmt.Errorf("IDX %s: dimension %d is 0", name, i)
		}
		if d > idxMaxBytes/total {
			return nil, fmt.Errorf("IDX %s: dimensions %s claim more than %d bytes", name, dimsString(hdr, nd), int64(idxMaxBytes))
		}
		total *= d
		dims[i] = int(d)
	}
	known := int64(-1)
	if size >= 0 {
		known = size - 4 - int64(4*nd)
	}
	payload, err := readPayload(r, total, known, "IDX "+name)
	if err != nil {
		return nil, err
	}
	return &IDX{Dims: dims, Data: payload}, nil
}

func dimsString(hdr []byte, nd int) string {
	parts := make([]string, nd)
	for i := range parts {
		parts[i] = strconv.FormatUint(uint64(binary.BigEndian.Uint32(hdr[4*i:])), 10)
	}
	return strings.Join(parts, "x")
}

// EncodeIDX writes an unsigned-byte IDX array, uncompressed, to w.
func EncodeIDX(w io.Writer, dims []int, data []uint8) error {
	if len(dims) < 1 || len(dims) > idxMaxDims {
		return fmt.Errorf("IDX: %d dimensions (want 1 to %d)", len(dims), idxMaxDims)
	}
	total := 1
	hdr := make([]byte, 4+4*len(dims))
	hdr[2], hdr[3] = idxUbyte, byte(len(dims))
	for i, d := range dims {
		if d < 1 || int64(d) > 1<<32-1 {
			return fmt.Errorf("IDX: dimension %d is %d (want 1 to 2^32-1)", i, d)
		}
		total *= d
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if total != len(data) {
		return fmt.Errorf("IDX: dimensions %v hold %d values but %d were given", dims, total, len(data))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// WriteIDX writes an unsigned-byte IDX file atomically, gzip-compressed when
// path ends in ".gz". The gzip stream carries no name or time, so the same
// data always gives the same bytes.
func WriteIDX(path string, dims []int, data []uint8) error {
	var buf bytes.Buffer
	if err := EncodeIDX(&buf, dims, data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error {
		if !strings.HasSuffix(path, ".gz") {
			_, err := w.Write(buf.Bytes())
			return err
		}
		zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := zw.Write(buf.Bytes()); err != nil {
			return err
		}
		return zw.Close()
	})
}

// IDXSet builds a Set from an images array ([N, H, W] -> Shape [H, W, 1],
// [N, H, W, C] -> [H, W, C], [N, D] -> [D]) scaled to [0, 1], and an
// optional labels array ([N], nil for none). classNames gives the class
// names; when nil and labels are given, the classes are named "0".."K-1"
// with K = max label + 1. name is used for Set.Name and in errors.
func IDXSet(name string, images, labels *IDX, classNames []string) (*Set, error) {
	var shape []int
	switch len(images.Dims) {
	case 2:
		shape = []int{images.Dims[1]}
	case 3:
		shape = []int{images.Dims[1], images.Dims[2], 1}
	case 4:
		shape = []int{images.Dims[1], images.Dims[2], images.Dims[3]}
	default:
		return nil, fmt.Errorf("%s: images have dimensions %v; want [N, D], [N, H, W] or [N, H, W, C]", name, images.Dims)
	}
	n := images.Dims[0]
	s := &Set{Name: name, Shape: shape, X: make([]float32, len(images.Data))}
	for i, p := range images.Data {
		s.X[i] = float32(p) / 255
	}
	if labels == nil {
		return s, nil
	}
	if len(labels.Dims) != 1 || labels.Dims[0] != n {
		return nil, fmt.Errorf("%s: labels have dimensions %v but there are %d images", name, labels.Dims, n)
	}
	maxLabel := 0
	s.Y = make([]int32, n)
	for i, l := range labels.Data {
		s.Y[i] = int32(l)
		maxLabel = max(maxLabel, int(l))
	}
	if classNames == nil {
		for k := 0; k <= maxLabel; k++ {
			classNames = append(classNames, strconv.Itoa(k))
		}
	}
	if maxLabel >= len(classNames) {
		return nil, fmt.Errorf("%s: label %d found but there are only %d classes", name, maxLabel, len(classNames))
	}
	s.ClassNames = classNames
	return s, nil
}

// LoadIDX reads an images IDX file and, unless labelsPath is empty, its
// labels IDX file, and returns them as a Set (see IDXSet).
func LoadIDX(name, imagesPath, labelsPath string, classNames []string) (*Set, error) {
	images, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	var labels *IDX
	if labelsPath != "" {
		if labels, err = ReadIDX(labelsPath); err != nil {
			return nil, err
		}
	}
	s, err := IDXSet(name, images, labels, classNames)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", imagesPath, labelsPath, err)
	}
	return s, nil
}
